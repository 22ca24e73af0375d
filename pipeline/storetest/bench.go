package storetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// AnchorRequestsPerSecond is the iDenfy API's default ceiling, 10,000
// requests per hour: the throughput a Store must exceed a hundredfold so
// that it is never the bottleneck.
const AnchorRequestsPerSecond = 10000.0 / 3600

// BenchRows is the size of the manifest BenchLoadManifest loads:
// IDBATCH_BENCH_ROWS, default 1,000,000.
func BenchRows() int {
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

// BenchLoadManifest loads a generated CSV manifest of BenchRows() records
// into a fresh Store per iteration, the way `idbatch run` does: the manifest
// is produced on the fly and streamed through ingest.ReadManifest into
// Store.Load in batches of 10,000, never held whole. It reports rows/s and
// the process's peak RSS during the load (run it alone: -run '^$' -bench
// LoadManifest -benchtime 1x).
func BenchLoadManifest(b *testing.B, open func(b *testing.B) pipeline.Store) {
	n := BenchRows()
	var loaded int
	var peak int64
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		runtimeGC()
		resetPeakRSS()
		b.StartTimer()
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeManifest(pw, n)) }()
		batch := make([]pipeline.Record, 0, 10000)
		var total pipeline.LoadStats
		flush := func() error {
			st, err := s.Load(context.Background(), "bench", batch, T0)
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

// BenchClaimTransition measures the Store's share of submitting records:
// workers goroutines (each its own lease owner) claim batches of 16 pending
// records and move each through the three compare-and-set transitions of
// the submit path (pending→tokening with the intent, tokening→tokened with
// the token, tokened→submitted), each its own commit. It reports
// transitions/s, records/s, and the ratio of transitions/s to the API's
// ceiling of 10,000 requests/hour (x-anchor; the Store must be ≥ 100).
func BenchClaimTransition(b *testing.B, s pipeline.Store, workers int) {
	ctx := context.Background()
	const batch, perLoad = 16, 10000
	var (
		mu          sync.Mutex
		loaded      int
		transitions int
		records     int
		start       = T0
	)
	load := func() {
		if _, err := s.Load(ctx, "bench", Records("bench", loaded, perLoad), start); err != nil {
			b.Fatal(err)
		}
		loaded += perLoad
	}
	load()
	b.ResetTimer()
	for b.Loop() {
		// One iteration: each worker claims one batch and submits it.
		if records+workers*batch > loaded {
			b.StopTimer()
			load()
			b.StartTimer()
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := "bench-" + strconv.Itoa(w)
				recs, err := s.Claim(ctx, pipeline.ClaimRequest{Job: "bench", States: []pipeline.State{pipeline.StatePending, pipeline.StateTokened},
					Owner: owner, Limit: batch, Lease: 10 * time.Minute, Now: start})
				if err != nil {
					b.Error(err)
					return
				}
				n := 0
				for _, r := range recs {
					now := start
					tr := pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: pipeline.StateTokening, Now: now,
						Patch: pipeline.Patch{IntentAt: &now, Attempts: new(1), KeepLease: true}}
					if err := s.Transition(ctx, tr); err != nil {
						b.Error(err)
						return
					}
					scan, tok, exp := fmt.Sprintf("SCAN-%d", r.ID), "tok", now.Add(15*time.Minute)
					tr = pipeline.Transition{ID: r.ID, From: pipeline.StateTokening, Version: r.Version + 1, To: pipeline.StateTokened, Now: now,
						Patch: pipeline.Patch{ScanRef: &scan, AuthToken: &tok, TokenExpiresAt: &exp, KeepLease: true}}
					if err := s.Transition(ctx, tr); err != nil {
						b.Error(err)
						return
					}
					tr = pipeline.Transition{ID: r.ID, From: pipeline.StateTokened, Version: r.Version + 2, To: pipeline.StateSubmitted, Now: now,
						Patch: pipeline.Patch{SubmittedAt: &now}}
					if err := s.Transition(ctx, tr); err != nil {
						b.Error(err)
						return
					}
					n++
				}
				mu.Lock()
				records += n
				transitions += 3 * n
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(transitions)/secs, "transitions/s")
	b.ReportMetric(float64(records)/secs, "records/s")
	b.ReportMetric(float64(transitions)/secs/AnchorRequestsPerSecond, "x-anchor")
}
