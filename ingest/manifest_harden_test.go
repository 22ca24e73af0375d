package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

const hdr = "client_id,first_name,country,document_type,front,face\n"

// row5 is a good passport row.
func row5(id string) string { return id + ",Ann,LT,PASSPORT,f.jpg,x.jpg\n" }

// Finding 3: a CSV quoting error costs only the rows it spans. Before the
// fix, an unclosed quote on line 2 of a 5-row manifest swallowed lines 3-6
// as one bad row.
func TestReadManifestCSVQuoteErrorCostsItsLines(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		data  string
		wants []want
	}{
		"unclosed to the end": {
			data: hdr + `c1,"Ann,LT,PASSPORT,f.jpg,x.jpg` + "\n" + row5("c2") + row5("c3") + row5("c4") + row5("c5"),
			wants: []want{
				{line: 2, key: "#line:2", reason: pipeline.RejectBadManifestRow, msg: "line 2: malformed CSV"},
				{line: 3, key: "c2"}, {line: 4, key: "c3"}, {line: 5, key: "c4"}, {line: 6, key: "c5"},
			},
		},
		"closed by a later quote mid-line": {
			data: hdr + `c1,"Ann,LT,PASSPORT,f.jpg,x.jpg` + "\n" + row5("c2") + `c3,"Ann",LT,PASSPORT,f.jpg,x.jpg` + "\n" + row5("c4"),
			wants: []want{
				{line: 2, key: "#line:2", reason: pipeline.RejectBadManifestRow, msg: "malformed CSV"},
				{line: 3, key: "c2"}, {line: 4, key: "c3"}, {line: 5, key: "c4"},
			},
		},
		"closed so that the record parses with the wrong field count": {
			data: hdr + `c1,"Ann` + "\n" + `c2",x` + "\n" + row5("c3") + row5("c4"),
			wants: []want{
				{line: 2, key: "#line:2", reason: pipeline.RejectBadManifestRow, msg: "line 2: 3 fields, header has 6"},
				{line: 3, key: "#line:3", reason: pipeline.RejectBadManifestRow, msg: "line 3: malformed CSV: bare"},
				{line: 4, key: "c3"}, {line: 5, key: "c4"},
			},
		},
		"each bad line its own record": {
			data: hdr + `c1,"Ann` + "\n" + `c2,An"n` + "\n" + row5("c3") + `"` + "\n" + row5("c5"),
			wants: []want{
				{line: 2, key: "#line:2", reason: pipeline.RejectBadManifestRow},
				{line: 3, key: "#line:3", reason: pipeline.RejectBadManifestRow, msg: "bare"},
				{line: 4, key: "c3"},
				{line: 5, key: "#line:5", reason: pipeline.RejectBadManifestRow},
				{line: 6, key: "c5"},
			},
		},
		"a good multi-line field stays one row": {
			data:  hdr + `c1,Ann,LT,PASSPORT,"f` + "\n\n" + `.jpg",x.jpg` + "\n" + row5("c2"),
			wants: []want{{line: 2, key: "c1"}, {line: 5, key: "c2"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			check(t, readAll(t, tc.data, FormatCSV), tc.wants)
		})
	}
}

