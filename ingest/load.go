package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// loadBatch is how many records Load hands the Store at once: larger
// batches load faster (fewer commits).
const loadBatch = 10000

// Load streams src's records of job into st in batches of loadBatch
// (Store.Load, at now) and returns the load statistics: the Store's counts
// summed, the rows read and the rows the source rejected, by reason.
// LoadStats.KeptKeys is left empty: they are client ids, personal data
// that the summary must not hold. The images are not fetched (src.Objects
// does that later). A source or Store error stops the load; the batches
// loaded before it stay loaded, and loading again is harmless (Store.Load
// is idempotent).
func Load(ctx context.Context, src *Source, st pipeline.Store, job string, now time.Time) (pipeline.LoadStats, error) {
	total := pipeline.LoadStats{RejectedBy: map[string]int{}}
	batch := make([]pipeline.Record, 0, loadBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ls, err := st.Load(ctx, job, batch, now)
		if err != nil {
			return fmt.Errorf("load manifest into store: %w", err)
		}
		total.Inserted += ls.Inserted
		total.Updated += ls.Updated
		total.Unchanged += ls.Unchanged
		total.Kept += ls.Kept
		total.NewRejects += ls.NewRejects
		batch = batch[:0]
		return nil
	}
	err := src.Read(job, func(r pipeline.Record) error {
		total.Rows++
		if r.State == pipeline.StateRejected {
			total.RejectedBy[r.RejectReason]++
		}
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return total, err
	}
	return total, flush()
}
