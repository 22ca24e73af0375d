package export

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// designColumns are the columns of DESIGN.md "Parquet output", in order,
// followed by deleted_at.
var designColumns = []string{
	"job", "run_id", "client_id", "scan_ref", "outcome", "overall_status",
	"auto_document", "auto_face", "manual_document", "manual_face",
	"fraud_tags", "mismatch_tags", "suspicion_reasons", "final",
	"doc_first_name", "doc_last_name", "doc_number", "doc_personal_code",
	"doc_dob", "doc_expiry", "doc_date_of_issue", "doc_type", "doc_sex",
	"doc_nationality", "doc_issuing_country", "selected_country",
	"submitted_country", "submitted_document_type", "reject_reason",
	"error_code", "error_message", "attempts",
	"source_front", "source_back", "source_face",
	"front_sha256", "back_sha256", "face_sha256",
	"submitted_at", "result_at", "exported_at",
	"aml_status", "aml_hits", "duplicate_faces", "duplicate_doc_faces",
	"age_estimate", "client_ip_proxy_risk_level", "additional_steps",
	"raw_result", "extra",
	"deleted_at",
}

// dictColumns are the low-cardinality columns written with a dictionary.
var dictColumns = []string{
	"job", "run_id", "outcome", "overall_status", "auto_document", "auto_face",
	"manual_document", "manual_face", "fraud_tags", "mismatch_tags", "suspicion_reasons",
	"doc_type", "doc_sex", "doc_nationality", "doc_issuing_country", "selected_country",
	"submitted_country", "submitted_document_type", "reject_reason", "error_code",
	"aml_status", "aml_hits", "age_estimate", "client_ip_proxy_risk_level", "additional_steps",
}