// Finding 3: rows that share a client id are all rejected, each under its
// own line's key; none of them wins. Before the fix the last row silently
// replaced the earlier ones in the Store.
func TestReadManifestDuplicateClientIDs(t *testing.T) {
	t.Parallel()
	csv := hdr + row5("c1") + row5("c2") + row5(" c1 ") + "c3,Ann,XX,PASSPORT,f,x\n" + row5("c1") + row5("c3")
	jsonl := ""
	for _, id := range []string{"c1", "c2", " c1 ", "c3", "c1", "c3"} {
		jsonl += fmt.Sprintf(`{"client_id":%q,"country":"LT","document_type":"PASSPORT","front":"f","face":"x"}`+"\n", id)
	}
	for format, data := range map[Format]string{FormatCSV: csv, FormatJSONL: jsonl} {
		first := 2
		if format == FormatJSONL {
			first = 1
		}
		l := func(i int) int { return first + i }
		recs := readAll(t, data, format)
		check(t, recs, []want{
			{line: l(0), key: lineKey(l(0)), reason: pipeline.RejectDuplicateClientID, msg: fmt.Sprintf("also on lines %d, %d", l(2), l(4))},
			{line: l(1), key: "c2"},
			{line: l(2), key: lineKey(l(2)), reason: pipeline.RejectDuplicateClientID, msg: fmt.Sprintf("also on lines %d, %d", l(0), l(4))},
			{line: l(3), key: lineKey(l(3)), reason: pipeline.RejectDuplicateClientID, msg: fmt.Sprintf("also on line %d", l(5))},
			{line: l(4), key: lineKey(l(4)), reason: pipeline.RejectDuplicateClientID},
			{line: l(5), key: lineKey(l(5)), reason: pipeline.RejectDuplicateClientID},
		})
		for _, r := range recs {
			if strings.Contains(r.ErrorMessage, "c1") || strings.Contains(r.ErrorMessage, "c3") {
				t.Errorf("%s: message %q names the client id", format, r.ErrorMessage)
			}
		}
		if recs[0].Input.ClientID != "c1" {
			t.Errorf("a duplicate keeps its input: %+v", recs[0].Input)
		}

		// All six rows are stored, five of them REJECTED.
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Load(context.Background(), "job1", recs, time.Now()); err != nil {
			t.Fatal(err)
		}
		stored, err := st.List(context.Background(), pipeline.ListQuery{Job: "job1"})
		if err != nil {
			t.Fatal(err)
		}
		rejected := 0
		for _, r := range stored {
			if r.State == pipeline.StateRejected && r.RejectReason == pipeline.RejectDuplicateClientID {
				rejected++
			}
		}
		if len(stored) != 6 || rejected != 5 {
			t.Errorf("%s: %d records stored, %d rejected as duplicates; want 6 and 5", format, len(stored), rejected)
		}
	}
}

// unseekable hides every method of a reader but Read.
type unseekable struct{ r io.Reader }

func (u unseekable) Read(p []byte) (int, error) { return u.r.Read(p) }

