package sqlitestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

// BenchmarkLoad loads fresh manifest records in batches of 1,000 (and
// 10,000) into a growing database; reports rows/s. Use -benchtime 300x for a
// database of 300,000 records.
func BenchmarkLoad(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			s := openTemp(b)
			n := 0
			for b.Loop() {
				b.StopTimer()
				recs := storetest.Records("bench", n, batch)
				b.StartTimer()
				st, err := s.Load(ctx, "bench", recs, storetest.T0)
				if err != nil || st.Inserted != batch {
					b.Fatalf("%+v, %v", st, err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkReload reloads an unchanged batch of 1000 (a rerun of the job).
func BenchmarkReload(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	const batch = 1000
	recs := storetest.Records("bench", 0, batch)
	if _, err := s.Load(ctx, "bench", recs, storetest.T0); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		st, err := s.Load(ctx, "bench", recs, storetest.T0)
		if err != nil || st.Unchanged != batch {
			b.Fatalf("%+v, %v", st, err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkClaimTransition: the submit path's share of the Store (claim,
// then pending→tokening→tokened→submitted, a commit each, fsynced), with 4
// concurrent workers; compared with the API's 10,000 requests/hour.
func BenchmarkClaimTransition(b *testing.B) {
	storetest.BenchClaimTransition(b, openTemp(b), 4)
}

// BenchmarkClaimDeep claims from a job whose first 200,000 records are
// done: a claim must not walk them.
func BenchmarkClaimDeep(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	for i := 0; i < 210000; i += 1000 {
		if _, err := s.Load(ctx, "bench", storetest.Records("bench", i, 1000), storetest.T0); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE records SET state = 'final' WHERE id <= 200000`); err != nil {
		b.Fatal(err)
	}
	now := storetest.T0
	for b.Loop() {
		now = now.Add(2 * time.Minute) // earlier leases expired
		recs, err := s.Claim(ctx, pipeline.ClaimRequest{Job: "bench", States: []pipeline.State{pipeline.StatePending, pipeline.StateTokened},
			Owner: "bench", Limit: 100, Lease: time.Minute, Now: now})
		if err != nil || len(recs) != 100 || recs[0].ID != 200001 {
			b.Fatalf("claimed %d: %v", len(recs), err)
		}
	}
}
