package export

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
)

// genSource is a Source that generates n realistic end-state records on the
// fly (deterministic from the id), so that the writer, not a fixture held in
// memory, is what a benchmark measures.
type genSource struct{ n int64 }

func (g genSource) List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	out := make([]pipeline.Record, 0, min(int64(q.Limit), max(g.n-q.AfterID, 0)))
	for id := q.AfterID + 1; id <= g.n && len(out) < q.Limit; id++ {
		out = append(out, genRecord(id))
	}
	return out, nil
}

func (g genSource) MarkExported(context.Context, []int64, time.Time) error { return nil }

var (
	genOverall   = []string{"APPROVED", "APPROVED", "APPROVED", "DENIED", "SUSPECTED", "EXPIRED"}
	genCountries = []string{"LT", "LV", "EE", "PL", "DE", "FR", "ES", "IT"}
	genNames     = []string{"JONAS", "ONA", "PETRAS", "RUTA", "ANNA", "PAUL", "MARIA", "JAN", "EVA", "TOMAS"}
)

func genRecord(id int64) pipeline.Record {
	r := rand.New(rand.NewPCG(uint64(id), 7))
	client := "cust-" + pad(strconv.FormatInt(id, 10), 9)
	rec := pipeline.Record{
		ID: id, Job: "bench", Key: client, Line: int(id) + 1,
		Input: pipeline.Input{ClientID: client, Country: genCountries[r.IntN(len(genCountries))], DocumentType: "ID_CARD",
			Sources: map[pipeline.Side]string{
				pipeline.SideFront: "s3://legacy/customers/" + client + "/front.jpg",
				pipeline.SideBack:  "s3://legacy/customers/" + client + "/back.jpg",
				pipeline.SideFace:  "s3://legacy/customers/" + client + "/face.jpg",
			}},
		Attempts: 1, SubmittedAt: time.Unix(1735689600+id*3, 0), ResultAt: time.Unix(1735689600+id*3+1800, 0),
	}
	if r.IntN(20) == 0 {
		rec.State, rec.Outcome, rec.RejectReason = pipeline.StateRejected, pipeline.OutcomeRejected, pipeline.RejectTooSmall
		rec.SubmittedAt, rec.ResultAt = time.Time{}, time.Time{}
		return rec
	}
	h := func() string {
		b := make([]byte, 0, 64)
		for range 4 {
			b = appendHex(b, r.Uint64(), 16)
		}
		return string(b)
	}
	rec.Hashes = map[pipeline.Side]string{pipeline.SideFront: h(), pipeline.SideBack: h(), pipeline.SideFace: h()}
	overall := genOverall[r.IntN(len(genOverall))]
	rec.State, rec.Outcome = pipeline.StateFinal, pipeline.Outcome(overall)
	rec.ScanRef = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.IntN(4096), r.IntN(4096), r.Uint64()&0xffffffffffff)
	first, last := genNames[r.IntN(len(genNames))], genNames[r.IntN(len(genNames))]+"AITIS"
	dob := fmt.Sprintf("%04d-%02d-%02d", 1950+r.IntN(55), 1+r.IntN(12), 1+r.IntN(28))
	res := &pipeline.Result{
		ScanRef: rec.ScanRef, ClientID: client, Final: true, Source: "webhook", Overall: overall,
		AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MATCH", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MATCH",
		FraudTags: []string{}, MismatchTags: []string{}, SuspicionReasons: []string{},
		DocFirstName: first, DocLastName: last, DocNumber: fmt.Sprintf("AB%07d", r.IntN(1e7)),
		DocPersonalCode: fmt.Sprintf("%011d", r.Int64N(1e11)), DocDOB: dob, DocExpiry: "2031-12-31", DocDateOfIssue: "2021-01-04",
		DocType: "ID_CARD", DocSex: "FEMALE", DocNationality: rec.Input.Country, DocIssuingCountry: rec.Input.Country,
		SelectedCountry: rec.Input.Country, AMLStatus: "NOT_CHECKED", AMLHits: []string{}, AgeEstimate: "OVER_25",
		ClientIPProxyRiskLevel: "LOW",
	}
	if overall == "SUSPECTED" {
		res.FraudTags, res.SuspicionReasons = []string{"AUTO_DOC_FRAUD"}, []string{"FACE_SUSPECTED"}
	}
	// The raw result is what json.Marshal makes of the result's map (keys
	// sorted), built by hand: this generator stands in for the Store, and
	// encoding/json here cost more CPU than the writer it feeds.
	raw := make([]byte, 0, 512)
	raw = append(raw, `{"clientId":"`...)
	raw = append(raw, client...)
	raw = append(raw, `","data":{"docDob":"`...)
	raw = append(raw, dob...)
	raw = append(raw, `","docFirstName":"`...)
	raw = append(raw, first...)
	raw = append(raw, `","docLastName":"`...)
	raw = append(raw, last...)
	raw = append(raw, `","docNationality":"`...)
	raw = append(raw, rec.Input.Country...)
	raw = append(raw, `","docNumber":"`...)
	raw = append(raw, res.DocNumber...)
	raw = append(raw, `","docPersonalCode":"`...)
	raw = append(raw, res.DocPersonalCode...)
	raw = append(raw, `"},"final":true,"platform":"API","scanRef":"`...)
	raw = append(raw, rec.ScanRef...)
	raw = append(raw, `","status":{"autoDocument":"DOC_VALIDATED","autoFace":"FACE_MATCH","fraudTags":[]`...)
	raw = append(raw, `,"manualDocument":"DOC_VALIDATED","manualFace":"FACE_MATCH","mismatchTags":[],"overall":"`...)
	raw = append(raw, overall...)
	raw = append(raw, `"}}`...)
	res.Raw = raw
	rec.Result = res
	return rec
}