// Duplicates are found whatever the manifest is read from: a reader that
// cannot seek, a local file, gzip, S3 (read again), gzip on S3.
func TestReadManifestDuplicatesFromEverySource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := hdr + row5("c1") + row5("c2") + row5("c1")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, data)
	zw.Close()
	wantKeys := "#line:2,c2,#line:4"
	keys := func(t *testing.T, read func(fn func(pipeline.Record) error) error) string {
		t.Helper()
		var k []string
		if err := read(func(r pipeline.Record) error { k = append(k, r.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return strings.Join(k, ",")
	}
	if got := keys(t, func(fn func(pipeline.Record) error) error {
		return ReadManifest(unseekable{strings.NewReader(data)}, FormatCSV, "j", fn)
	}); got != wantKeys {
		t.Errorf("unseekable: %s", got)
	}
	dir := t.TempDir()
	f := newFakeS3(t, "bkt")
	for name, body := range map[string][]byte{"m.csv": []byte(data), "m.csv.gz": gz.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
		f.put(t, "bkt", name, body)
		for _, uri := range []string{filepath.Join(dir, name), "s3://bkt/" + name} {
			m, err := OpenManifest(ctx, uri, f.client)
			if err != nil {
				t.Fatal(err)
			}
			// As cmd/idbatch reads it: ReadManifest on the Body.
			if got := keys(t, func(fn func(pipeline.Record) error) error { return ReadManifest(m.Body, m.Format, "j", fn) }); got != wantKeys {
				t.Errorf("%s: %s", uri, got)
			}
			m.Close()
		}
	}
}

// Finding 3: a JSONL key given twice is a bad row, not its last value.
func TestReadManifestJSONLDuplicateKey(t *testing.T) {
	t.Parallel()
	data := `{"client_id":"a","client_id":"b","country":"LT","document_type":"PASSPORT","front":"f","face":"x"}` + "\n" +
		`{"client_id":"c","country":"LT","document_type":"PASSPORT","front":"f","face":"x","front":"g"}` + "\n" +
		`{"client_id":"d","x":1,"x":2,"country":"LT","document_type":"PASSPORT","front":"f","face":"x"}` + "\n" +
		`{"client_id":"e","country":"LT","document_type":"PASSPORT","front":"f","face":"x"}` + "\n"
	check(t, readAll(t, data, FormatJSONL), []want{
		{line: 1, key: "#line:1", reason: pipeline.RejectBadManifestRow, msg: `duplicate key "client_id"`},
		{line: 2, key: "#line:2", reason: pipeline.RejectBadManifestRow, msg: `duplicate key "front"`},
		{line: 3, key: "#line:3", reason: pipeline.RejectBadManifestRow, msg: `duplicate key "x"`},
		{line: 4, key: "e"},
	})
}

// Finding 4: names and dates of birth are checked before any call.
func TestValidatePersonalFields(t *testing.T) {
	t.Parallel()
	base := pipeline.Input{ClientID: "c1", Country: "LT", DocumentType: "PASSPORT",
		Sources: map[pipeline.Side]string{pipeline.SideFront: "f", pipeline.SideFace: "x"}}
	good := []pipeline.Input{base}
	for _, n := range []string{"Ann", "Žukauskaitė", "Jean-Luc O'Neill", "Mary Ann St. John", "José & Co", strings.Repeat("é", 100), "李小龍"} {
		in := base
		in.FirstName, in.LastName = n, n
		good = append(good, in)
	}
	for _, d := range []string{"1990-01-31", "2000-02-29", "1900-01-01", time.Now().UTC().Format("2006-01-02")} {
		in := base
		in.DateOfBirth = d
		good = append(good, in)
	}
	for _, in := range good {
		if err := Validate(in); err != nil {
			t.Errorf("%q %q %q: %v", in.FirstName, in.LastName, in.DateOfBirth, err)
		}
	}
	bad := map[string]pipeline.Input{}
	for _, n := range []string{strings.Repeat("a", 1<<20), strings.Repeat("é", 101), "Ann2", "Ann٣", "Ann!", "A_nn", "Ann/Bob", "Ann\x00", "Ann\n", "a\"b", "a,b", "a<b>", "\xff\xfe"} {
		in := base
		in.FirstName = n
		bad["first_name"+n] = in
		in = base
		in.LastName = n
		bad["last_name"+n] = in
	}
	for _, d := range []string{"1990-02-30", "1990-13-01", "31/01/1990", "+990-01-01", "1899-12-31", "1990-1-31", "１９９０-01-31",
		time.Now().UTC().AddDate(0, 0, 3).Format("2006-01-02")} {
		in := base
		in.DateOfBirth = d
		bad["date_of_birth"+d] = in
	}
	in := base
	in.Sources = map[pipeline.Side]string{pipeline.SideFront: strings.Repeat("k", MaxRefBytes+1), pipeline.SideFace: "x"}
	bad["front"] = in
	for name, in := range bad {
		err := Validate(in)
		col := name
		for _, c := range []string{"first_name", "last_name", "date_of_birth", "front"} {
			if strings.HasPrefix(name, c) {
				col = c
			}
		}
		var re *pipeline.RejectError
		if pipeline.RejectCode(err) != pipeline.RejectBadManifestRow || !errors.As(err, &re) || !strings.HasPrefix(re.Detail, col) {
			t.Errorf("%.40q: %v, want bad_manifest_row naming %s", name, err, col)
			continue
		}
		if v := strings.TrimPrefix(name, col); len(v) > 2 && strings.Contains(re.Detail, v) {
			t.Errorf("%.40q: detail %q holds the value", name, re.Detail)
		}
	}
}

// Finding 4: a 1 MB first name never reaches /token, and the rejected
// record does not store it either.
func TestReadManifestHugeName(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("a", 1<<20)
	recs := readAll(t, hdr+"c1,"+huge+",LT,PASSPORT,f,x\n"+row5("c2"), FormatCSV)
	check(t, recs, []want{
		{line: 2, key: "c1", reason: pipeline.RejectBadManifestRow, msg: "first_name is longer than 100 characters"},
		{line: 3, key: "c2"},
	})
	if n := len(recs[0].Input.FirstName); n > 4*MaxNameLen {
		t.Errorf("rejected record stores a %d-byte first name", n)
	}
	// Prepare refuses it before fetching anything.
	p := &Preparer{Objects: &Objects{BaseDir: t.TempDir()}}
	rec := recs[1]
	rec.Input.FirstName = huge
	if _, err := p.Prepare(context.Background(), rec); pipeline.RejectCode(err) != pipeline.RejectBadManifestRow {
		t.Errorf("Prepare: %v", err)
	}
}

// Finding 4: unknown columns are bounded.
func TestReadManifestExtraColumnsBounded(t *testing.T) {
	t.Parallel()
	cols := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, ",x%d", i)
		}
		return b.String()
	}
	vals := func(n int, v string) string { return strings.Repeat(","+v, n) }
	// 64 unknown columns are kept; 65 (or 100,000) are an error of the header.
	recs := readAll(t, strings.TrimSuffix(hdr, "\n")+cols(64)+"\n"+strings.TrimSuffix(row5("c1"), "\n")+vals(64, "v")+"\n", FormatCSV)
	if len(recs) != 1 || recs[0].State != pipeline.StatePending || len(recs[0].Input.Extra) != 64 {
		t.Fatalf("64 extra columns: %+v", recs)
	}
	for _, n := range []int{65, 100000} {
		data := strings.TrimSuffix(hdr, "\n") + cols(n) + "\n" + strings.TrimSuffix(row5("c1"), "\n") + vals(n, "v") + "\n"
		err := ReadManifest(strings.NewReader(data), FormatCSV, "j", func(pipeline.Record) error { t.Fatal("a record"); return nil })
		if err == nil || !strings.Contains(err.Error(), "header") {
			t.Errorf("%d extra columns: %v", n, err)
		}
	}
	// Values: 1 KiB each, 16 KiB a row.
	long := strings.Repeat("v", MaxExtraValueBytes+1)
	data := strings.TrimSuffix(hdr, "\n") + cols(20) + "\n" +
		strings.TrimSuffix(row5("c1"), "\n") + vals(19, "v") + "," + long + "\n" +
		strings.TrimSuffix(row5("c2"), "\n") + vals(20, strings.Repeat("v", MaxExtraValueBytes)) + "\n" +
		strings.TrimSuffix(row5("c3"), "\n") + vals(20, "v") + "\n"
	recs = readAll(t, data, FormatCSV)
	check(t, recs, []want{
		{line: 2, key: "c1", reason: pipeline.RejectBadManifestRow, msg: `extra column "x19": value longer than 1024 bytes`},
		{line: 3, key: "c2", reason: pipeline.RejectBadManifestRow, msg: "longer than 16384 bytes in all"},
		{line: 4, key: "c3"},
	})
	if recs[0].Input.Extra != nil || recs[1].Input.Extra != nil {
		t.Error("a row over the bounds keeps its extra columns")
	}
	// JSONL: the same bounds per row.
	var b strings.Builder
	b.WriteString(`{"client_id":"j1","country":"LT","document_type":"PASSPORT","front":"f","face":"x"`)
	for i := range 100000 {
		fmt.Fprintf(&b, `,"k%d":"v"`, i)
	}
	b.WriteString("}\n")
	b.WriteString(`{"client_id":"j2","country":"LT","document_type":"PASSPORT","front":"f","face":"x","k":"` + long + `"}` + "\n")
	b.WriteString(`{"client_id":"j3","country":"LT","document_type":"PASSPORT","front":"f","face":"x","k":"v"}` + "\n")
	recs = readAll(t, b.String(), FormatJSONL)
	check(t, recs, []want{
		{line: 1, key: "j1", reason: pipeline.RejectBadManifestRow, msg: "more than 64 columns"},
		{line: 2, key: "j2", reason: pipeline.RejectBadManifestRow, msg: "longer than 1024"},
		{line: 3, key: "j3"},
	})
	if recs[0].Input.Extra != nil {
		t.Errorf("kept %d extra keys", len(recs[0].Input.Extra))
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "abc", "ééé", "a\xff"} {
		for n := 0; n <= len(s)+1; n++ {
			c := clip(s, n)
			if len(c) > n || !strings.HasPrefix(s, c) || utf8.ValidString(s) && !utf8.ValidString(c) {
				t.Errorf("clip(%q, %d) = %q", s, n, c)
			}
		}
	}
}

// A stream that cannot be read twice (longer than what is held in memory)
// is read once: later rows of a client id are rejected under their own
// keys, the first is kept; keys stay unique.
func TestReadManifestOnce(t *testing.T) {
	t.Parallel()
	data := hdr + row5("c1") + row5("c2") + row5("c1") + row5("c1")
	var recs []pipeline.Record
	if err := readOnce(strings.NewReader(data), FormatCSV, "job1", func(r pipeline.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	check(t, recs, []want{
		{line: 2, key: "c1"},
		{line: 3, key: "c2"},
		{line: 4, key: "#line:4", reason: pipeline.RejectDuplicateClientID, msg: "also on line 2"},
		{line: 5, key: "#line:5", reason: pipeline.RejectDuplicateClientID, msg: "also on line 2"},
	})
}
