package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// AnchorRequestsPerSecond is the iDenfy API's default ceiling, 10,000
// requests per hour: the throughput a Store must exceed a hundredfold so
// that it is never the bottleneck.
const AnchorRequestsPerSecond = 10000.0 / 3600

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
