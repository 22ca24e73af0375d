package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// Concurrent checks that concurrent claims never hand out a record twice,
// that concurrent transitions of one record succeed exactly once, and that
// of owners racing for a lock one gets it, with 8
// goroutines spread over stores (several handles on one database, or one).
func Concurrent(t *testing.T, stores ...pipeline.Store) {
	if len(stores) == 0 {
		t.Fatal("storetest.Concurrent: no store")
	}
	t.Run("Claims", func(t *testing.T) { concurrentClaims(t, stores) })
	t.Run("Transitions", func(t *testing.T) { concurrentTransitions(t, stores) })
	t.Run("Locks", func(t *testing.T) { concurrentLocks(t, stores) })
}

func concurrentClaims(t *testing.T, stores []pipeline.Store) {
	ctx := t.Context()
	const job, total, workers = "concurrent-claims", 2000, 8
	for from := 0; from < total; from += 500 {
		mustLoad(t, stores[0], job, Records(job, from, 500), T0)
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		moved   int
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			owner := fmt.Sprintf("worker-%d", w)
			for {
				recs, err := s.Claim(ctx, pipeline.ClaimRequest{
					Job: job, States: []pipeline.State{pipeline.StatePending}, Owner: owner,
					Limit: 25, Lease: 10 * time.Minute, Now: at(time.Second),
				})
				if err != nil {
					t.Errorf("%s: claim: %v", owner, err)
					return
				}
				if len(recs) == 0 {
					return
				}
				for _, r := range recs {
					mu.Lock()
					if prev, dup := claimed[r.ID]; dup {
						t.Errorf("record %d claimed by %s and %s", r.ID, prev, owner)
					}
					claimed[r.ID] = owner
					mu.Unlock()
					if r.LeaseOwner != owner {
						t.Errorf("claimed record %d has lease owner %q, want %q", r.ID, r.LeaseOwner, owner)
					}
					intent := at(2 * time.Second)
					err := s.Transition(ctx, pipeline.Transition{
						ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: pipeline.StateTokening,
						Now: at(2 * time.Second), Patch: pipeline.Patch{IntentAt: &intent},
					})
					if err != nil {
						t.Errorf("%s: transition of claimed record %d: %v", owner, r.ID, err)
						continue
					}
					mu.Lock()
					moved++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(claimed) != total || moved != total {
		t.Errorf("claimed %d records and moved %d, want %d each", len(claimed), moved, total)
	}
	c := mustCounts(t, stores[len(stores)-1], job)
	if c[pipeline.StateTokening] != total || c[pipeline.StatePending] != 0 {
		t.Errorf("counts after concurrent claims: %v, want %d tokening", c, total)
	}
}

func concurrentTransitions(t *testing.T, stores []pipeline.Store) {
	ctx := t.Context()
	const job, n, workers = "concurrent-transitions", 40, 8
	mustLoad(t, stores[0], job, Records(job, 0, n), T0)
	recs := mustList(t, stores[0], pipeline.ListQuery{Job: job})
	byID := recsByID(recs)
	wins := make([]int, len(recs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			run := fmt.Sprintf("run-%d", w)
			for i, r := range recs {
				// Half the attempts use the version, half only the state:
				// both must let exactly one writer through.
				v := r.Version
				if (i+w)%2 == 0 {
					v = 0
				}
				err := s.Transition(ctx, pipeline.Transition{
					ID: r.ID, From: pipeline.StatePending, Version: v, To: pipeline.StateTokening,
					Now: at(time.Minute), Patch: pipeline.Patch{RunID: &run},
				})
				switch {
				case err == nil:
					mu.Lock()
					wins[i]++
					mu.Unlock()
				case errors.Is(err, pipeline.ErrConflict):
				default:
					t.Errorf("transition %d: %v", r.ID, err)
				}
			}
		}()
	}
	wg.Wait()
	for i, w := range wins {
		if w != 1 {
			t.Errorf("record %d: %d transitions from pending succeeded, want exactly 1", recs[i].ID, w)
		}
	}
	for _, r := range mustList(t, stores[0], pipeline.ListQuery{Job: job}) {
		if r.State != pipeline.StateTokening || r.Version != byID[r.ID].Version+1 {
			t.Errorf("record %d: state %s version %d, want tokening at version+1", r.ID, r.State, r.Version)
		}
	}
}

func recsByID(recs []pipeline.Record) map[int64]pipeline.Record {
	m := make(map[int64]pipeline.Record, len(recs))
	for _, r := range recs {
		m[r.ID] = r
	}
	return m
}

// --- Load ---
