package idenfy_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idbatch/idbatch/submit/idenfy"
)

func TestSignKnownVector(t *testing.T) {
	// RFC 4231, test case 2.
	got := idenfy.Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	key := []byte("signing-key")
	body := []byte(`{"scanRef":"s","final":true}`)
	sig := idenfy.Sign(key, body)
	for _, tc := range []struct {
		name   string
		key    []byte
		body   []byte
		header string
		want   bool
	}{
		{"valid", key, body, sig, true},
		{"valid upper-case hex with spaces", key, body, "  " + strings.ToUpper(sig) + " ", true},
		{"forged body", key, []byte(`{"scanRef":"s","final":false}`), sig, false},
		{"other key", []byte("other"), body, sig, false},
		{"forged signature", key, body, strings.Repeat("ab", 32), false},
		{"bad hex", key, body, "zz" + sig[2:], false},
		{"truncated", key, body, sig[:32], false},
		{"empty header", key, body, "", false},
		{"empty key", nil, body, idenfy.Sign(nil, body), false},
	} {
		if got := idenfy.VerifySignature(tc.key, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fullWebhook is the §5.3 example with AML and LID elements filled in.
const fullWebhook = `{
  "clientId": "123", "scanRef": "scan-ref", "externalRef": "external-ref",
  "platform": "MOBILE_APP", "startTime": 1554726960, "finishTime": 1554727002,
  "clientIp": "192.0.2.0", "clientIpCountry": "LT", "clientLocation": "Kaunas, Lithuania",
  "final": false,
  "status": {"overall": "SUSPECTED", "suspicionReasons": [], "mismatchTags": ["NAME"], "fraudTags": ["DUPLICATE_FACE"],
             "autoDocument": "DOC_VALIDATED", "autoFace": "FACE_MATCH",
             "manualDocument": "DOC_VALIDATED", "manualFace": "FACE_MATCH", "additionalSteps": null},
  "data": {"docFirstName": "FIRST-NAME-EXAMPLE", "docLastName": "LAST-NAME-EXAMPLE",
           "docNumber": "XXXXXXXXX", "docPersonalCode": "XXXXXXXXX", "docExpiry": "2030-01-01",
           "docDob": "1990-05-06", "docDateOfIssue": "2018-03-02", "docType": "ID_CARD",
           "docSex": "UNDEFINED", "docNationality": "LT", "docIssuingCountry": "LT",
           "fullName": "FULL-NAME-EXAMPLE", "selectedCountry": "LT", "manuallyDataChanged": false,
           "ageEstimate": "OVER_25", "clientIpProxyRiskLevel": "LOW",
           "duplicateDocFaces": null, "duplicateFaces": ["other-scan-ref"], "additionalData": {}},
  "fileUrls": {"FRONT": "https://s3.eu-west-1.amazonaws.com/x/FRONT.png?AWSAccessKeyId=AKIA&Signature=abc&Expires=1",
               "BACK": "https://s3.eu-west-1.amazonaws.com/x/BACK.png?Signature=def", "FACE": null},
  "additionalStepPdfUrls": {},
  "AML": [{"status": {"serviceSuspected": true, "checkSuccessful": true, "serviceFound": true,
                      "serviceUsed": true, "overallStatus": "SUSPECTED"},
           "data": [{"name": "JOHN", "surname": "DOE", "nationality": "LT", "dob": "1990",
                     "suspicion": "PEPS", "reason": "Member of parliament", "score": 87,
                     "lastUpdate": "2023-01-01", "isPerson": true, "isActive": true, "checkDate": "2023-02-01"}],
           "serviceName": "PilotApiAmlV2", "serviceGroupType": "AML", "uid": "OHT8GR5ESRF5XROWE5ZGCC123", "errorMessage": null}],
  "LID": [{"status": {"serviceSuspected": false, "checkSuccessful": true, "serviceFound": true,
                      "serviceUsed": true, "overallStatus": "NOT_SUSPECTED"},
           "data": [{"documentNumber": "X1", "documentType": "ID_CARD", "valid": true, "expiryDate": "2030-01-01", "checkDate": "2023-02-01"}],
           "serviceName": "IrdInvalidPapers", "serviceGroupType": "LID", "uid": "U2", "errorMessage": null}]
}`

func TestParseWebhookFull(t *testing.T) {
	w, err := idenfy.ParseWebhook([]byte(fullWebhook))
	if err != nil {
		t.Fatal(err)
	}
	if w.ScanRef != "scan-ref" || w.ClientID != "123" || w.ExternalRef != "external-ref" || w.Final || w.Platform != "MOBILE_APP" {
		t.Errorf("top level %+v", w)
	}
	if w.StartTime != 1554726960 || w.FinishTime != 1554727002 || w.ClientIPCountry != "LT" {
		t.Errorf("times/ip %d %d %q", w.StartTime, w.FinishTime, w.ClientIPCountry)
	}
	s := w.Status
	if s.Overall != "SUSPECTED" || s.AutoDocument != "DOC_VALIDATED" || s.ManualFace != "FACE_MATCH" ||
		len(s.MismatchTags) != 1 || s.MismatchTags[0] != "NAME" || len(s.FraudTags) != 1 || s.AdditionalSteps != "" {
		t.Errorf("status %+v", s)
	}
	d := w.Data
	if d.DocFirstName != "FIRST-NAME-EXAMPLE" || d.DocDOB != "1990-05-06" || d.DocType != "ID_CARD" ||
		d.ClientIPProxyRiskLevel != "LOW" || d.AgeEstimate != "OVER_25" || len(d.DuplicateFaces) != 1 || d.DuplicateDocFaces != nil {
		t.Errorf("data %+v", d)
	}
	if len(w.FileURLs) != 2 || !strings.Contains(w.FileURLs["FRONT"], "Signature=abc") {
		t.Errorf("fileUrls %v", w.FileURLs)
	}
	if len(w.AML) != 1 || !w.AML[0].Status.ServiceSuspected || w.AML[0].Status.OverallStatus != "SUSPECTED" ||
		len(w.AML[0].Data) != 1 || w.AML[0].Data[0].Suspicion != "PEPS" || w.AML[0].Data[0].Score != 87 || w.AML[0].ErrorMessage != "" {
		t.Errorf("AML %+v", w.AML)
	}
	if len(w.LID) != 1 || w.LID[0].ServiceGroupType != "LID" || !w.LID[0].Data[0].Valid || w.LID[0].Data[0].DocumentNumber != "X1" {
		t.Errorf("LID %+v", w.LID)
	}
	if !bytes.Equal(w.Raw, []byte(fullWebhook)) {
		t.Error("Raw must be the body as received")
	}
}

func TestParseWebhookNullsAndOddTypes(t *testing.T) {
	body := `{"final": true, "platform": null, "scanRef": "s", "externalRef": null, "clientId": "c",
	  "startTime": "1554726960", "finishTime": null, "unknownTopLevel": {"a": [1, 2]},
	  "status": {"overall": "A_NEW_STATUS", "fraudTags": null, "mismatchTags": "NAME", "suspicionReasons": null,
	             "autoFace": "FACE_MATCH", "autoDocument": "DOC_VALIDATED", "manualFace": null, "manualDocument": null},
	  "data": {"docFirstName": null, "docPersonalCode": 39001010000, "manuallyDataChanged": null, "docSex": "UNDEFINED",
	           "duplicateFaces": [null, "x"], "additionalData": null},
	  "fileUrls": null, "additionalStepPdfUrls": null,
	  "aml": [{"status": {"overallStatus": "NOT_SUSPECTED"}, "data": null, "serviceName": "PilotApiAmlV2"}],
	  "LID": null}`
	w, err := idenfy.ParseWebhook([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !w.Final || w.Platform != "" || w.ExternalRef != "" || w.StartTime != 1554726960 || w.FinishTime != 0 {
		t.Errorf("top level %+v", w)
	}
	if w.Status.Overall != "A_NEW_STATUS" || w.Status.FraudTags != nil || len(w.Status.MismatchTags) != 1 || w.Status.ManualFace != "" {
		t.Errorf("status %+v", w.Status)
	}
	if w.Data.DocFirstName != "" || w.Data.DocPersonalCode != "39001010000" || w.Data.ManuallyDataChanged ||
		len(w.Data.DuplicateFaces) != 1 || w.Data.DuplicateFaces[0] != "x" {
		t.Errorf("data %+v", w.Data)
	}
	if w.FileURLs != nil || w.LID != nil {
		t.Errorf("nulls: fileUrls %v LID %v", w.FileURLs, w.LID)
	}
	if len(w.AML) != 1 || w.AML[0].Status.OverallStatus != "NOT_SUSPECTED" {
		t.Errorf(`lower-case "aml" not decoded: %+v`, w.AML)
	}
}

func TestParseWebhookRejects(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `{"scanRef": "s"`, `{"final": true}`, `{"scanRef": null}`} {
		if _, err := idenfy.ParseWebhook([]byte(body)); err == nil {
			t.Errorf("ParseWebhook(%q) succeeded", body)
		}
	}
}

func TestStripFileURLs(t *testing.T) {
	out, err := idenfy.StripFileURLs([]byte(fullWebhook))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("Signature=")) || bytes.Contains(out, []byte("fileUrls")) || bytes.Contains(out, []byte("additionalStepPdfUrls")) {
		t.Errorf("pre-signed URLs left in %s", out)
	}
	var in, got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fullWebhook), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(got) != len(in)-2 {
		t.Errorf("kept %d keys, want %d", len(got), len(in)-2)
	}
	for k, v := range in {
		if k == "fileUrls" || k == "additionalStepPdfUrls" {
			continue
		}
		var want bytes.Buffer
		json.Compact(&want, v)
		if !bytes.Equal(got[k], want.Bytes()) {
			t.Errorf("key %s changed: %s → %s", k, want.Bytes(), got[k])
		}
	}
	// Order is kept: clientId came first, LID last.
	if !bytes.HasPrefix(out, []byte(`{"clientId":`)) || bytes.Index(out, []byte(`"AML"`)) > bytes.Index(out, []byte(`"LID"`)) {
		t.Errorf("key order changed: %.80s…", out)
	}
	// Still a valid webhook.
	if w, err := idenfy.ParseWebhook(out); err != nil || w.ScanRef != "scan-ref" || w.FileURLs != nil {
		t.Errorf("re-parse: %v %v", err, w.FileURLs)
	}
	for _, bad := range []string{`[]`, `{"a":1`, `{"a":1} {}`, ``} {
		if _, err := idenfy.StripFileURLs([]byte(bad)); err == nil {
			t.Errorf("StripFileURLs(%q) succeeded", bad)
		}
	}
}

// TestSanitizeRawNestedURLs: pre-signed URLs are removed wherever they are,
// not only from the top-level fileUrls (finding 3 of issue 12).
func TestSanitizeRawNestedURLs(t *testing.T) {
	body := `{"scanRef":"s",
	  "data":{"fileUrls":{"FRONT":"https://s3/x?X-Amz-Signature=abc"},"docFirstName":"JOHN",
	          "additionalData":{"UTILITY_BILL":{"FILEURLS":["https://s3/y"],"scan":"https://bucket.s3.amazonaws.com/u.pdf?AWSAccessKeyId=AK&Expires=1"}}},
	  "AML":[{"data":[{"url":"https://news.example/article?id=1","title":"ok"},{"url":"https://s3/z?x-amz-credential=AK%2F2025"}]}],
	  "list":["https://s3/a?Signature=s1", "plain"],
	  "file\u0055rls":{"FACE":"https://s3/b"},
	  "extra":{"additionalStepPdfUrls":{"POA":"https://s3/c"}}}`
	out, err := idenfy.SanitizeRaw([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"scanRef":"s","data":{"docFirstName":"JOHN","additionalData":{"UTILITY_BILL":{"scan":null}}},` +
		`"AML":[{"data":[{"url":"https://news.example/article?id=1","title":"ok"},{"url":null}]}],` +
		`"list":[null,"plain"],"extra":{}}`
	if string(out) != want {
		t.Errorf("sanitized:\n got %s\nwant %s", out, want)
	}
}

// TestSanitizeRawInvalidUTF8: one bad byte in a signed result must not make
// raw_result unreadable (finding 1 of issue 12): the output is valid UTF-8
// and valid JSON, and says what encoding/json decodes from the input.
func TestSanitizeRawInvalidUTF8(t *testing.T) {
	body := []byte("{\"scanRef\":\"s\",\"data\":{\"docFirstName\":\"Bad\xff\xfe\",\"k\\u00e9\xc3\":[\"\\ud800x\",\"\\ud83d\\ude00\"]},\"n\":1.50e2,\"html\":\"<a&b>\"}")
	out, err := idenfy.SanitizeRaw(body)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("not valid UTF-8 JSON: %q", out)
	}
	want := "{\"scanRef\":\"s\",\"data\":{\"docFirstName\":\"Bad\uFFFD\uFFFD\",\"k\u00e9\uFFFD\":[\"\uFFFDx\",\"\U0001F600\"]},\"n\":1.50e2,\"html\":\"<a&b>\"}"
	if string(out) != want {
		t.Errorf("sanitized:\n got %q\nwant %q", out, want)
	}
	w, err := idenfy.ParseWebhook(body)
	if err != nil || w.Data.DocFirstName != "Bad\uFFFD\uFFFD" {
		t.Errorf("decoded docFirstName %q, %v", w.Data.DocFirstName, err)
	}
}

func TestSanitizeRawKeepsCleanBodies(t *testing.T) {
	body := []byte(`{ "scanRef": "s", "n": 1.0, "data": {"docFirstName": "JOHN"} }`)
	out, err := idenfy.SanitizeRaw(body)
	if err != nil || !bytes.Equal(out, body) {
		t.Errorf("a clean body changed: %s, %v", out, err)
	}
	for _, v := range []string{`[1,"x"]`, `"s"`, `null`, `3`} {
		if out, err := idenfy.SanitizeRaw([]byte(v)); err != nil || string(out) != v {
			t.Errorf("SanitizeRaw(%s) = %s, %v", v, out, err)
		}
	}
	for _, bad := range []string{``, `{"a":1`, "{\"a\":1} {}", `{"a":01}`} {
		if _, err := idenfy.SanitizeRaw([]byte(bad)); err == nil {
			t.Errorf("SanitizeRaw(%q) succeeded", bad)
		}
	}
}

// BenchmarkSanitizeRawClean measures the export's cost per row for a raw
// result stored clean (the common case: returned as it is).
func BenchmarkSanitizeRawClean(b *testing.B) {
	body, err := idenfy.SanitizeRaw([]byte(fullWebhook))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := idenfy.SanitizeRaw(body); err != nil {
			b.Fatal(err)
		}
	}
}