func TestSchemaGolden(t *testing.T) {
	got := parquet.SchemaOf(Row{}).String() + "\n"
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./export -update)", err)
	}
	if got != string(want) {
		t.Errorf("schema changed (a user-facing contract); if intended, run go test ./export -update\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestSchemaColumnsAndEncodings(t *testing.T) {
	schema := parquet.SchemaOf(Row{})
	var names []string
	for _, f := range schema.Fields() {
		names = append(names, f.Name())
	}
	if !slices.Equal(names, designColumns) {
		t.Fatalf("columns:\n got %v\nwant %v", names, designColumns)
	}
	for _, path := range schema.Columns() {
		leaf, _ := schema.Lookup(path...)
		enc := leaf.Node.Encoding()
		top := path[0]
		if leaf.Node.Type().Kind() != parquet.ByteArray {
			continue
		}
		want := "PLAIN"
		if slices.Contains(dictColumns, top) {
			want = "RLE_DICTIONARY"
		}
		if enc == nil || enc.Encoding().String() != want {
			t.Errorf("%s: encoding %v, want %s", strings.Join(path, "."), enc, want)
		}
	}
}

func newTestExporter(dest Destination) *Exporter {
	return &Exporter{Dest: dest, Job: testJob, RunID: "run-1", Worker: "w0", Now: fixedNow}
}

func localDestination(t *testing.T) (Destination, string) {
	t.Helper()
	root := t.TempDir()
	d, err := OpenDestination(t.Context(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

// files lists every file under root, relative and "/"-separated.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const wantPart = "job=legacy-2019/dt=2025-03-04/part-run-1-w0.parquet"

func TestExportEveryOutcome(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	src := newFakeSource(testRecords()...)
	rep, err := newTestExporter(dest).Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	wantFile := filepath.Join(root, filepath.FromSlash(wantPart))
	if !slices.Equal(rep.Files, []string{wantFile}) {
		t.Errorf("Files = %v, want [%s]", rep.Files, wantFile)
	}
	if got := files(t, root); !slices.Equal(got, []string{wantFailures, wantPart}) {
		t.Errorf("files under the destination = %v, want only %s and %s", got, wantFailures, wantPart)
	}
	if got := rowGroups(t, wantFile); !slices.Equal(got, []int64{6}) {
		t.Errorf("row groups %v, want [6]", got)
	}
	wantBy := map[string]int{"APPROVED": 1, "DENIED": 1, "SUSPECTED": 1, "REJECTED": 1, "FAILED": 1, "EXPIRED": 1}
	if rep.Rows != 6 || !reflect.DeepEqual(rep.ByOutcome, wantBy) {
		t.Errorf("Rows = %d, ByOutcome = %v; want 6, %v", rep.Rows, rep.ByOutcome, wantBy)
	}
	if got := src.exported(); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 9}) {
		t.Errorf("exported ids = %v, want 1-6 (and 9, exported before)", got)
	}
	if at := src.recs[0].ExportedAt; at.Location() != time.UTC || !at.Equal(exportNow.Truncate(time.Microsecond)) {
		t.Errorf("marked at %v, want %v in UTC", src.recs[0].ExportedAt, exportNow)
	}

	// A second export finds nothing and creates nothing.
	rep, err = (&Exporter{Dest: dest, Job: testJob, RunID: "run-2", Now: fixedNow}).Export(t.Context(), src)
	if err != nil || rep.Rows != 0 || len(rep.Files) != 0 {
		t.Fatalf("second export: %+v, %v; want nothing", rep, err)
	}
	if got := files(t, root); len(got) != 2 {
		t.Errorf("second export left files: %v", got)
	}

	t.Run("describe", func(t *testing.T) {
		t.Parallel()
		rows := exporttest.Query(t, "DESCRIBE SELECT * FROM read_parquet("+exporttest.Quote(wantFile)+", hive_partitioning=false)")
		var names []string
		types := map[string]string{}
		for _, r := range rows {
			n := r["column_name"].(string)
			names = append(names, n)
			types[n] = r["column_type"].(string)
		}
		if !slices.Equal(names, designColumns) {
			t.Fatalf("DuckDB columns:\n got %v\nwant %v", names, designColumns)
		}
		for _, n := range designColumns {
			want := "VARCHAR"
			switch n {
			case "doc_dob", "doc_expiry", "doc_date_of_issue":
				want = "DATE"
			case "submitted_at", "result_at", "exported_at", "deleted_at":
				want = "TIMESTAMP WITH TIME ZONE"
			case "fraud_tags", "mismatch_tags", "suspicion_reasons", "aml_hits", "duplicate_faces", "duplicate_doc_faces":
				want = "VARCHAR[]"
			case "final":
				want = "BOOLEAN"
			case "attempts":
				want = "INTEGER"
			}
			if types[n] != want {
				t.Errorf("%s: DuckDB type %s, want %s", n, types[n], want)
			}
		}
	})

	t.Run("values", func(t *testing.T) {
		t.Parallel()
		rows := exporttest.Query(t, "SELECT * FROM read_parquet("+exporttest.Quote(root+"/**/*.parquet")+
			", hive_partitioning=true) ORDER BY client_id")
		if len(rows) != 6 {
			t.Fatalf("%d rows, want 6", len(rows))
		}
		by := map[string]map[string]any{}
		for _, r := range rows {
			by[r["client_id"].(string)] = r
			if r["job"] != testJob || r["dt"] != "2025-03-04" || r["run_id"] != "run-1" {
				t.Errorf("%v: job=%v dt=%v run_id=%v", r["client_id"], r["job"], r["dt"], r["run_id"])
			}
			if r["exported_at"] != "2025-03-04T23:00:00.123456Z" {
				t.Errorf("%v: exported_at = %v", r["client_id"], r["exported_at"])
			}
			if r["deleted_at"] != nil {
				t.Errorf("%v: deleted_at = %v, want null", r["client_id"], r["deleted_at"])
			}
		}
		check := func(client string, want map[string]any) {
			t.Helper()
			r := by[client]
			for k, w := range want {
				if !reflect.DeepEqual(r[k], w) {
					t.Errorf("%s.%s = %#v, want %#v", client, k, r[k], w)
				}
			}
		}
		check("c-approved", map[string]any{
			"scan_ref": "scan-approved", "outcome": "APPROVED", "overall_status": "APPROVED",
			"auto_document": "DOC_VALIDATED", "auto_face": "FACE_MATCH", "manual_document": "DOC_VALIDATED", "manual_face": "FACE_MATCH",
			"fraud_tags": []any{}, "mismatch_tags": []any{}, "suspicion_reasons": []any{}, "final": true,
			"doc_first_name": "JOHN", "doc_last_name": "DOE", "doc_number": "AB123456", "doc_personal_code": "39005170000",
			"doc_dob": "1990-05-17", "doc_expiry": "2031-12-31", "doc_date_of_issue": "2021-01-04",
			"doc_type": "ID_CARD", "doc_sex": "MALE", "doc_nationality": "LT", "doc_issuing_country": "LT", "selected_country": "LT",
			"submitted_country": "LT", "submitted_document_type": "ID_CARD",
			"reject_reason": nil, "error_code": nil, "error_message": nil, "attempts": 1.0,
			"source_front": "s3://legacy/customers/c-approved/front.jpg", "source_back": "s3://legacy/customers/c-approved/back.jpg",
			"source_face":  "s3://legacy/customers/c-approved/face.jpg",
			"front_sha256": "f-approved", "back_sha256": "b-approved", "face_sha256": "s-approved",
			"submitted_at": "2025-03-01T10:11:12.345678Z", "result_at": "2025-03-01T10:41:00.000000Z",
			"aml_status": "NOT_CHECKED", "aml_hits": []any{}, "duplicate_faces": []any{"scan-old-1"}, "duplicate_doc_faces": []any{},
			"age_estimate": "OVER_25", "client_ip_proxy_risk_level": "LOW", "additional_steps": "VALID",
			"raw_result": `{"final":true,"platform":"API","status":{"overall":"APPROVED"},"scanRef":"scan-approved"}`,
			"extra":      `{"branch":"LT-01","segment":"retail"}`,
		})
		check("c-denied", map[string]any{
			"outcome": "DENIED", "manual_face": "FACE_MISMATCH", "final": true,
			"doc_dob":    nil, // "not a date" is kept only in raw_result
			"raw_result": `{"status":{"overall":"DENIED"}}`, "extra": nil, "fraud_tags": []any{},
		})
		check("c-suspected", map[string]any{
			"outcome": "SUSPECTED", "final": false,
			"fraud_tags":        []any{"AUTO_DOC_FRAUD", "MANUAL_FACE_FRAUD"},
			"mismatch_tags":     []any{"NAME", "DATE_OF_BIRTH"},
			"suspicion_reasons": []any{"FACE_SUSPECTED"},
			"aml_status":        "HIT", "aml_hits": []any{"PEP", "SANCTION"},
			"duplicate_doc_faces": []any{"scan-a", "scan-b"},
			"front_sha256":        nil, "raw_result": nil,
		})
		check("c-rejected", map[string]any{
			"outcome": "REJECTED", "reject_reason": "too_small", "attempts": 0.0,
			"scan_ref": nil, "overall_status": nil, "final": nil, "fraud_tags": nil, "aml_hits": nil,
			"doc_dob": nil, "submitted_at": nil, "result_at": nil, "raw_result": nil,
			"source_front": "s3://legacy/customers/c-rejected/front.jpg", "source_back": nil, "source_face": nil,
			"submitted_country": "LT",
		})
		check("c-failed", map[string]any{
			"outcome": "FAILED", "error_code": "MAX_RETRIES", "attempts": 3.0, "scan_ref": "scan-failed",
			"error_message": "process: 503 Service Unavailable, retries exhausted",
			"submitted_at":  "2025-03-01T10:11:12.345678Z", "result_at": nil, "final": nil, "reject_reason": nil,
		})
		check("c-expired", map[string]any{
			"outcome": "EXPIRED", "overall_status": "EXPIRED", "final": true, "scan_ref": "scan-expired",
		})
	})

	t.Run("encodings", func(t *testing.T) {
		t.Parallel()
		rows := exporttest.Query(t, "SELECT path_in_schema, encodings, compression FROM parquet_metadata("+
			exporttest.Quote(wantFile)+")")
		if len(rows) != len(designColumns) {
			t.Fatalf("%d column chunks, want %d", len(rows), len(designColumns))
		}
		for _, r := range rows {
			path, enc := r["path_in_schema"].(string), r["encodings"].(string)
			top, _, _ := strings.Cut(path, ",")
			if r["compression"] != "ZSTD" {
				t.Errorf("%s: compression %v", path, r["compression"])
			}
			if strings.Contains(enc, "DELTA") {
				t.Errorf("%s: encodings %s, want no DELTA_*", path, enc)
			}
			if slices.Contains(dictColumns, top) != strings.Contains(enc, "DICTIONARY") {
				t.Errorf("%s: encodings %s (dictionary expected: %v)", path, enc, slices.Contains(dictColumns, top))
			}
		}
	})
}

func TestExportNothing(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	recs := testRecords()[6:] // pending, submitted, already exported, other job
	src := newFakeSource(recs...)
	rep, err := newTestExporter(dest).Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 0 || len(rep.Files) != 0 || len(rep.ByOutcome) != 0 {
		t.Errorf("report %+v, want empty", rep)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files %v, want none", got)
	}
	if src.markCalls != 0 {
		t.Errorf("MarkExported called %d times", src.markCalls)
	}
}

// smallBatches makes e page, mark and cut row groups in small batches, so
// that tests cross every boundary with few records.
func smallBatches(e *Exporter) *Exporter {
	e.pageSize, e.markSize = 100, 30
	return e
}

// rowGroups returns the row counts of the file's row groups, and checks that
// every data page is a v1 page.
func rowGroups(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var n []int64
	for _, rg := range pf.RowGroups() {
		n = append(n, rg.NumRows())
	}
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			for _, st := range c.MetaData.EncodingStats {
				if st.PageType == format.DataPageV2 {
					t.Fatalf("%s: data page v2 in column %v", path, c.MetaData.PathInSchema)
				}
			}
		}
	}
	return n
}

