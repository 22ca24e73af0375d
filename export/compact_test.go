package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/idbatch/idbatch/export/exporttest"
)

// exportSmallFiles exports n records in k exports of n/k records each, on
// day, into dest: k small part files in one partition.
func exportSmallFiles(t *testing.T, dest Destination, n, k int, day time.Time) *fakeSource {
	t.Helper()
	recs := manyRecords(n)
	src := newFakeSource()
	for i := range k {
		src.mu.Lock()
		src.recs = append(src.recs, recs[i*n/k:(i+1)*n/k]...)
		src.mu.Unlock()
		e := &Exporter{Dest: dest, Job: testJob, RunID: fmt.Sprintf("run-%02d", i), Worker: "w0", Now: func() time.Time { return day }}
		if _, err := e.Export(t.Context(), src); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

var pastDay = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func compactor(dest Destination) *Exporter {
	return &Exporter{Dest: dest, Job: testJob, RunID: "run-c", Worker: "w0", Now: fixedNow}
}

// globRows counts the rows of job=*/dt=*/*.parquet under root, as a reader
// that lists then reads would; ok is false if a listed file vanished before
// it was opened (a reader error, never a wrong count).
func globRows(root string) (rows int64, ok bool) {
	matches, _ := filepath.Glob(filepath.Join(root, "job=*", "dt=*", "*.parquet"))
	for _, m := range matches {
		f, err := os.Open(m)
		if err != nil {
			return 0, false
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			f.Close()
			return 0, false
		}
		rows += pf.NumRows()
		f.Close()
	}
	return rows, true
}

func TestCompactLocalAtomic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("atomic local compaction needs Linux")
	}
	t.Parallel()
	const n, k = 120, 12
	dest, root := localDestination(t)
	exportSmallFiles(t, dest, n, k, pastDay)
	// Today's partition is never touched.
	todaySrc := newFakeSource(manyRecords(n + 5)[n:]...)
	if _, err := newTestExporter(dest).Export(t.Context(), todaySrc); err != nil {
		t.Fatal(err)
	}
	const total = n + 5

	// A reader lists and counts all the time the compaction runs.
	var stop atomic.Bool
	var reads, wrong, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			rows, ok := globRows(root)
			switch {
			case !ok:
				failed.Add(1)
			case rows != total:
				wrong.Add(1)
			}
			reads.Add(1)
		}
	})
	rep, err := compactor(dest).Compact(t.Context(), CompactOptions{Threshold: 4})
	for reads.Load() < 20 { // let the reader overlap at least a few swaps' worth of time
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if wrong.Load() != 0 {
		t.Errorf("%d of %d listings saw a row count other than %d (missing or doubled rows)", wrong.Load(), reads.Load(), total)
	}
	t.Logf("%d listings during compaction, %d failed to open a listed file", reads.Load(), failed.Load())
	if !slices.Equal(rep.Partitions, []string{"job=legacy-2019/dt=2025-03-01"}) || rep.Merged != k || rep.Rows != n {
		t.Fatalf("report %+v", rep)
	}
	var inPast []string
	for _, f := range files(t, root) {
		if strings.HasPrefix(f, "job=legacy-2019/dt=2025-03-01/") {
			inPast = append(inPast, f)
		}
		if strings.Contains(f, "_compact") {
			t.Errorf("left behind: %s", f)
		}
	}
	if len(inPast) != 1 || !strings.Contains(inPast[0], "compacted") {
		t.Errorf("past partition holds %v, want one compacted file", inPast)
	}
	rows := exporttest.Query(t, "SELECT dt::VARCHAR AS dt, count(*) AS n, count(DISTINCT client_id) AS clients, count(DISTINCT run_id) AS runs FROM read_parquet("+
		exporttest.Quote(root+"/job=*/dt=*/*.parquet")+", hive_partitioning=true) GROUP BY ALL ORDER BY dt")
	want := []map[string]any{
		{"dt": "2025-03-01", "n": float64(n), "clients": float64(n), "runs": float64(k)},
		{"dt": "2025-03-04", "n": 5.0, "clients": 5.0, "runs": 1.0},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("DuckDB after compaction: %v, want %v", rows, want)
	}

	// Below the threshold nothing happens.
	rep, err = compactor(dest).Compact(t.Context(), CompactOptions{Threshold: 4})
	if err != nil || len(rep.Partitions) != 0 {
		t.Errorf("second compaction: %+v %v, want nothing", rep, err)
	}
}

