package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

func readAll(t *testing.T, data string, format Format) []pipeline.Record {
	t.Helper()
	var recs []pipeline.Record
	err := ReadManifest(strings.NewReader(data), format, "job1", func(r pipeline.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	return recs
}

// want is the expected outcome of one manifest row.
type want struct {
	line   int
	key    string
	reason string // "" = pending
	msg    string // substring of ErrorMessage
}

func check(t *testing.T, recs []pipeline.Record, wants []want) {
	t.Helper()
	if len(recs) != len(wants) {
		for _, r := range recs {
			t.Logf("line %d key %q %s %s %s", r.Line, r.Key, r.State, r.RejectReason, r.ErrorMessage)
		}
		t.Fatalf("%d records, want %d", len(recs), len(wants))
	}
	for i, w := range wants {
		r := recs[i]
		if r.Line != w.line || r.Key != w.key || r.RejectReason != w.reason {
			t.Errorf("record %d: line %d key %q reason %q (%s), want line %d key %q reason %q",
				i, r.Line, r.Key, r.RejectReason, r.ErrorMessage, w.line, w.key, w.reason)
			continue
		}
		if r.Job != "job1" || r.Ref != pipeline.RefFor("job1", w.key) {
			t.Errorf("record %d: job %q ref %q", i, r.Job, r.Ref)
		}
		wantState := pipeline.StatePending
		if w.reason != "" {
			wantState = pipeline.StateRejected
		}
		if r.State != wantState {
			t.Errorf("record %d: state %s, want %s", i, r.State, wantState)
		}
		if w.reason != "" && !strings.HasPrefix(r.ErrorMessage, "line ") {
			t.Errorf("record %d: message %q does not start with the line", i, r.ErrorMessage)
		}
		if !strings.Contains(r.ErrorMessage, w.msg) {
			t.Errorf("record %d: message %q, want it to contain %q", i, r.ErrorMessage, w.msg)
		}
	}
}

const csvHeaderRow = "\ufeffClient_ID, First_Name ,last_name,date_of_birth,COUNTRY,document_type,front,back,face,utility_bill,Segment\n"

func TestReadManifestCSV(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 101)
	data := csvHeaderRow +
		// line 2-3: quoted fields with a comma, a quote and a newline; lower-case codes
		`c1,"Jane-Marie O'Doe",Smith,1990-01-31,lt,id_card,c1/front.jpg,c1/back.jpg,c1/face.jpg,,"gold, ""vip""` + "\n" + `tier"` + "\n" +
		"c2,,,,DE,passport,c2/front.jpg,,c2/face.jpg,c2/bill.pdf,\n" + // 4: passport needs no back
		",Jane,Doe,,LT,ID_CARD,f,b,x,,\n" + // 5: empty client id
		long + ",,,,LT,ID_CARD,f,b,x,,\n" + // 6: too long
		"c\tx,,,,LT,ID_CARD,f,b,x,,\n" + // 7: control char
		"cé,,,,LT,ID_CARD,f,b,x,,\n" + // 8: non-ASCII
		"c9,,,,XX,ID_CARD,f,b,x,,\n" + // 9: unassigned country
		"c10,,,,,ID_CARD,f,b,x,,\n" + // 10: empty country
		"c11,,,,LTU,ID_CARD,f,b,x,,\n" + // 11: alpha-3
		"c12,,,,LT,OTHER,f,b,x,,\n" + // 12: unknown document type
		"c13,,,,LT,,f,b,x,,\n" + // 13: empty document type
		"c14,,,1990-02-30,LT,PASSPORT,f,,x,,\n" + // 14: impossible date
		"c15,,,31/01/1990,LT,PASSPORT,f,,x,,\n" + // 15: wrong date format
		"c16,,,,LT,ID_CARD,f,,x,,\n" + // 16: ID card without back
		"c17,,,,LT,PASSPORT,f,,,,\n" + // 17: no face
		"c18,,,,LT,DRIVER_LICENSE,,b,x,,\n" + // 18: no front
		"c19,,,,LT,PASSPORT\n" + // 19: too few fields
		"c20,,,,LT,PASSPORT,f,,x,,,extra\n" + // 20: too many fields
		"c21,a \"bad\" quote,,,LT,PASSPORT,f,,x,,\n" + // 21: bare quote
		"\n" + // 22: blank, skipped
		"   \n" + // 23: spaces only, skipped
		"c24,,,,ee,residence_permit,f,b,x,,\r\n" + // 24: CRLF
		"  c25  ,,,,LT,PASSPORT, f ,,x,,\n" // 25: trimmed
	recs := readAll(t, data, FormatCSV)
	check(t, recs, []want{
		{line: 2, key: "c1"},
		{line: 4, key: "c2"},
		{line: 5, key: "#line:5", reason: pipeline.RejectBadClientID, msg: "line 5: client_id is empty"},
		{line: 6, key: "#line:6", reason: pipeline.RejectBadClientID, msg: "longer than 100"},
		{line: 7, key: "#line:7", reason: pipeline.RejectBadClientID, msg: "printable ASCII"},
		{line: 8, key: "#line:8", reason: pipeline.RejectBadClientID, msg: "printable ASCII"},
		{line: 9, key: "c9", reason: pipeline.RejectBadCountry, msg: `"XX"`},
		{line: 10, key: "c10", reason: pipeline.RejectBadCountry, msg: "country is empty"},
		{line: 11, key: "c11", reason: pipeline.RejectBadCountry},
		{line: 12, key: "c12", reason: pipeline.RejectBadDocumentType, msg: `"OTHER"`},
		{line: 13, key: "c13", reason: pipeline.RejectBadDocumentType, msg: "empty"},
		{line: 14, key: "c14", reason: pipeline.RejectBadManifestRow, msg: "date_of_birth"},
		{line: 15, key: "c15", reason: pipeline.RejectBadManifestRow, msg: "date_of_birth"},
		{line: 16, key: "c16", reason: pipeline.RejectMissingRequiredSide, msg: "back missing"},
		{line: 17, key: "c17", reason: pipeline.RejectMissingRequiredSide, msg: "face missing"},
		{line: 18, key: "c18", reason: pipeline.RejectMissingRequiredSide, msg: "front missing"},
		{line: 19, key: "#line:19", reason: pipeline.RejectBadManifestRow, msg: "line 19: 6 fields, header has 11"},
		{line: 20, key: "#line:20", reason: pipeline.RejectBadManifestRow, msg: "12 fields"},
		{line: 21, key: "#line:21", reason: pipeline.RejectBadManifestRow, msg: "malformed CSV"},
		{line: 24, key: "c24"},
		{line: 25, key: "c25"},
	})

	c1 := recs[0].Input
	wantIn := pipeline.Input{
		ClientID: "c1", FirstName: "Jane-Marie O'Doe", LastName: "Smith", DateOfBirth: "1990-01-31",
		Country: "LT", DocumentType: "ID_CARD",
		Sources: map[pipeline.Side]string{pipeline.SideFront: "c1/front.jpg", pipeline.SideBack: "c1/back.jpg", pipeline.SideFace: "c1/face.jpg"},
		Extra:   map[string]string{"Segment": "gold, \"vip\"\ntier"},
	}
	if c1.Hash() != wantIn.Hash() {
		t.Errorf("c1 input\n got %+v\nwant %+v", c1, wantIn)
	}
	if got := recs[1].Input; got.Sources[pipeline.SideUtilityBill] != "c2/bill.pdf" || got.DocumentType != "PASSPORT" ||
		len(got.Sources) != 3 || got.Extra["Segment"] != "" {
		t.Errorf("c2 input %+v", got)
	}
	if got := recs[19].Input; got.Country != "EE" || got.DocumentType != "RESIDENCE_PERMIT" {
		t.Errorf("c24 input %+v", got)
	}
	if got := recs[20].Input; got.ClientID != "c25" || got.Sources[pipeline.SideFront] != "f" {
		t.Errorf("c25 input %+v", got)
	}
	// Rejected rows keep what was parsed (exported with the reject).
	if got := recs[8].Input; got.Country != "LTU" || got.Sources[pipeline.SideFront] != "f" {
		t.Errorf("c11 input %+v", got)
	}
	// No personal value in any message.
	for _, r := range recs {
		for _, pii := range []string{"Jane", "Doe", "1990", "31/01", long} {
			if strings.Contains(r.ErrorMessage, pii) {
				t.Errorf("line %d: message %q holds personal data", r.Line, r.ErrorMessage)
			}
		}
	}
}

func TestReadManifestCSVHeader(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"empty":          "",
		"only BOM":       "\ufeff",
		"no client_id":   "id,front\n1,f\n",
		"duplicate":      "client_id,front,FRONT\n",
		"duplicate xtra": "client_id,x,x\n",
		"bad quote":      "client_id,\"front\n",
	} {
		err := ReadManifest(strings.NewReader(data), FormatCSV, "j", func(pipeline.Record) error { t.Fatal("called"); return nil })
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A header alone is an empty manifest, not an error.
	if recs := readAll(t, "client_id,front\n", FormatCSV); len(recs) != 0 {
		t.Errorf("%d records", len(recs))
	}
	// Empty header cells: kept only when the row has a value there.
	recs := readAll(t, "client_id,,country,document_type,front,face\nc1,,LT,PASSPORT,f,x\nc2,v,LT,PASSPORT,f,x\n", FormatCSV)
	if recs[0].Input.Extra != nil || recs[1].Input.Extra["column_2"] != "v" {
		t.Errorf("extra %v %v", recs[0].Input.Extra, recs[1].Input.Extra)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadManifestErrors(t *testing.T) {
	t.Parallel()
	ioErr := errors.New("connection reset")
	rows := "client_id,country,document_type,front,face\nc1,LT,PASSPORT,f,x\nc2,LT,PASSPORT,f,x\n"
	for _, format := range []Format{FormatCSV, FormatJSONL} {
		data := rows
		if format == FormatJSONL {
			data = `{"client_id":"c1"}` + "\n" + `{"client_id":"c2"}` + "\n"
		}
		// A read error ends ReadManifest with that error.
		n := 0
		err := ReadManifest(&failingReader{data: []byte(data), err: ioErr}, format, "j", func(pipeline.Record) error { n++; return nil })
		if !errors.Is(err, ioErr) {
			t.Errorf("%s: err %v, want the read error", format, err)
		}
		// fn's error is returned as it is, and stops the read.
		stop := errors.New("stop")
		n = 0
		err = ReadManifest(strings.NewReader(data), format, "j", func(pipeline.Record) error { n++; return stop })
		if err != stop || n != 1 {
			t.Errorf("%s: err %v after %d records, want stop after 1", format, err, n)
		}
	}
	// An unclosed quote on a line longer than MaxRowBytes: that line is a
	// bad row, the next one survives, nothing grows without bound.
	big := "client_id,front\nc1,\"" + strings.Repeat("a", MaxRowBytes+64<<10) + "\nc2,f\n"
	var recs []pipeline.Record
	err := ReadManifest(strings.NewReader(big), FormatCSV, "j", func(r pipeline.Record) error { recs = append(recs, r); return nil })
	if err != nil || len(recs) != 2 || recs[0].Line != 2 || !strings.Contains(recs[0].ErrorMessage, "longer than") ||
		recs[1].Key != "c2" || recs[1].Line != 3 {
		t.Errorf("unclosed quote on a long line: %v %+v", err, recs)
	}
	if err := ReadManifest(strings.NewReader(""), "xml", "j", nil); err == nil {
		t.Error("unknown format: no error")
	}
}

func TestReadManifestJSONL(t *testing.T) {
	t.Parallel()
	data := "\ufeff" +
		`{"client_id":"c1","first_name":"Jane","date_of_birth":"1990-01-31","country":"lt","document_type":"id_card","front":"f","back":"b","face":"x","segment":"gold","score":7,"tags":["a","b"],"vip":true}` + "\n" + // 1
		"\n" + // 2 blank
		`{"Client_ID": 12345, "Country":"LT","DOCUMENT_TYPE":"PASSPORT","front":"f","face":"x","back":null}` + "\r\n" + // 3 number id, null
		`{"client_id":"c4",` + "\n" + // 4 invalid JSON
		`["c5"]` + "\n" + // 5 not an object
		`{"client_id":"c6"} trailing` + "\n" + // 6 trailing data
		`{"client_id":true}` + "\n" + // 7 boolean in a known column
		`{"client_id":"c8","CLIENT_ID":"c8"}` + "\n" + // 8 duplicate key
		`{"client_id":"c9","country":"LT","document_type":"PASSPORT","front":"f"}` + "\n" + // 9 no face
		"   \t \n" + // 10 blank
		`{"client_id":"","country":"LT"}` + "\n" + // 11 empty id
		`{"client_id":"c12","country":"LT","document_type":"PASSPORT","front":"f","face":"x"}` // 12 no final newline
	recs := readAll(t, data, FormatJSONL)
	check(t, recs, []want{
		{line: 1, key: "c1"},
		{line: 3, key: "12345"},
		{line: 4, key: "#line:4", reason: pipeline.RejectBadManifestRow, msg: "line 4: invalid JSON"},
		{line: 5, key: "#line:5", reason: pipeline.RejectBadManifestRow, msg: "not an object"},
		{line: 6, key: "#line:6", reason: pipeline.RejectBadManifestRow, msg: "invalid JSON"},
		{line: 7, key: "#line:7", reason: pipeline.RejectBadManifestRow, msg: "client_id is not a string"},
		{line: 8, key: "#line:8", reason: pipeline.RejectBadManifestRow, msg: "duplicate key"},
		{line: 9, key: "c9", reason: pipeline.RejectMissingRequiredSide},
		{line: 11, key: "#line:11", reason: pipeline.RejectBadClientID},
		{line: 12, key: "c12"},
	})
	in := recs[0].Input
	if in.Country != "LT" || in.DocumentType != "ID_CARD" || in.FirstName != "Jane" || len(in.Sources) != 3 {
		t.Errorf("c1 input %+v", in)
	}
	wantExtra := map[string]string{"segment": "gold", "score": "7", "tags": `["a","b"]`, "vip": "true"}
	if len(in.Extra) != len(wantExtra) {
		t.Errorf("extra %v", in.Extra)
	}
	for k, v := range wantExtra {
		if in.Extra[k] != v {
			t.Errorf("extra[%s] = %q, want %q", k, in.Extra[k], v)
		}
	}
	if in := recs[1].Input; in.ClientID != "12345" || in.Sources[pipeline.SideBack] != "" || in.Extra != nil {
		t.Errorf("line 3 input %+v", in)
	}
}

func TestReadManifestJSONLLongLine(t *testing.T) {
	t.Parallel()
	data := `{"client_id":"` + strings.Repeat("a", MaxRowBytes) + `"}` + "\n" +
		`{"client_id":"c2","country":"LT","document_type":"PASSPORT","front":"f","face":"x"}` + "\n"
	recs := readAll(t, data, FormatJSONL)
	check(t, recs, []want{
		{line: 1, key: "#line:1", reason: pipeline.RejectBadManifestRow, msg: "longer than"},
		{line: 2, key: "c2"},
	})
}

func TestFormatOf(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]Format{
		"a.csv": FormatCSV, "s3://b/x/A.CSV": FormatCSV, "a.csv.gz": FormatCSV,
		"a.jsonl": FormatJSONL, "a.ndjson": FormatJSONL, "/x/a.JSONL.GZ": FormatJSONL,
		"a.parquet": "", "a": "", "a.gz": "", "a.json": "",
	} {
		got, err := FormatOf(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestOpenManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const body = "client_id,country,document_type,front,face\nc1,LT,PASSPORT,f.jpg,x.jpg\n"
	readKeys := func(t *testing.T, m *Manifest) []string {
		t.Helper()
		defer m.Close()
		var keys []string
		if err := m.Read("j", func(r pipeline.Record) error { keys = append(keys, r.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return keys
	}

	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "m.csv")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, uri := range []string{p, "file://" + p} {
			m, err := OpenManifest(ctx, uri, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Format != FormatCSV || m.BaseDir != dir || m.BaseBucket != "" {
				t.Errorf("%s: %+v", uri, m)
			}
			if o := m.Objects(nil, ObjectOptions{MaxBytes: 10, AllowedBuckets: []string{"b"}}); o.BaseDir != dir || o.MaxBytes != 10 || o.AllowedBuckets[0] != "b" {
				t.Errorf("objects %+v", o)
			}
			if keys := readKeys(t, m); len(keys) != 1 || keys[0] != "c1" {
				t.Errorf("keys %v", keys)
			}
		}
		_, err := OpenManifest(ctx, filepath.Join(dir, "nope.csv"), nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing: %v", err)
		}
		if _, err := OpenManifest(ctx, filepath.Join(dir, "m.txt"), nil); err == nil {
			t.Error("unknown extension: no error")
		}
	})

	t.Run("gzip", func(t *testing.T) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, `{"client_id":"z1","country":"LT","document_type":"PASSPORT","front":"f","face":"x"}`+"\n")
		zw.Close()
		p := filepath.Join(t.TempDir(), "m.jsonl.gz")
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := OpenManifest(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if keys := readKeys(t, m); m.Format != FormatJSONL || len(keys) != 1 || keys[0] != "z1" {
			t.Errorf("format %s keys %v", m.Format, keys)
		}
	})

	t.Run("s3", func(t *testing.T) {
		f := newFakeS3(t, "bkt")
		f.put(t, "bkt", "manifests/m.csv", []byte(body))
		m, err := OpenManifest(ctx, "s3://bkt/manifests/m.csv", f.client)
		if err != nil {
			t.Fatal(err)
		}
		if m.BaseBucket != "bkt" || m.BaseDir != "" || m.Format != FormatCSV {
			t.Errorf("%+v", m)
		}
		if keys := readKeys(t, m); len(keys) != 1 || keys[0] != "c1" {
			t.Errorf("keys %v", keys)
		}
		_, err = OpenManifest(ctx, "s3://bkt/manifests/nope.csv", f.client)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing: %v", err)
		}
		if _, err := OpenManifest(ctx, "s3://bkt/m.csv", nil); err == nil {
			t.Error("no client: no error")
		}
	})
}