func TestExportPagesAndRowGroups(t *testing.T) {
	t.Parallel()
	const n = 250 // pages of 100, 100, 50
	for _, tc := range []struct {
		name   string
		set    func(*Exporter)
		groups []int64
	}{
		{"by rows", func(e *Exporter) { e.RowGroupSize, e.Workers = 60, 1 }, []int64{60, 60, 60, 60, 10}},
		{"by bytes", func(e *Exporter) { e.groupBytes, e.Workers = 1, 1 }, []int64{100, 100, 50}},
		// Three encoders take the pages as they come: each cuts its groups
		// at 60 rows, and each may end with a partial group.
		{"parallel", func(e *Exporter) { e.RowGroupSize, e.Workers = 60, 3 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dest, root := localDestination(t)
			src := newFakeSource(manyRecords(n)...)
			e := smallBatches(newTestExporter(dest))
			e.Compression = "snappy"
			tc.set(e)
			rep, err := e.Export(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rows != n || rep.ByOutcome["REJECTED"] != n {
				t.Errorf("report %d rows %v, want %d", rep.Rows, rep.ByOutcome, n)
			}
			if src.listCalls != 3 {
				t.Errorf("List called %d times, want 3", src.listCalls)
			}
			if want := (n + 29) / 30; src.markCalls != want {
				t.Errorf("MarkExported called %d times, want %d", src.markCalls, want)
			}
			if got := len(src.exported()); got != n {
				t.Errorf("%d marked, want %d", got, n)
			}
			file := filepath.Join(root, filepath.FromSlash(wantPart))
			got := rowGroups(t, file)
			if tc.groups != nil && !slices.Equal(got, tc.groups) {
				t.Errorf("row groups %v, want %v", got, tc.groups)
			}
			var sum, full int64
			for _, g := range got {
				sum += g
				if g > 60 && e.RowGroupSize == 60 {
					t.Errorf("row groups %v: more than 60 rows in one", got)
				}
				if g == 60 {
					full++
				}
			}
			if sum != n {
				t.Errorf("row groups %v hold %d rows, want %d", got, sum, n)
			}
			if e.RowGroupSize == 60 && full < n/60-int64(e.Workers)+1 {
				t.Errorf("row groups %v: only %d full ones with %d workers", got, full, e.Workers)
			}
			if tc.name != "by rows" {
				return
			}
			p := exporttest.Quote(file)
			rows := exporttest.Query(t, "SELECT (SELECT count(*) FROM read_parquet("+p+")) AS n, "+
				"(SELECT count(DISTINCT client_id) FROM read_parquet("+p+")) AS clients, "+
				"(SELECT count(DISTINCT row_group_id) FROM parquet_metadata("+p+")) AS groups, "+
				"(SELECT min(compression) FROM parquet_metadata("+p+")) AS codec")
			want := map[string]any{"n": float64(n), "clients": float64(n), "groups": 5.0, "codec": "SNAPPY"}
			if !reflect.DeepEqual(rows[0], want) {
				t.Errorf("DuckDB: %v, want %v", rows[0], want)
			}
		})
	}
}

func TestExportListErrorLeavesNothing(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	src := newFakeSource(manyRecords(110)...)
	boom := errors.New("store down")
	src.ListFunc = func(call int, q pipeline.ListQuery) error {
		if call == 2 {
			return boom
		}
		return nil
	}
	rep, err := smallBatches(newTestExporter(dest)).Export(t.Context(), src)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if len(rep.Files) != 0 || rep.Rows != 0 {
		t.Errorf("report %+v, want empty", rep)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files %v, want none", got)
	}
	if src.markCalls != 0 || len(src.exported()) != 0 {
		t.Errorf("marked %d records in %d calls, want none", len(src.exported()), src.markCalls)
	}
}

func TestExportCancelledLeavesNothing(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	src := newFakeSource(manyRecords(110)...)
	ctx, cancel := context.WithCancel(t.Context())
	src.ListFunc = func(call int, q pipeline.ListQuery) error {
		if call == 2 {
			cancel()
		}
		return nil
	}
	_, err := smallBatches(newTestExporter(dest)).Export(ctx, src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files %v, want none", got)
	}
	if src.markCalls != 0 {
		t.Errorf("MarkExported called")
	}
}

// faultyDest wraps a Destination with Files that fail on demand.
type faultyDest struct {
	Destination
	failWrite  bool
	failCommit bool
	aborted    int
}

type faultyFile struct {
	File
	d       *faultyDest
	parquet bool
}

var errDisk = errors.New("disk full")

func (d *faultyDest) Create(ctx context.Context, rel string) (File, error) {
	f, err := d.Destination.Create(ctx, rel)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, d: d, parquet: strings.HasSuffix(rel, ".parquet")}, nil
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.d.failWrite {
		return 0, errDisk
	}
	return f.File.Write(p)
}

