package idenfy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
)

// checkValidUTF8 walks v (structs, pointers, slices, maps) and reports the
// first string, or map key, that is not valid UTF-8. Raw JSON fields
// ([]byte) are not strings and are skipped.
func checkValidUTF8(v any) error {
	return walkUTF8(reflect.ValueOf(v), "")
}

func walkUTF8(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return fmt.Errorf("%s = %q is not valid UTF-8", path, v.String())
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return walkUTF8(v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if err := walkUTF8(v.Field(i), path+"."+v.Type().Field(i).Name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := range v.Len() {
			if err := walkUTF8(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := walkUTF8(it.Key(), path+"{key}"); err != nil {
				return err
			}
			if err := walkUTF8(it.Value(), fmt.Sprintf("%s[%q]", path, it.Key())); err != nil {
				return err
			}
		}
	}
	return nil
}

// FuzzDecodeResponses fuzzes the lenient decoders of the answers of
// /status, /data and /token, and of the error body: they never panic, every
// decoded string is valid UTF-8, decoding is deterministic, and Raw is the
// body as received (trimmed).
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"fraudTags":[],"mismatchTags":[],"autoDocument":"DOC_VALIDATED","autoFace":"FACE_MATCH","manualDocument":"DOC_VALIDATED","manualFace":"FACE_MATCH","scanRef":"328c6766-934e-11ed-bb9b-025ad99a18e7","clientId":"W2GL2K333Y","status":"APPROVED"}`,
		`{"status":"ACTIVE","scanRef":"s","fraudTags":"ONE","mismatchTags":[null,"NAME",1]}`,
		`{"docFirstName":"JOHN","docLastName":null,"docPersonalCode":39001010000,"duplicateFaces":null,"manuallyDataChanged":"false","scanRef":"s","clientId":"c","newField":{"x":1}}`,
		"{\"docFirstName\":\"Bad\xff\xfe\",\"DOCDOB\":\"1990-05-06\",\"additionalData\":{\"UTILITY_BILL\":{\"ssn\":{\"value\":\"1\",\"status\":\"MATCH\"}}}}",
		`{"authToken":"tok","scanRef":"s","clientId":"c","expiryTime":"900","sessionLength":1e3,"digitString":123,"message":{"a":[1,2]}}`,
		`{"identifier":"PERMISSIONS_ERROR","message":"Partner reached token limit.","documentation":"","severity":"NOT_SEVERE"}`,
		`{"expiryTime":1e300,"sessionLength":-9.3e18,"status":true}`,
		`[]`, `null`, ``, `{"a":`,
	} {
		for kind := range uint8(4) {
			f.Add(kind, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		decode := func() (any, error) {
			switch kind % 4 {
			case 0:
				var v StatusResponse
				err := decodeInto(body, &v)
				return &v, err
			case 1:
				var v DataResponse
				err := decodeInto(body, &v)
				return &v, err
			case 2:
				var v TokenResponse
				err := decodeInto(body, &v)
				return &v, err
			default:
				var v ErrorBody
				err := decodeInto(body, &v)
				return &v, err
			}
		}
		v, err := decode()
		trimmed := bytes.TrimSpace(body)
		if wantOK := len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed); (err == nil) != wantOK {
			t.Fatalf("decode error %v, want success %v", err, wantOK)
		}
		if err != nil {
			return
		}
		if err := checkValidUTF8(v); err != nil {
			t.Fatal(err)
		}
		again, _ := decode()
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("decoding is not deterministic:\n%+v\n%+v", v, again)
		}
		raw := reflect.ValueOf(v).Elem().FieldByName("Raw")
		if raw.IsValid() && !bytes.Equal(raw.Bytes(), trimmed) {
			t.Fatalf("Raw = %q, want the body %q", raw.Bytes(), trimmed)
		}
	})
}