// dieOnDelete makes the first Delete of a .parquet file "kill" the process.
type dieOnDelete struct {
	Destination
	armed atomic.Bool
}

func (d *dieOnDelete) Delete(ctx context.Context, rels ...string) error {
	if d.armed.Load() && len(rels) > 0 && strings.HasSuffix(rels[0], ".parquet") {
		d.armed.Store(false)
		runtime.Goexit()
	}
	return d.Destination.Delete(ctx, rels...)
}

// On S3 a crash between the upload of the merged file and the deletion of
// its sources leaves both; the next Compact finishes the job from its
// journal, and the rows are then there exactly once.
func TestCompactS3CrashResumes(t *testing.T) {
	t.Parallel()
	const n, k = 60, 6
	c, _ := fakeS3(t)
	s3d, err := OpenDestination(t.Context(), "s3://bucket/exports/", c)
	if err != nil {
		t.Fatal(err)
	}
	exportSmallFiles(t, s3d, n, k, pastDay)
	dest := &dieOnDelete{Destination: s3d}
	dest.armed.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = compactor(dest).Compact(context.Background(), CompactOptions{Threshold: 2})
	}()
	<-done
	count := func() (parts int, journals int) {
		for _, key := range listKeys(t, c) {
			switch {
			case strings.Contains(key, "/dt=2025-03-01/") && strings.HasSuffix(key, ".parquet"):
				parts++
			case strings.Contains(key, "_compact/"):
				journals++
			}
		}
		return
	}
	if p, j := count(); p != k+1 || j != 1 {
		t.Fatalf("after the crash: %d part files, %d journals; want %d and 1", p, j, k+1)
	}
	rep, err := compactor(s3d).Compact(t.Context(), CompactOptions{Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Partitions) != 0 {
		t.Errorf("the resumed compaction compacted again: %+v", rep)
	}
	if p, j := count(); p != 1 || j != 0 {
		t.Fatalf("after resuming: %d part files, %d journals; want 1 and 0", p, j)
	}
	var key string
	for _, k := range listKeys(t, c) {
		if strings.HasSuffix(k, ".parquet") {
			key = k
		}
	}
	local := filepath.Join(t.TempDir(), "compacted.parquet")
	if err := os.WriteFile(local, getObject(t, c, key), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := exporttest.Query(t, "SELECT count(*) AS n, count(DISTINCT client_id) AS clients FROM read_parquet("+exporttest.Quote(local)+")")
	if rows[0]["n"] != float64(n) || rows[0]["clients"] != float64(n) {
		t.Errorf("DuckDB on the compacted object: %v, want %d rows, one per client", rows[0], n)
	}
}

// Locally, a crash after the merged file is staged but before the swap
// leaves the partition as it was; the next Compact discards the staging and
// compacts again.
func TestCompactLocalCrashBeforeSwap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("atomic local compaction needs Linux")
	}
	t.Parallel()
	const n, k = 40, 5
	local, root := localDestination(t)
	exportSmallFiles(t, local, n, k, pastDay)
	dest := &crashDest{Destination: local, crashCommit: true} // the merged file's commit "kills" the process
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = compactor(dest).Compact(context.Background(), CompactOptions{Threshold: 2})
	}()
	<-done
	if rows, ok := globRows(root); !ok || rows != n {
		t.Fatalf("after the crash: %d rows (ok %v), want %d", rows, ok, n)
	}
	rep, err := compactor(local).Compact(t.Context(), CompactOptions{Threshold: 2})
	if err != nil || rep.Merged != k {
		t.Fatalf("compaction after the crash: %+v %v", rep, err)
	}
	for _, f := range files(t, root) {
		if strings.Contains(f, "_compact") {
			t.Errorf("left behind: %s", f)
		}
	}
	assertExactlyOnce(t, root, n)
}