func (f *faultyFile) Commit() error {
	if f.d.failCommit && f.parquet {
		_ = f.File.Abort()
		return errDisk
	}
	return f.File.Commit()
}

func (f *faultyFile) Abort() error {
	f.d.aborted++
	return f.File.Abort()
}

func TestExportWriteOrCommitErrorLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name          string
		write, commit bool
		wantAborted   int
	}{
		{"write", true, false, 1},
		{"commit", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			local, root := localDestination(t)
			dest := &faultyDest{Destination: local, failWrite: tc.write, failCommit: tc.commit}
			src := newFakeSource(testRecords()...)
			rep, err := newTestExporter(dest).Export(t.Context(), src)
			if !errors.Is(err, errDisk) {
				t.Fatalf("err = %v, want %v", err, errDisk)
			}
			if len(rep.Files) != 0 {
				t.Errorf("Files = %v", rep.Files)
			}
			if dest.aborted != tc.wantAborted {
				t.Errorf("aborted %d times, want %d", dest.aborted, tc.wantAborted)
			}
			for _, f := range files(t, root) {
				if strings.HasSuffix(f, ".parquet") || strings.Contains(f, ".tmp-") {
					t.Errorf("file %s, want no part file (no partial, no temporary)", f)
				}
			}
			if src.markCalls != 0 {
				t.Errorf("MarkExported called")
			}
			// The next export writes every record, once, and leaves one
			// failures file and no sidecar.
			dest.failWrite, dest.failCommit = false, false
			if _, err := newTestExporter(dest).Export(t.Context(), src); err != nil {
				t.Fatal(err)
			}
			if got := files(t, root); !slices.Equal(got, []string{wantFailures, wantPart}) {
				t.Errorf("files after the next export: %v", got)
			}
			assertExactlyOnce(t, root, 6)
		})
	}
}

