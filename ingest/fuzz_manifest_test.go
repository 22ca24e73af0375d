package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// maxFuzzManifest bounds fuzzed manifests: the properties are about rows
// and their boundaries, not about volume.
const maxFuzzManifest = 64 << 10

// checkRecords asserts what every manifest read must give: each row ends
// as exactly one record, pending or rejected with a code and its line, in
// order of lines, under keys that are unique (the Store keys by them), no
// larger than a valid row allows.
func checkRecords(t *testing.T, data []byte, recs []pipeline.Record) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	keys := make(map[string]bool, len(recs))
	last := 0
	for _, r := range recs {
		if r.Line <= last || r.Line > lines {
			t.Fatalf("record at line %d after line %d (input has %d lines)", r.Line, last, lines)
		}
		last = r.Line
		if keys[r.Key] {
			t.Fatalf("line %d: key %q given twice", r.Line, r.Key)
		}
		keys[r.Key] = true
		if r.Job != "j" || r.Ref != pipeline.RefFor("j", r.Key) {
			t.Fatalf("line %d: job %q ref %q", r.Line, r.Job, r.Ref)
		}
		switch r.State {
		case pipeline.StatePending:
			if r.Key != r.Input.ClientID || r.RejectReason != "" || Validate(r.Input) != nil {
				t.Fatalf("line %d: pending record key %q input %+v reason %q", r.Line, r.Key, r.Input, r.RejectReason)
			}
		case pipeline.StateRejected:
			if r.RejectReason == "" || !strings.HasPrefix(r.ErrorMessage, fmt.Sprintf("line %d: ", r.Line)) {
				t.Fatalf("line %d: rejected without a reason or its line: %q %q", r.Line, r.RejectReason, r.ErrorMessage)
			}
			if r.Key != r.Input.ClientID && r.Key != lineKey(r.Line) {
				t.Fatalf("line %d: key %q", r.Line, r.Key)
			}
		default:
			t.Fatalf("line %d: state %s", r.Line, r.State)
		}
		in := r.Input
		if len(in.ClientID) > MaxClientIDLen || len(in.FirstName) > 4*MaxNameLen || len(in.LastName) > 4*MaxNameLen ||
			len(in.Extra) > MaxExtraColumns {
			t.Fatalf("line %d: input over the bounds: %d %d %d %d", r.Line, len(in.ClientID), len(in.FirstName), len(in.LastName), len(in.Extra))
		}
		n := 0
		for k, v := range in.Extra {
			n += len(k) + len(v)
			if len(v) > MaxExtraValueBytes {
				t.Fatalf("line %d: extra value of %d bytes", r.Line, len(v))
			}
		}
		if n > MaxExtraBytes {
			t.Fatalf("line %d: %d bytes of extra columns", r.Line, n)
		}
	}
}

func readFuzz(t *testing.T, data []byte, format Format) ([]pipeline.Record, error) {
	var recs []pipeline.Record
	err := ReadManifest(unseekable{bytes.NewReader(data)}, format, "j", func(r pipeline.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// FuzzReadManifestCSV: any bytes as a CSV manifest end as records (see
// checkRecords) or a header error; nothing panics. Where encoding/csv reads
// the whole input without an error, the line-aware reader reads the same
// records from the same lines.
func FuzzReadManifestCSV(f *testing.F) {
	if b, err := os.ReadFile("testdata/corpus/manifest.csv"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		hdr + row5("c1") + row5("c2") + row5("c1"),
		hdr + `c1,"Ann,LT,PASSPORT,f.jpg,x.jpg` + "\n" + row5("c2") + `c3,"Ann",LT,PASSPORT,f.jpg,x.jpg` + "\n",
		hdr + `c1,Ann,LT,PASSPORT,"f` + "\r\n\r\n" + `.jpg",x.jpg` + "\r\n" + `c2,"A""n",LT,PASSPORT,f,x` + "\r",
		"\ufeffclient_id,,x\n\nc1,a,b\n  \n,\"\",\n",
		"client_id,x,x\nc1,a,b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzManifest {
			return
		}
		recs, err := readFuzz(t, data, FormatCSV)
		if err != nil {
			if !strings.Contains(err.Error(), "manifest header") && !errors.Is(err, errNoHeader) {
				t.Fatalf("error that is not the header's: %v", err)
			}
			return
		}
		checkRecords(t, data, recs)
		sameAsEncodingCSV(t, data)
	})
}

// sameAsEncodingCSV compares the line-aware reader with encoding/csv on
// input that encoding/csv reads without an error.
func sameAsEncodingCSV(t *testing.T, data []byte) {
	t.Helper()
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	type rec struct {
		line   int
		fields []string
	}
	var want []rec
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return // not comparable: encoding/csv fails somewhere
		}
		line, _ := cr.FieldPos(0)
		want = append(want, rec{line, fields})
	}
	var got []rec
	r := newCSVReader(bytes.NewReader(data))
	for {
		c, err := r.read()
		if err == io.EOF {
			break
		}
		if err != nil || c.bad != "" {
			t.Fatalf("line %d: %v %q where encoding/csv reads the input", c.line, err, c.bad)
		}
		got = append(got, rec{c.line, append([]string(nil), c.fields...)})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records\n got %v\nwant %v", got, want)
	}
}

// FuzzReadManifestJSONL: any bytes as a JSONL manifest end as records (see
// checkRecords), never an error; nothing panics.
func FuzzReadManifestJSONL(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"c1","country":"LT","document_type":"PASSPORT","front":"f","face":"x","segment":"a","n":7,"t":[1],"v":true}` + "\n" +
			`{"client_id":"a","client_id":"b"}` + "\n\n" + `{"Client_ID": 12, "back": null}` + "\r\n" + `["x"]` + "\n" + `{"client_id":"c1"} x`,
		`{"client_id":"c\u0031","first_name":"Ann2","date_of_birth":"1990-02-30"}`,
		"\ufeff{}\n{\"\":\"\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzManifest {
			return
		}
		recs, err := readFuzz(t, data, FormatJSONL)
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		checkRecords(t, data, recs)
	})
}