// appendHex appends v in hexadecimal, zero-padded to width digits (as %0*x).
func appendHex(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	d := strconv.AppendUint(tmp[:0], v, 16)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// pad left-pads s with zeros to width (as %0*d for a non-negative number).
func pad(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}

const (
	envBenchChild = "IDBATCH_BENCH_CHILD" // set in the child: the output directory
	envBenchRows  = "IDBATCH_BENCH_ROWS"
)

// TestBenchChild is the child process of BenchmarkExportVsDuckDB: it exports
// the generated rows with the Exporter's settings. Inert unless the
// benchmark started it.
func TestBenchChild(t *testing.T) {
	dir := os.Getenv(envBenchChild)
	if dir == "" {
		return
	}
	// The runtime settings of cmd/idbatch's main, which runs exports.
	debug.SetMemoryLimit(300 << 20)
	debug.SetGCPercent(50)
	n, _ := strconv.ParseInt(os.Getenv(envBenchRows), 10, 64)
	d, err := OpenDestination(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &Exporter{Dest: d, Job: "bench", RunID: "bench", Compression: os.Getenv("IDBATCH_BENCH_CODEC")}
	if _, err := e.Export(context.Background(), genSource{n: n}); err != nil {
		t.Fatal(err)
	}
}

type benchRun struct {
	secs  float64
	bytes int64
	rss   int64 // peak resident set, bytes
}

func runMeasured(b *testing.B, cmd *exec.Cmd, out string) benchRun {
	b.Helper()
	cmd.Stderr = os.Stderr
	start := time.Now()
	if o, err := cmd.Output(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, o)
	}
	r := benchRun{secs: time.Since(start).Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = int64(ru.Maxrss) * 1024 // kilobytes on Linux
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	r.bytes = st.Size()
	return r
}

// BenchmarkExportVsDuckDB writes the same rows (1,000,000 by default;
// $IDBATCH_BENCH_ROWS) with idbatch's Exporter (zstd, dictionary on the
// low-cardinality columns, PLAIN strings, page v1, 128Ki-row groups) and
// with DuckDB's COPY ... (FORMAT PARQUET, COMPRESSION ZSTD), each in its own
// process, and reports rows per second, file size and peak RSS of both, and
// their ratios. DuckDB reads the rows from an uncompressed Parquet file
// written beforehand by the Exporter (same rows, not timed).
//
//	go test ./export -run '^$' -bench ExportVsDuckDB -benchtime 1x
func BenchmarkExportVsDuckDB(b *testing.B) {
	node, script := exporttest.Available(b)
	n := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv(envBenchRows), 10, 64); err == nil && v > 0 {
		n = v
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	part := filepath.Join("job=bench", "dt="+time.Now().UTC().Format(time.DateOnly), "part-bench-0.parquet")
	child := func(dir, codec string) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^TestBenchChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envBenchChild+"="+dir, envBenchRows+"="+strconv.FormatInt(n, 10), "IDBATCH_BENCH_CODEC="+codec)
		return cmd
	}
	srcDir := filepath.Join(tmp, "source")
	runMeasured(b, child(srcDir, "none"), filepath.Join(srcDir, part))
	source := filepath.Join(srcDir, part)

	for b.Loop() {
		ours := filepath.Join(tmp, fmt.Sprintf("ours-%d", time.Now().UnixNano()))
		og := runMeasured(b, child(ours, "zstd"), filepath.Join(ours, part))
		duckOut := filepath.Join(tmp, fmt.Sprintf("duck-%d.parquet", time.Now().UnixNano()))
		cmd := exec.Command(node, script, "COPY (SELECT * FROM read_parquet("+exporttest.Quote(source)+")) TO "+
			exporttest.Quote(duckOut)+" (FORMAT PARQUET, COMPRESSION ZSTD); SELECT 1 AS ok")
		dk := runMeasured(b, cmd, duckOut)

		ourRate, duckRate := float64(n)/og.secs, float64(n)/dk.secs
		b.ReportMetric(ourRate, "idbatch_rows/s")
		b.ReportMetric(duckRate, "duckdb_rows/s")
		b.ReportMetric(ourRate/duckRate, "speed_x_duckdb")
		b.ReportMetric(float64(og.bytes)/1e6, "idbatch_MB")
		b.ReportMetric(float64(dk.bytes)/1e6, "duckdb_MB")
		b.ReportMetric(float64(og.bytes)/float64(dk.bytes), "size_x_duckdb")
		b.ReportMetric(float64(og.rss)/1e6, "idbatch_rss_MB")
		b.ReportMetric(float64(dk.rss)/1e6, "duckdb_rss_MB")
		b.ReportMetric(float64(og.rss)/float64(dk.rss), "rss_x_duckdb")
		b.Logf("%d rows: idbatch %.1f s, %d B, peak RSS %d MB; DuckDB %.1f s, %d B, peak RSS %d MB",
			n, og.secs, og.bytes, og.rss>>20, dk.secs, dk.bytes, dk.rss>>20)
	}
}