// A failure to mark after the commit keeps the committed file and its
// pending sidecar; the next export marks the rest and writes nothing again:
// every record is in exactly one file.
func TestExportMarkFailureExactlyOnce(t *testing.T) {
	t.Parallel()
	const n, batch = 130, 30
	dest, root := localDestination(t)
	src := newFakeSource(manyRecords(n)...)
	boom := errors.New("store down")
	src.MarkFunc = func(call int, ids []int64) error {
		if call == 2 {
			return boom
		}
		return nil
	}
	rep, err := smallBatches(newTestExporter(dest)).Export(t.Context(), src)
	if !errors.Is(err, ErrMarkExported) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want ErrMarkExported wrapping %v", err, boom)
	}
	first := filepath.Join(root, filepath.FromSlash(wantPart))
	if !slices.Equal(rep.Files, []string{first}) || rep.Rows != n {
		t.Fatalf("report %v %d, want the committed file with %d rows", rep.Files, rep.Rows, n)
	}
	if got := len(src.exported()); got != batch {
		t.Fatalf("%d marked, want %d", got, batch)
	}
	if got := files(t, root); !slices.Contains(got, wantPending) {
		t.Fatalf("files %v, want the pending sidecar %s", got, wantPending)
	}

	src.MarkFunc = nil
	e := newTestExporter(dest)
	e.RunID = "run-2"
	rep2, err := e.Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Rows != 0 || len(rep2.Files) != 0 || rep2.Recovered != n {
		t.Errorf("next export: %d rows in %v, %d recovered; want 0 rows, no file, %d recovered", rep2.Rows, rep2.Files, rep2.Recovered, n)
	}
	if got := len(src.exported()); got != n {
		t.Errorf("%d marked, want %d", got, n)
	}
	assertExactlyOnce(t, root, n)
	if got := files(t, root); !slices.Equal(got, []string{wantFailures, wantPart}) {
		t.Errorf("files %v, want the part and its failures only (no sidecar)", got)
	}
}

