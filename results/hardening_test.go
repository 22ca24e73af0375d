package results_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// hostile builds a signed-webhook body by hand (json.Marshal would repair
// invalid UTF-8): final, overall, and the raw text of the data object.
func hostile(scanRef string, final bool, overall, data string) []byte {
	return []byte(fmt.Sprintf(`{"final":%v,"scanRef":%q,"clientId":"client-%s","platform":"OTHER",`+
		`"status":{"overall":%s,"autoDocument":"DOC_VALIDATED","autoFace":"FACE_MATCH","manualDocument":"DOC_VALIDATED",`+
		`"manualFace":"FACE_MATCH","fraudTags":[],"mismatchTags":[],"suspicionReasons":[]},"data":%s}`,
		final, scanRef, scanRef, overall, data))
}

// badUTF8 is a data object whose docFirstName holds invalid UTF-8, as a
// result that reached us with a broken encoding would.
const badUTF8 = "{\"docFirstName\":\"Bad\xff\xfe\",\"docLastName\":\"DOE\",\"docDob\":\"1990-05-17\",\"orgAddress\":{\"line\":\"\xc3\"}}"

// nestedURLs is a data object with pre-signed URLs below the top level.
const nestedURLs = `{"docFirstName":"JOHN","fileUrls":{"FRONT":"https://s3.eu-west-1.amazonaws.com/b/FRONT.png?X-Amz-Signature=f00d&X-Amz-Credential=AKIA"},` +
	`"additionalData":{"UTILITY_BILL":{"file":"https://b.s3.amazonaws.com/u.pdf?AWSAccessKeyId=AKIA&Signature=abc&Expires=1"}}}`

func send(t *testing.T, h http.Handler, body []byte) string {
	t.Helper()
	rr := post(t, h, body, idenfy.Sign([]byte(key), body))
	if rr.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rr.Code, rr.Body)
	}
	return rr.Body.String()
}

// storedClean fails t unless every string of the stored result is valid
// UTF-8 and its raw JSON is valid, valid UTF-8 and free of pre-signed URLs.
func storedClean(t *testing.T, r *pipeline.Result) {
	t.Helper()
	if r == nil {
		t.Fatal("no result stored")
	}
	for _, s := range []string{r.ScanRef, r.Overall, r.DocFirstName, r.DocLastName, r.AutoDocument, r.ManualFace} {
		if !utf8.ValidString(s) {
			t.Errorf("stored string %q is not valid UTF-8", s)
		}
	}
	if !utf8.Valid(r.Raw) || !json.Valid(r.Raw) {
		t.Errorf("stored raw is not valid UTF-8 JSON: %q", r.Raw)
	}
	for _, bad := range []string{"fileUrls", "Signature", "AWSAccessKeyId", "X-Amz-Credential"} {
		if strings.Contains(string(r.Raw), bad) {
			t.Errorf("stored raw holds %q: %s", bad, r.Raw)
		}
	}
}

// Finding 1 of issue 12: one bad byte in a signed result must not be
// stored; it is replaced by U+FFFD in the columns and in the raw JSON alike.
func TestWebhookInvalidUTF8IsStoredValid(t *testing.T) {
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	send(t, h, hostile("scan-1", true, `"APPROVED"`, badUTF8))
	got, _ := st.Get(context.Background(), rec.ID)
	if got.State != pipeline.StateFinal || got.Outcome != pipeline.OutcomeApproved {
		t.Fatalf("state %s outcome %s", got.State, got.Outcome)
	}
	storedClean(t, got.Result)
	if got.Result.DocFirstName != "Bad\uFFFD\uFFFD" {
		t.Errorf("doc first name %q", got.Result.DocFirstName)
	}
	var raw struct {
		Data struct {
			DocFirstName string `json:"docFirstName"`
			OrgAddress   struct{ Line string }
		} `json:"data"`
	}
	if err := json.Unmarshal(got.Result.Raw, &raw); err != nil || raw.Data.DocFirstName != got.Result.DocFirstName || raw.Data.OrgAddress.Line != "\uFFFD" {
		t.Errorf("raw says %q / %q, column %q (%v)", raw.Data.DocFirstName, raw.Data.OrgAddress.Line, got.Result.DocFirstName, err)
	}
}

// Finding 2 of issue 12: a final webhook whose overall status is not a
// verdict (or an expiry) does not end the record with an outcome outside the
// enum: it is kept as an automatic result, and the real final result still
// applies later.
func TestWebhookFinalWithoutVerdictKeepsWaiting(t *testing.T) {
	for _, overall := range []string{`""`, `null`, `"ACTIVE"`, `"REVIEWING"`, `"ARCHIVED"`, `"approved"`,
		`"=HYPERLINK(\"https://evil.example\",\"x\")"`, `"\u0000"`, `"A_NEW_STATUS"`, `{"nested":1}`} {
		t.Run(overall, func(t *testing.T) {
			st, rec := newSubmitted(t)
			h := &results.Handler{Store: st, SigningKey: []byte(key)}
			if got := send(t, h, hostile("scan-1", true, overall, `{"docFirstName":"JOHN"}`)); !strings.Contains(got, "applied") {
				t.Errorf("answer %s", got)
			}
			got, _ := st.Get(context.Background(), rec.ID)
			if got.State != pipeline.StateSubmitted || got.Outcome != "" || got.Result == nil || got.Result.Final {
				t.Fatalf("state %s outcome %q result %+v; want submitted, no outcome, an automatic result", got.State, got.Outcome, got.Result)
			}
			storedClean(t, got.Result)
			if !strings.Contains(string(got.Result.Raw), `"final":true`) {
				t.Errorf("raw lost what iDenfy sent: %s", got.Result.Raw)
			}
			send(t, h, hostile("scan-1", true, `"DENIED"`, `{"docFirstName":"JOHN"}`))
			got, _ = st.Get(context.Background(), rec.ID)
			if got.State != pipeline.StateFinal || got.Outcome != pipeline.OutcomeDenied {
				t.Errorf("after the real result: state %s outcome %s", got.State, got.Outcome)
			}
		})
	}
	// Expiries are final whatever the flag says.
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	send(t, h, hostile("scan-1", false, `"EXPIRED-DELETED"`, `null`))
	if got, _ := st.Get(context.Background(), rec.ID); got.State != pipeline.StateFinal || got.Outcome != pipeline.OutcomeExpired {
		t.Errorf("expired: state %s outcome %s", got.State, got.Outcome)
	}
}

