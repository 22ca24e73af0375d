package idenfy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
)

// Responses and webhooks are decoded tolerantly, so that one field of an
// unexpected type (a number where a string was documented, a single string
// where a list was, "true" in quotes) never loses a whole result:
//
//   - null (or a missing key) leaves the zero value;
//   - unknown keys are ignored; keys match exactly first, then case-insensitively
//     (so "aml" fills AML);
//   - a string field takes a string, or the literal text of a number, bool,
//     object or array;
//   - a []string takes an array (null elements dropped, other elements as
//     for strings) or a single string;
//   - bool, int and float fields take their JSON type or a string holding one;
//     anything else leaves the zero value;
//   - a field `Raw json.RawMessage` tagged `json:"-"` receives the raw bytes
//     of the object it belongs to.
//
// Only the top level must be a JSON object.

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// decodeLenient decodes the JSON object data into *dst (a pointer to struct).
func decodeLenient(data []byte, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("idenfy: decodeLenient needs a pointer to a struct")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	if !json.Valid(data) {
		return errors.New("invalid JSON")
	}
	setStruct(v.Elem(), data)
	return nil
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func setStruct(v reflect.Value, raw []byte) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return // not an object: leave zero
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			if f.Name == "Raw" && f.Type == rawMessageType {
				v.Field(i).SetBytes(append([]byte(nil), raw...))
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv, ok := obj[name]
		if !ok {
			for k, val := range obj {
				if strings.EqualFold(k, name) {
					fv, ok = val, true
					break
				}
			}
		}
		if !ok || isNull(fv) {
			continue
		}
		setValue(v.Field(i), fv)
	}
}

func setValue(v reflect.Value, raw json.RawMessage) {
	if isNull(raw) {
		return
	}
	if v.Type() == rawMessageType {
		v.SetBytes(append([]byte(nil), raw...))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := asString(raw); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := asBool(raw); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if f, ok := asFloat(raw); ok && !v.OverflowInt(int64(f)) {
			v.SetInt(int64(f))
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := asFloat(raw); ok {
			v.SetFloat(f)
		}
	case reflect.Struct:
		setStruct(v, raw)
	case reflect.Slice:
		setSlice(v, raw)
	case reflect.Map:
		setMap(v, raw)
	default:
		p := reflect.New(v.Type())
		if json.Unmarshal(raw, p.Interface()) == nil {
			v.Set(p.Elem())
		}
	}
}

func setSlice(v reflect.Value, raw json.RawMessage) {
	var elems []json.RawMessage
	if raw[0] == '[' {
		if json.Unmarshal(raw, &elems) != nil {
			return
		}
	} else if v.Type().Elem().Kind() == reflect.String {
		elems = []json.RawMessage{raw} // a single value where a list was documented
	} else {
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(elems))
	for _, e := range elems {
		if isNull(e) {
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		setValue(ev, e)
		s = reflect.Append(s, ev)
	}
	v.Set(s)
}

func setMap(v reflect.Value, raw json.RawMessage) {
	if v.Type().Key().Kind() != reflect.String {
		return
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(obj))
	for k, e := range obj {
		if isNull(e) {
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		setValue(ev, e)
		m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
	}
	v.Set(m)
}

func asString(raw json.RawMessage) (string, bool) {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		return "", false
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return "", false
	}
	return buf.String(), true
}

func asBool(raw json.RawMessage) (bool, bool) {
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, false
		}
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return b, err == nil
}

func asFloat(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