const (
	wantPending  = "job=legacy-2019/_pending/worker=w0/dt=2025-03-04/part-run-1-w0.parquet.json"
	wantFailures = "job=legacy-2019/_failures/dt=2025-03-04/failures-run-1-w0.csv"
)

// assertExactlyOnce checks with DuckDB that the Parquet files under root
// hold n rows, one per client.
func assertExactlyOnce(t *testing.T, root string, n int) {
	t.Helper()
	rows := exporttest.Query(t, "SELECT count(*) AS n, count(DISTINCT client_id) AS clients FROM read_parquet("+
		exporttest.Quote(root+"/**/*.parquet")+", hive_partitioning=true)")
	want := map[string]any{"n": float64(n), "clients": float64(n)}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("DuckDB: %v, want %v (each record exactly once)", rows[0], want)
	}
}

// The crash of the process right after the commit (pipeline.CrashExportCommitted),
// simulated in process: the commit happens, then nothing more (no mark, no
// sidecar removal), as if the process died. A new Exporter in a new run
// resolves the sidecar: each record exactly once in the output.
func TestExportCrashAfterCommitExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		committed bool // the crash hit after the commit (else before it)
	}{
		{"after commit", true},
		{"before commit", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 250
			local, root := localDestination(t)
			dest := &crashDest{Destination: local, crashCommit: !tc.committed}
			src := newFakeSource(manyRecords(n)...)
			var crashed atomic.Bool
			src.MarkFunc = func(int, []int64) error {
				crashed.Store(true)
				runtime.Goexit() // the process "dies" at its first Store call after the commit
				return nil
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = smallBatches(newTestExporter(dest)).Export(context.Background(), src)
			}()
			<-done
			if tc.committed != crashed.Load() {
				t.Fatalf("crashed in MarkExported: %v, want %v", crashed.Load(), tc.committed)
			}
			if len(src.exported()) != 0 {
				t.Fatal("records marked before the crash")
			}
			before := files(t, root)
			if !slices.Contains(before, wantPending) || slices.Contains(before, wantPart) != tc.committed {
				t.Fatalf("files after the crash %v", before)
			}

			src.MarkFunc = nil
			e := newTestExporter(local)
			e.RunID = "run-2"
			rep, err := e.Export(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			if tc.committed && (rep.Recovered != n || rep.Rows != 0) {
				t.Errorf("after a crash past the commit: recovered %d, wrote %d; want %d, 0", rep.Recovered, rep.Rows, n)
			}
			if !tc.committed && (rep.Recovered != 0 || rep.Rows != n) {
				t.Errorf("after a crash before the commit: recovered %d, wrote %d; want 0, %d", rep.Recovered, rep.Rows, n)
			}
			if got := len(src.exported()); got != n {
				t.Errorf("%d marked, want %d", got, n)
			}
			assertExactlyOnce(t, root, n)
			for _, f := range files(t, root) {
				switch {
				case strings.Contains(f, "_pending"):
					t.Errorf("left behind: %s", f)
				case strings.Contains(f, ".tmp-") && !strings.HasPrefix(path.Base(f), "."):
					// A killed write leaves its temporary file; it must be hidden.
					t.Errorf("temporary file not hidden: %s", f)
				}
			}
			var csvs []string
			for _, f := range files(t, root) {
				if strings.HasSuffix(f, ".csv") {
					csvs = append(csvs, f)
				}
			}
			if len(csvs) != 1 {
				t.Errorf("failures files %v, want exactly one", csvs)
			}
		})
	}
}

// crashDest makes a commit of a part file "crash" the process: the part
// file is never committed and the goroutine ends.
type crashDest struct {
	Destination
	crashCommit bool
}

type crashFile struct {
	File
	crash bool
}

