package storebench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

// BenchmarkLoadManifest streams a generated manifest of 1,000,000 rows
// (IDBATCH_BENCH_ROWS) through ingest.ReadManifest into Load in batches of
// 10,000, as idbatch run does, on each Store; reports rows/s and peak RSS.
// Run one alone:
//
//	go test -run '^$' -bench LoadManifest/sqlite -benchtime 1x ./pipeline/storebench
//	go test -run '^$' -bench LoadManifest/pg -benchtime 1x ./pipeline/storebench
func BenchmarkLoadManifest(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchLoadManifest(b, func(b *testing.B) pipeline.Store {
			s, err := sqlitestore.Open(b.Context(), filepath.Join(b.TempDir(), "idbatch.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
	b.Run("pg", func(b *testing.B) {
		benchLoadManifest(b, func(b *testing.B) pipeline.Store {
			s, err := pgstore.Open(b.Context(), pgtest.DSN(b, 4))
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
}

// benchRows is the size of the manifest benchLoadManifest loads:
// IDBATCH_BENCH_ROWS, default 1,000,000.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("IDBATCH_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// writeManifest writes a CSV manifest of n records, as a customer export
// would look, to w (row by row; nothing is held).
func writeManifest(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintln(bw, "client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face,branch")
	for i := range n {
		fmt.Fprintf(bw, "cust-%08d,Jonas,Jonaitis,1990-01-%02d,LT,ID_CARD,customers/cust-%08d/front.jpg,customers/cust-%08d/back.jpg,customers/cust-%08d/face.jpg,vilnius\n",
			i, i%28+1, i, i, i)
	}
	return bw.Flush()
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes, or -1.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: clear_refs 5).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// benchLoadManifest loads a generated CSV manifest of benchRows() records
// into a fresh Store per iteration, the way `idbatch run` does: the manifest
// is produced on the fly and streamed through ingest.ReadManifest into
// Store.Load in batches of 10,000, never held whole. It reports rows/s and
// the process's peak RSS during the load.
func benchLoadManifest(b *testing.B, open func(b *testing.B) pipeline.Store) {
	n := benchRows()
	var loaded int
	var peak int64
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		runtime.GC()
		resetPeakRSS()
		b.StartTimer()
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeManifest(pw, n)) }()
		batch := make([]pipeline.Record, 0, 10000)
		var total pipeline.LoadStats
		flush := func() error {
			st, err := s.Load(context.Background(), "bench", batch, storetest.T0)
			total.Inserted += st.Inserted
			batch = batch[:0]
			return err
		}
		err := ingest.ReadManifest(pr, ingest.FormatCSV, "bench", func(r pipeline.Record) error {
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		pr.Close()
		if err != nil || total.Inserted != n {
			b.Fatalf("loaded %d of %d: %v", total.Inserted, n, err)
		}
		b.StopTimer()
		peak = max(peak, peakRSS())
		loaded += n
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(loaded)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
}