// Finding 3 of issue 12: pre-signed URLs below the top level are not stored.
func TestWebhookNestedPreSignedURLsAreNotStored(t *testing.T) {
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	body := hostile("scan-1", true, `"APPROVED"`, nestedURLs)
	body = append(body[:len(body)-1], []byte(`,"AML":[{"data":[{"url":"https://s3/x?x-amz-signature=1"}]}],"FileURLs":{"FACE":"https://s3/f"}}`)...)
	send(t, h, body)
	got, _ := st.Get(context.Background(), rec.ID)
	storedClean(t, got.Result)
	if got.Result.DocFirstName != "JOHN" || !strings.Contains(string(got.Result.Raw), `"additionalData":{"UTILITY_BILL":{"file":null}}`) {
		t.Errorf("result %+v raw %s", got.Result, got.Result.Raw)
	}
}

// The poll path stores /status and /data the same way (findings 1 and 3).
func TestPollInvalidUTF8AndURLsAreNotStored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case idenfy.PathStatus:
			io.WriteString(w, "{\"status\":\"APPROVED\",\"scanRef\":\"scan-1\",\"manualDocument\":\"DOC_VALIDATED\",\"manualFace\":\"FACE_MATCH\",\"fraudTags\":[\"T\xff\"],\"mismatchTags\":[]}")
		case idenfy.PathData:
			io.WriteString(w, "{\"scanRef\":\"scan-1\",\"docLastName\":\"Bad\xff\xfe\","+nestedURLs[1:])
		}
	}))
	defer srv.Close()
	client := idenfy.New(idenfy.Config{BaseURL: srv.URL, APIKey: "k", APISecret: "s", MaxRetries: -1})
	now := time.Now()
	st, ids := submittedStore(t, map[string]time.Time{"scan-1": now.Add(-2 * time.Hour)})
	p := &results.Poller{Store: st, API: client, Job: "j", RunID: "r", PollAfter: time.Minute, MaxPerHour: 1e6, ExpectManual: true}
	if _, err := p.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Get(context.Background(), ids["scan-1"])
	if got.State != pipeline.StateFinal || got.Outcome != pipeline.OutcomeApproved {
		t.Fatalf("state %s outcome %s", got.State, got.Outcome)
	}
	storedClean(t, got.Result)
	if got.Result.DocLastName != "Bad\uFFFD\uFFFD" || len(got.Result.FraudTags) != 1 || got.Result.FraudTags[0] != "T\uFFFD" {
		t.Errorf("result %+v", got.Result)
	}
}

// What an analyst sees: hostile results, received by webhook and exported,
// are read by DuckDB, column by column and through the JSON of raw_result.
func TestHostileResultsReadableInDuckDB(t *testing.T) {
	exporttest.Available(t)
	now := time.Now()
	st, _ := submittedStore(t, map[string]time.Time{"scan-utf8": now, "scan-urls": now, "scan-active": now})
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	send(t, h, hostile("scan-utf8", true, `"SUSPECTED"`, badUTF8))
	send(t, h, hostile("scan-urls", true, `"APPROVED"`, nestedURLs))
	send(t, h, hostile("scan-active", true, `"ACTIVE"`, badUTF8))

	root := t.TempDir()
	dest, err := export.OpenDestination(t.Context(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&export.Exporter{Dest: dest, Job: "j", RunID: "r1", Worker: "w0"}).Export(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 2 {
		t.Errorf("exported %d rows, want 2 (the ACTIVE result is not final)", rep.Rows)
	}
	rows := exporttest.Query(t, `SELECT scan_ref, outcome, doc_first_name, raw_result->>'$.data.docFirstName' AS raw_name,
		json_valid(raw_result) AS valid, raw_result LIKE '%Signature%' OR raw_result ILIKE '%fileurls%' OR raw_result ILIKE '%amz%' AS leaks
		FROM read_parquet(`+exporttest.Quote(root+"/job=*/dt=*/*.parquet")+`) ORDER BY scan_ref`)
	want := []map[string]any{
		{"scan_ref": "scan-urls", "outcome": "APPROVED", "doc_first_name": "JOHN", "raw_name": "JOHN", "valid": true, "leaks": false},
		{"scan_ref": "scan-utf8", "outcome": "SUSPECTED", "doc_first_name": "Bad\uFFFD\uFFFD", "raw_name": "Bad\uFFFD\uFFFD", "valid": true, "leaks": false},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("DuckDB:\n got %v\nwant %v", rows, want)
	}
}