func (d *crashDest) Create(ctx context.Context, rel string) (File, error) {
	f, err := d.Destination.Create(ctx, rel)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, crash: d.crashCommit && strings.HasSuffix(rel, ".parquet")}, nil
}

func (f *crashFile) Commit() error {
	if f.crash {
		runtime.Goexit() // the temporary file stays, as after a kill
	}
	return f.File.Commit()
}

func TestExportFailuresCSV(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	src := newFakeSource(testRecords()...)
	rep, err := newTestExporter(dest).Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, filepath.FromSlash(wantFailures))
	if rep.Failures != want {
		t.Errorf("Failures = %q, want %q", rep.Failures, want)
	}
	rows := exporttest.Query(t, "SELECT client_id, state, reject_reason, error_code, front FROM read_csv("+
		exporttest.Quote(want)+", all_varchar=true) ORDER BY client_id")
	wantRows := []map[string]any{
		{"client_id": "c-failed", "state": "failed", "reject_reason": nil, "error_code": "MAX_RETRIES", "front": "s3://legacy/customers/c-failed/front.jpg"},
		{"client_id": "c-rejected", "state": "rejected", "reject_reason": "too_small", "error_code": nil, "front": "s3://legacy/customers/c-rejected/front.jpg"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("failures.csv via DuckDB:\n got %v\nwant %v", rows, wantRows)
	}
	// Hive-style readers of the Parquet never see it.
	n := exporttest.Query(t, "SELECT count(*) AS n FROM read_parquet("+exporttest.Quote(root+"/**/*.parquet")+", hive_partitioning=true)")
	if n[0]["n"] != 6.0 {
		t.Errorf("parquet rows %v, want 6", n[0]["n"])
	}
	// No failures: no CSV.
	dest2, root2 := localDestination(t)
	if rep, err := newTestExporter(dest2).Export(t.Context(), newFakeSource(testRecords()[:3]...)); err != nil || rep.Failures != "" {
		t.Fatalf("export of 3 approved-like records: %+v %v", rep, err)
	}
	for _, f := range files(t, root2) {
		if strings.HasSuffix(f, ".csv") {
			t.Errorf("failures file %s without failures", f)
		}
	}
}

// A second Export of the same run never replaces the first file.
func TestExportSameRunTwice(t *testing.T) {
	t.Parallel()
	dest, root := localDestination(t)
	recs := manyRecords(20)
	src := newFakeSource(recs[:10]...)
	e := newTestExporter(dest)
	if _, err := e.Export(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	src.recs = append(src.recs, recs[10:]...)
	rep, err := e.Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "job=legacy-2019", "dt=2025-03-04", "part-run-1-w0-2.parquet"); !slices.Equal(rep.Files, []string{want}) {
		t.Errorf("second file %v, want %s", rep.Files, want)
	}
	assertExactlyOnce(t, root, 20)
}

