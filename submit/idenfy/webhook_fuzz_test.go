package idenfy_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idbatch/idbatch/submit/idenfy"
)

// oddWebhook is the body of TestParseWebhookNullsAndOddTypes.
const oddWebhook = `{"final": true, "platform": null, "scanRef": "s", "externalRef": null, "clientId": "c",
  "startTime": "1554726960", "finishTime": null, "unknownTopLevel": {"a": [1, 2]},
  "status": {"overall": "A_NEW_STATUS", "fraudTags": null, "mismatchTags": "NAME", "suspicionReasons": null,
             "autoFace": "FACE_MATCH", "autoDocument": "DOC_VALIDATED", "manualFace": null, "manualDocument": null},
  "data": {"docFirstName": null, "docPersonalCode": 39001010000, "manuallyDataChanged": null, "docSex": "UNDEFINED",
           "duplicateFaces": [null, "x"], "additionalData": null},
  "fileUrls": null, "additionalStepPdfUrls": null,
  "aml": [{"status": {"overallStatus": "NOT_SUSPECTED"}, "data": null, "serviceName": "PilotApiAmlV2"}],
  "LID": null}`

// presigned mirrors the markers SanitizeRaw documents.
func presigned(s string) bool {
	l := strings.ToLower(s)
	for _, m := range []string{"signature=", "x-amz-signature", "x-amz-credential", "awsaccesskeyid"} {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// leak returns the path of a stripped key or a pre-signed string in v, or "".
func leak(v any, path string) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.EqualFold(k, "fileUrls") || strings.EqualFold(k, "additionalStepPdfUrls") {
				return path + "." + k
			}
			if p := leak(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for _, e := range x {
			if p := leak(e, path+"[]"); p != "" {
				return p
			}
		}
	case string:
		if presigned(x) {
			return path
		}
	}
	return ""
}

// FuzzParseWebhook fuzzes the webhook decoder and SanitizeRaw, what the
// handler stores: no panic; decoded strings are valid UTF-8; the sanitized
// body is valid UTF-8 JSON without pre-signed URLs, stable under a second
// pass, and decodes to the same scanRef, final flag and overall status.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{
		fullWebhook, oddWebhook,
		`{"scanRef":"s","data":{"fileUrls":"kept"},"FileUrls":{"FRONT":"x"}}`,
		"{\"scanRef\":\"s\",\"final\":true,\"status\":{\"overall\":\"APPROVED\"},\"data\":{\"docFirstName\":\"Bad\xff\xfe\"}}",
		`{"scanRef":"s","list":["https://s3/a?Signature=s1","plain"],"file\u0055rls":{},"k":"\ud800"}`,
		`{"scanRef":"s","final":"true","status":"APPROVED","AML":{"x":1},"LID":[1,"a",{"data":"b"}]}`,
		`[]`, `{"final": true}`, `{"scanRef": null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := idenfy.ParseWebhook(body)
		if err == nil {
			if w.ScanRef == "" {
				t.Fatal("parsed without a scanRef")
			}
			if err := idenfy.CheckValidUTF8(w); err != nil {
				t.Fatal(err)
			}
		}
		out, serr := idenfy.SanitizeRaw(body)
		if (serr == nil) != json.Valid(body) {
			t.Fatalf("SanitizeRaw error %v on valid=%v JSON", serr, json.Valid(body))
		}
		if serr != nil {
			return
		}
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("sanitized body is not valid UTF-8 JSON: %q", out)
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		if p := leak(v, "$"); p != "" {
			t.Fatalf("pre-signed URL left at %s: %s", p, out)
		}
		if again, err := idenfy.SanitizeRaw(out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second pass changed the body:\n%s\n%s (%v)", out, again, err)
		}
		if err != nil || presigned(w.ScanRef) || presigned(w.Status.Overall) {
			return
		}
		w2, err := idenfy.ParseWebhook(out)
		if err != nil || w2.ScanRef != w.ScanRef || w2.Final != w.Final || w2.Status.Overall != w.Status.Overall {
			t.Fatalf("sanitized body decodes differently: %q %v %q vs %q %v %q (%v)",
				w2.ScanRef, w2.Final, w2.Status.Overall, w.ScanRef, w.Final, w.Status.Overall, err)
		}
	})
}