func TestExporterConfigErrors(t *testing.T) {
	dest, _ := localDestination(t)
	src := newFakeSource(testRecords()...)
	for name, e := range map[string]*Exporter{
		"no dest":     {Job: testJob, RunID: "r"},
		"no job":      {Dest: dest, RunID: "r"},
		"no run":      {Dest: dest, Job: testJob},
		"compression": {Dest: dest, Job: testJob, RunID: "r", Compression: "lzma"},
	} {
		if _, err := e.Export(t.Context(), src); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if src.listCalls != 0 {
		t.Errorf("List called on a misconfigured exporter")
	}
}

func TestPartPath(t *testing.T) {
	e := &Exporter{Job: "legacy/2019 a=b", RunID: "20250304T230000Z/1", Worker: "pod 3"}
	got := e.partPath(exportNow)
	want := "job=legacy%2F2019 a%3Db/dt=2025-03-04/part-20250304T230000Z_1-pod_3.parquet"
	if got != want {
		t.Errorf("partPath = %q, want %q", got, want)
	}
	e.Worker = ""
	if got := e.partPath(exportNow); !strings.HasSuffix(got, "-0.parquet") {
		t.Errorf("default worker: %q", got)
	}
}

func TestRowFromRecord(t *testing.T) {
	recs := testRecords()
	row := RowFromRecord(recs[0], "run-x", exportNow)
	if row.DocDOB == nil || *row.DocDOB != 7441 { // 1990-05-17
		t.Errorf("DocDOB = %v, want 7441", row.DocDOB)
	}
	if row.ExportedAt == nil || *row.ExportedAt != exportNow.UnixMicro() {
		t.Errorf("ExportedAt = %v", row.ExportedAt)
	}
	if strings.Contains(row.RawResult, "fileUrls") || strings.Contains(row.RawResult, "Signature") {
		t.Errorf("raw_result keeps the pre-signed URLs: %s", row.RawResult)
	}

	// An end-state record whose Store row lacks an outcome still gets one.
	r := recs[3]
	r.Outcome = ""
	if got := RowFromRecord(r, "x", exportNow).Outcome; got != "REJECTED" {
		t.Errorf("outcome %q, want REJECTED", got)
	}
	r = recs[5]
	r.Outcome = ""
	r.Result.Overall = "EXPIRED-DELETED"
	if got := RowFromRecord(r, "x", exportNow).Outcome; got != "EXPIRED" {
		t.Errorf("outcome %q, want EXPIRED", got)
	}

	// A raw result without fileUrls is kept byte for byte.
	raw := `{"b":1,  "a":"fileUrls"}`
	if got := rawResult([]byte(raw)); got != raw {
		t.Errorf("rawResult rewrote %s to %s", raw, got)
	}
	for in, want := range map[string]int32{"1970-01-01": 0, "1969-12-31": -1, "2000-02-29": 11016} {
		if d := days(in); d == nil || *d != want {
			t.Errorf("days(%s) = %v, want %d", in, d, want)
		}
	}
	for _, in := range []string{"", "1990-5-17", "17.05.1990", "1990-02-30"} {
		if d := days(in); d != nil {
			t.Errorf("days(%q) = %d, want nil", in, *d)
		}
	}
}

func TestWriteFailuresCSV(t *testing.T) {
	recs := testRecords()
	rej := recs[3]
	rej.Input.FirstName, rej.Input.DateOfBirth = "Ona", "1990-05-17"
	rej.Input.Extra = map[string]string{"segment": "retail"}
	var buf bytes.Buffer
	if err := WriteFailuresCSV(&buf, []pipeline.Record{rej, recs[4]}); err != nil {
		t.Fatal(err)
	}
	want := "client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face,utility_bill,segment," +
		"line,state,reject_reason,error_code,error_message,scan_ref\n" +
		"c-rejected,Ona,Last,1990-05-17,LT,ID_CARD,s3://legacy/customers/c-rejected/front.jpg,,,,retail,5,rejected,too_small,,,\n" +
		"c-failed,First,Last,,LT,ID_CARD,s3://legacy/customers/c-failed/front.jpg,s3://legacy/customers/c-failed/back.jpg," +
		`s3://legacy/customers/c-failed/face.jpg,,,6,failed,,MAX_RETRIES,"process: 503 Service Unavailable, retries exhausted",scan-failed` + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// TestWriteFailuresCSVExtraColumns: extra columns are the sorted union over
// the records (names of manifest or reason columns are not repeated), each
// quoted on its own, and empty where a record lacks them.
func TestWriteFailuresCSVExtraColumns(t *testing.T) {
	recs := testRecords()
	a, b, c := recs[3], recs[4], recs[3]
	a.Input.Extra = map[string]string{"zone": "n, e", "line": "99"}
	b.Input.Extra = nil
	c.Input.ClientID, c.Line = " c3", 0
	c.Input.Extra = map[string]string{"alpha": `say "hi"`}
	var buf bytes.Buffer
	if err := WriteFailuresCSV(&buf, []pipeline.Record{a, b, c}); err != nil {
		t.Fatal(err)
	}
	want := "client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face,utility_bill,alpha,zone," +
		"line,state,reject_reason,error_code,error_message,scan_ref\n" +
		"c-rejected,First,Last,,LT,ID_CARD,s3://legacy/customers/c-rejected/front.jpg,,,,,\"n, e\",5,rejected,too_small,,,\n" +
		"c-failed,First,Last,,LT,ID_CARD,s3://legacy/customers/c-failed/front.jpg,s3://legacy/customers/c-failed/back.jpg," +
		`s3://legacy/customers/c-failed/face.jpg,,,,6,failed,,MAX_RETRIES,"process: 503 Service Unavailable, retries exhausted",scan-failed` + "\n" +
		`" c3",First,Last,,LT,ID_CARD,s3://legacy/customers/c-rejected/front.jpg,,,,"say ""hi""",,,rejected,too_small,,,` + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}
