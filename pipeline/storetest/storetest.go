package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// T0 is the suite's clock: every time it writes is T0 plus whole
// microseconds, so that every Store can represent it exactly.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// at returns T0 + d.
func at(d time.Duration) time.Time { return T0.Add(d) }

// Records returns n pending manifest records of job with keys
// "client-<from>" … "client-<from+n-1>", lines from+2 on, and Refs from
// pipeline.RefFor.
func Records(job string, from, n int) []pipeline.Record {
	out := make([]pipeline.Record, n)
	for i := range n {
		key := fmt.Sprintf("client-%d", from+i)
		out[i] = pipeline.Record{
			Job:  job,
			Key:  key,
			Ref:  pipeline.RefFor(job, key),
			Line: from + i + 2,
			Input: pipeline.Input{
				ClientID:     key,
				FirstName:    "Jonas",
				LastName:     "Jonaitis",
				DateOfBirth:  "1990-01-02",
				Country:      "LT",
				DocumentType: "ID_CARD",
				Sources: map[pipeline.Side]string{
					pipeline.SideFront: "customers/" + key + "/front.jpg",
					pipeline.SideFace:  "customers/" + key + "/face.jpg",
				},
				Extra: map[string]string{"branch": "vilnius"},
			},
			State: pipeline.StatePending,
		}
	}
	return out
}

// Run runs the conformance suite. open must return a fresh, empty Store and
// close it when the test ends (t.Cleanup); it is called once per subtest,
// concurrently.
func Run(t *testing.T, open func(t *testing.T) pipeline.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s pipeline.Store)
	}{
		{"LoadIdempotent", testLoadIdempotent},
		{"LoadUpdatesPendingAndRejected", testLoadUpdatesPendingAndRejected},
		{"LoadUpdateBeatsClaimer", testLoadUpdateBeatsClaimer},
		{"LoadKeepsSubmitted", testLoadKeepsSubmitted},
		{"LoadRejectedRows", testLoadRejectedRows},
		{"LoadJobsAreSeparate", testLoadJobsAreSeparate},
		{"ClaimLimitAndOrder", testClaimLimitAndOrder},
		{"ClaimLease", testClaimLease},
		{"ClaimNotBefore", testClaimNotBefore},
		{"ClaimStates", testClaimStates},
		{"TransitionCompareAndSet", testTransitionCompareAndSet},
		{"TransitionPatch", testTransitionPatch},
		{"ScanRefUnique", testScanRefUnique},
		{"Lookups", testLookups},
		{"ResultRoundTrip", testResultRoundTrip},
		{"ListPaging", testListPaging},
		{"ListFilters", testListFilters},
		{"MarkExported", testMarkExported},
		{"Counts", testCounts},
		{"Runs", testRuns},
		{"ResultNeverBackwards", testResultNeverBackwards},
		{"IntentsAndOrphans", testIntentsAndOrphans},
		{"Locks", testLocks},
		{"Workers", testWorkers},
		{"ClaimDeadOwner", testClaimDeadOwner},
		{"Stats", testStats},
		{"LockOfDeadWorker", testLockOfDeadWorker},
		{"Budget", testBudget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		Concurrent(t, open(t))
	})
}

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

func testLoadIdempotent(t *testing.T, s pipeline.Store) {
	const job = "load"
	recs := Records(job, 0, 50)
	recs[7].State = pipeline.StateRejected
	recs[7].RejectReason = pipeline.RejectBadCountry
	recs[7].ErrorMessage = "country \"XX\" is not ISO 3166 alpha-2"
	recs[7].Input.Country = "XX"

	st := mustLoad(t, s, job, recs, T0)
	if st.Inserted != 50 || st.Updated != 0 || st.Unchanged != 0 || st.Kept != 0 {
		t.Fatalf("first load: %+v, want 50 inserted", st)
	}
	first := mustList(t, s, pipeline.ListQuery{Job: job})
	if len(first) != 50 {
		t.Fatalf("listed %d records, want 50", len(first))
	}
	for i, r := range first {
		want := recs[i]
		if i > 0 && r.ID <= first[i-1].ID {
			t.Errorf("List not in id order: %d after %d", r.ID, first[i-1].ID)
		}
		if r.Job != job || r.Key != want.Key || r.Ref != want.Ref || r.Line != want.Line {
			t.Errorf("record %d: job/key/ref/line = %q %q %q %d, want %q %q %q %d",
				r.ID, r.Job, r.Key, r.Ref, r.Line, job, want.Key, want.Ref, want.Line)
		}
		if !reflect.DeepEqual(r.Input, want.Input) {
			t.Errorf("record %d: input %+v, want %+v", r.ID, r.Input, want.Input)
		}
		if r.State != want.State || r.RejectReason != want.RejectReason || r.ErrorMessage != want.ErrorMessage {
			t.Errorf("record %d: state %q reason %q message %q, want %q %q %q",
				r.ID, r.State, r.RejectReason, r.ErrorMessage, want.State, want.RejectReason, want.ErrorMessage)
		}
		if r.Version <= 0 || r.Attempts != 0 || r.LeaseOwner != "" || !r.LeaseUntil.IsZero() ||
			r.ScanRef != "" || r.Result != nil || !r.ExportedAt.IsZero() || !r.NotBefore.IsZero() {
			t.Errorf("record %d: fresh record has version %d attempts %d lease %q/%v scanRef %q result %v exported %v notBefore %v",
				r.ID, r.Version, r.Attempts, r.LeaseOwner, r.LeaseUntil, r.ScanRef, r.Result, r.ExportedAt, r.NotBefore)
		}
		if !r.UpdatedAt.Equal(T0) {
			t.Errorf("record %d: updated_at %v, want %v", r.ID, r.UpdatedAt, T0)
		}
	}

	st = mustLoad(t, s, job, recs, at(time.Hour))
	if st.Inserted != 0 || st.Updated != 0 || st.Unchanged != 50 || st.Kept != 0 || len(st.KeptKeys) != 0 {
		t.Fatalf("second load of the same manifest: %+v, want 50 unchanged", st)
	}
	if second := mustList(t, s, pipeline.ListQuery{Job: job}); !reflect.DeepEqual(first, second) {
		t.Errorf("a second load of the same manifest changed records")
	}

	// Loading a batch that mixes new and known records.
	st = mustLoad(t, s, job, append(Records(job, 45, 10), recs[0]), at(time.Hour))
	if st.Inserted != 5 || st.Unchanged != 6 || st.Updated != 0 || st.Kept != 0 {
		t.Errorf("overlapping load: %+v, want 5 inserted, 6 unchanged", st)
	}
	if st, err := s.Load(t.Context(), job, nil, T0); err != nil || st.Inserted+st.Unchanged+st.Updated+st.Kept != 0 {
		t.Errorf("empty load: %+v, %v", st, err)
	}
}

func testLoadUpdatesPendingAndRejected(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "load-update"
	recs := Records(job, 0, 3)
	mustLoad(t, s, job, recs, T0)
	before := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))

	// A changed pending row is replaced; a pending row that now fails
	// validation becomes rejected.
	c0 := recs[0]
	c0.Input.FirstName = "Petras"
	c0.Line = 99
	c1 := recs[1]
	c1.Input.Country = "XX"
	c1.State = pipeline.StateRejected
	c1.RejectReason = pipeline.RejectBadCountry
	c1.ErrorMessage = "bad country"
	st := mustLoad(t, s, job, []pipeline.Record{c0, c1, recs[2]}, at(time.Hour))
	if st.Updated != 2 || st.Unchanged != 1 || st.Inserted != 0 || st.Kept != 0 {
		t.Fatalf("load of changed rows: %+v, want 2 updated, 1 unchanged", st)
	}
	after := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))
	r0, r1 := after[c0.Key], after[c1.Key]
	if r0.ID != before[c0.Key].ID || r0.State != pipeline.StatePending || r0.Input.FirstName != "Petras" || r0.Line != 99 {
		t.Errorf("updated pending record: id %d state %s first name %q line %d", r0.ID, r0.State, r0.Input.FirstName, r0.Line)
	}
	if r0.Version <= before[c0.Key].Version || !r0.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("updated record: version %d (was %d), updated_at %v", r0.Version, before[c0.Key].Version, r0.UpdatedAt)
	}
	if r1.State != pipeline.StateRejected || r1.RejectReason != pipeline.RejectBadCountry || r1.ErrorMessage != "bad country" ||
		r1.Outcome != pipeline.OutcomeRejected || r1.Input.Country != "XX" {
		t.Errorf("pending record updated to rejected: %s %q %q outcome %q country %q",
			r1.State, r1.RejectReason, r1.ErrorMessage, r1.Outcome, r1.Input.Country)
	}
	if r2 := after[recs[2].Key]; !reflect.DeepEqual(r2, before[recs[2].Key]) {
		t.Errorf("unchanged row changed its record")
	}

	// The rejected record was exported; its fixed row makes it pending again
	// and due for export again once it ends.
	mustNoErr(t, s.MarkExported(ctx, []int64{r1.ID}, at(2*time.Hour)))
	if r := mustGet(t, s, r1.ID); !r.ExportedAt.Equal(at(2 * time.Hour)) {
		t.Fatalf("exported_at %v after MarkExported", r.ExportedAt)
	}
	fixed := recs[1]
	fixed.Input.Country = "LV"
	st = mustLoad(t, s, job, []pipeline.Record{fixed}, at(3*time.Hour))
	if st.Updated != 1 {
		t.Fatalf("load of a fixed rejected row: %+v, want 1 updated", st)
	}
	r := mustGet(t, s, r1.ID)
	if r.State != pipeline.StatePending || r.RejectReason != "" || r.ErrorMessage != "" || r.Outcome != "" ||
		!r.ExportedAt.IsZero() || r.Input.Country != "LV" {
		t.Errorf("fixed rejected record: state %s reason %q message %q outcome %q exported %v country %q",
			r.State, r.RejectReason, r.ErrorMessage, r.Outcome, r.ExportedAt, r.Input.Country)
	}
}

func testLoadUpdateBeatsClaimer(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "load-claimed"
	recs := Records(job, 0, 1)
	mustLoad(t, s, job, recs, T0)
	claimed := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w", Limit: 1, Lease: time.Hour, Now: T0})
	if len(claimed) != 1 {
		t.Fatalf("claimed %d records, want 1", len(claimed))
	}
	changed := recs[0]
	changed.Input.LastName = "Kazlauskas"
	if st := mustLoad(t, s, job, []pipeline.Record{changed}, at(time.Minute)); st.Updated != 1 {
		t.Fatalf("load: %+v, want 1 updated", st)
	}
	// The worker holds the old input: its versioned move must fail.
	err := s.Transition(ctx, pipeline.Transition{ID: claimed[0].ID, From: pipeline.StatePending, Version: claimed[0].Version,
		To: pipeline.StateTokening, Now: at(2 * time.Minute)})
	if !errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("transition with the version claimed before the input changed: %v, want ErrConflict", err)
	}
	if r := mustGet(t, s, claimed[0].ID); r.State != pipeline.StatePending || r.Input.LastName != "Kazlauskas" {
		t.Errorf("record after conflicting transition: %s %q", r.State, r.Input.LastName)
	}
}

func testLoadKeepsSubmitted(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "load-kept"
	moved := []pipeline.State{pipeline.StateTokening, pipeline.StateTokened, pipeline.StateSubmitted,
		pipeline.StateFinal, pipeline.StateFailed, pipeline.StateOrphan}
	recs := Records(job, 0, len(moved)+1)
	mustLoad(t, s, job, recs, T0)
	byK := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))
	for i, to := range moved {
		r := byK[recs[i].Key]
		mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: to, Now: at(time.Minute)}))
	}
	before := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))

	changed := slices.Clone(recs)
	var wantKept []string
	for i := range changed {
		changed[i].Input.FirstName = "Changed"
		if i < len(moved) {
			wantKept = append(wantKept, changed[i].Key)
		}
	}
	st := mustLoad(t, s, job, changed, at(time.Hour))
	if st.Kept != len(moved) || st.Updated != 1 || st.Inserted != 0 || st.Unchanged != 0 {
		t.Fatalf("load of changed rows: %+v, want %d kept and 1 updated", st, len(moved))
	}
	got := slices.Clone(st.KeptKeys)
	slices.Sort(got)
	slices.Sort(wantKept)
	if !slices.Equal(got, wantKept) {
		t.Errorf("KeptKeys %v, want %v", got, wantKept)
	}
	after := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))
	for i := range moved {
		k := recs[i].Key
		if !reflect.DeepEqual(after[k], before[k]) {
			t.Errorf("kept record %s (%s) changed: input %+v", k, before[k].State, after[k].Input)
		}
	}
	// Loading the same changed rows again reports them again: the stored
	// input is still the old one.
	if st := mustLoad(t, s, job, changed, at(2*time.Hour)); st.Kept != len(moved) || st.Unchanged != 1 {
		t.Errorf("second load of changed rows: %+v", st)
	}
	// The unchanged row of a submitted record is just unchanged.
	if st := mustLoad(t, s, job, recs[:1], at(2*time.Hour)); st.Unchanged != 1 {
		t.Errorf("load of the original row of a submitted record: %+v, want unchanged", st)
	}
}

func testLoadRejectedRows(t *testing.T, s pipeline.Store) {
	const job = "load-rejected"
	recs := Records(job, 0, 4)
	recs[1] = pipeline.Record{Key: "#line:3", Ref: pipeline.RefFor(job, "#line:3"), Line: 3,
		State: pipeline.StateRejected, RejectReason: pipeline.RejectBadClientID, ErrorMessage: "empty client_id"}
	recs[2].State = pipeline.StateRejected
	recs[2].RejectReason = pipeline.RejectBadManifestRow
	recs[2].Outcome = pipeline.OutcomeRejected
	recs[2].RunID = "run-1"
	if st := mustLoad(t, s, job, recs, T0); st.Inserted != 4 {
		t.Fatalf("load: %+v", st)
	}
	got := byKey(mustList(t, s, pipeline.ListQuery{Job: job, States: []pipeline.State{pipeline.StateRejected}}))
	if len(got) != 2 {
		t.Fatalf("%d rejected records, want 2", len(got))
	}
	if r := got["#line:3"]; r.Line != 3 || r.RejectReason != pipeline.RejectBadClientID || r.ErrorMessage != "empty client_id" ||
		r.Outcome != pipeline.OutcomeRejected || r.Job != job {
		t.Errorf("rejected row: %+v", r)
	}
	if r := got[recs[2].Key]; r.RejectReason != pipeline.RejectBadManifestRow || r.RunID != "run-1" {
		t.Errorf("rejected row: reason %q run %q", r.RejectReason, r.RunID)
	}
	// Rejected rows are never claimed as pending.
	for _, r := range mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w", Limit: 10, Lease: time.Minute, Now: T0}) {
		if r.State != pipeline.StatePending {
			t.Errorf("claimed a %s record", r.State)
		}
	}
	// The same rejected rows again: unchanged.
	if st := mustLoad(t, s, job, recs, at(time.Hour)); st.Unchanged != 4 {
		t.Errorf("reload: %+v, want 4 unchanged", st)
	}
}

func testLoadJobsAreSeparate(t *testing.T, s pipeline.Store) {
	a, b := Records("job-a", 0, 3), Records("job-b", 0, 3)
	mustLoad(t, s, "job-a", a, T0)
	if st := mustLoad(t, s, "job-b", b, T0); st.Inserted != 3 {
		t.Fatalf("same keys in another job: %+v, want 3 inserted", st)
	}
	la, lb := mustList(t, s, pipeline.ListQuery{Job: "job-a"}), mustList(t, s, pipeline.ListQuery{Job: "job-b"})
	if len(la) != 3 || len(lb) != 3 {
		t.Fatalf("listed %d and %d records, want 3 and 3", len(la), len(lb))
	}
	for i := range la {
		if la[i].Key != lb[i].Key || la[i].ID == lb[i].ID || la[i].Ref == lb[i].Ref || la[i].Job != "job-a" || lb[i].Job != "job-b" {
			t.Errorf("records of two jobs: %d %s %s / %d %s %s", la[i].ID, la[i].Job, la[i].Ref, lb[i].ID, lb[i].Job, lb[i].Ref)
		}
	}
	if got := mustList(t, s, pipeline.ListQuery{Job: "job-c"}); len(got) != 0 {
		t.Errorf("unknown job lists %d records", len(got))
	}
}

// --- Claim ---

var pending = []pipeline.State{pipeline.StatePending}

func testClaimLimitAndOrder(t *testing.T, s pipeline.Store) {
	const job = "claim"
	mustLoad(t, s, job, Records(job, 0, 10), T0)
	mustLoad(t, s, "other", Records("other", 0, 3), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})

	c1 := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w1", Limit: 4, Lease: time.Minute, Now: T0})
	if len(c1) != 4 {
		t.Fatalf("claimed %d records, want 4", len(c1))
	}
	for i, r := range c1 {
		if r.ID != all[i].ID {
			t.Errorf("claim %d: id %d, want %d (lowest ids first, in order)", i, r.ID, all[i].ID)
		}
		if r.Job != job || r.LeaseOwner != "w1" || !r.LeaseUntil.Equal(at(time.Minute)) || r.Version != all[i].Version+1 {
			t.Errorf("claimed record %d: job %q owner %q until %v version %d (was %d)", r.ID, r.Job, r.LeaseOwner, r.LeaseUntil, r.Version, all[i].Version)
		}
		if !reflect.DeepEqual(r.Input, all[i].Input) || r.State != pipeline.StatePending {
			t.Errorf("claimed record %d: not the stored record", r.ID)
		}
		if g := mustGet(t, s, r.ID); !reflect.DeepEqual(g, r) {
			t.Errorf("claimed record %d differs from Get:\n%+v\n%+v", r.ID, r, g)
		}
	}
	c2 := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w2", Limit: 100, Lease: time.Minute, Now: T0})
	if len(c2) != 6 {
		t.Fatalf("second claim: %d records, want the other 6", len(c2))
	}
	for i, r := range c2 {
		if r.ID != all[4+i].ID {
			t.Errorf("second claim %d: id %d, want %d", i, r.ID, all[4+i].ID)
		}
	}
	if c3 := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w3", Limit: 100, Lease: time.Minute, Now: T0}); len(c3) != 0 {
		t.Errorf("third claim returned %d leased records", len(c3))
	}
	if c := mustClaim(t, s, pipeline.ClaimRequest{Job: "other", States: pending, Owner: "w3", Limit: 100, Lease: time.Minute, Now: T0}); len(c) != 3 {
		t.Errorf("claim of another job: %d records, want 3", len(c))
	} else if c[0].Job != "other" {
		t.Errorf("claim of job other returned a record of %q", c[0].Job)
	}
}

func testClaimLease(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "lease"
	mustLoad(t, s, job, Records(job, 0, 3), T0)
	c := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w1", Limit: 3, Lease: time.Minute, Now: T0})
	if len(c) != 3 {
		t.Fatalf("claimed %d", len(c))
	}
	if got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w2", Limit: 3, Lease: time.Minute, Now: at(59 * time.Second)}); len(got) != 0 {
		t.Errorf("claimed %d records whose lease runs", len(got))
	}
	// The lease expired: the records are claimable again (a crashed worker's records).
	again := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w2", Limit: 3, Lease: time.Minute, Now: at(time.Minute + time.Second)})
	if len(again) != 3 {
		t.Fatalf("reclaimed %d records after the lease expired, want 3", len(again))
	}
	for i, r := range again {
		if r.LeaseOwner != "w2" || !r.LeaseUntil.Equal(at(2*time.Minute+time.Second)) || r.Version != c[i].Version+1 {
			t.Errorf("reclaimed record %d: owner %q until %v version %d", r.ID, r.LeaseOwner, r.LeaseUntil, r.Version)
		}
	}
	// The first worker's versioned move now fails: it lost its lease.
	err := s.Transition(ctx, pipeline.Transition{ID: c[0].ID, From: pipeline.StatePending, Version: c[0].Version, To: pipeline.StateTokening, Now: at(70 * time.Second)})
	if !errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("transition by the worker whose lease expired: %v, want ErrConflict", err)
	}

	// A transition clears the lease, unless KeepLease.
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: again[0].ID, From: pipeline.StatePending, Version: again[0].Version, To: pipeline.StateTokening, Now: at(90 * time.Second)}))
	if r := mustGet(t, s, again[0].ID); r.LeaseOwner != "" || !r.LeaseUntil.IsZero() {
		t.Errorf("after a transition: lease %q until %v, want none", r.LeaseOwner, r.LeaseUntil)
	}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: again[1].ID, From: pipeline.StatePending, Version: again[1].Version, To: pipeline.StateTokening, Now: at(90 * time.Second), Patch: pipeline.Patch{KeepLease: true}}))
	if r := mustGet(t, s, again[1].ID); r.LeaseOwner != "w2" || !r.LeaseUntil.Equal(again[1].LeaseUntil) {
		t.Errorf("after a KeepLease transition: lease %q until %v, want w2 until %v", r.LeaseOwner, r.LeaseUntil, again[1].LeaseUntil)
	}
	// A record whose lease was cleared is claimable at once in its new state.
	got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateTokening}, Owner: "w3", Limit: 10, Lease: time.Minute, Now: at(100 * time.Second)})
	if len(got) != 1 || got[0].ID != again[0].ID {
		t.Errorf("claim of tokening records: %v, want only %d (the other is leased)", ids(got), again[0].ID)
	}
}

func testClaimNotBefore(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "not-before"
	mustLoad(t, s, job, Records(job, 0, 3), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	// Park the first record for an hour (a retry backoff, a 409 on an active token).
	nb := at(time.Hour)
	attempts := 1
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[0].ID, From: pipeline.StatePending, Version: all[0].Version,
		To: pipeline.StatePending, Now: at(time.Second), Patch: pipeline.Patch{NotBefore: &nb, Attempts: &attempts}}))

	got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w", Limit: 10, Lease: time.Minute, Now: at(time.Hour - time.Microsecond)})
	if !slices.Equal(ids(got), ids(all[1:])) {
		t.Errorf("claim before not_before: %v, want %v", ids(got), ids(all[1:]))
	}
	got = mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: pending, Owner: "w", Limit: 10, Lease: time.Minute, Now: at(time.Hour)})
	if len(got) != 1 || got[0].ID != all[0].ID {
		t.Fatalf("claim at not_before: %v, want only %d (the others are leased)", ids(got), all[0].ID)
	}
	if !got[0].NotBefore.Equal(nb) || got[0].Attempts != 1 {
		t.Errorf("parked record: not_before %v attempts %d", got[0].NotBefore, got[0].Attempts)
	}
}

func testClaimStates(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "claim-states"
	mustLoad(t, s, job, Records(job, 0, 8), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	// ids 1,4,7 tokened; 2,5 submitted; 0,3,6 pending
	for i, r := range all {
		to := []pipeline.State{pipeline.StatePending, pipeline.StateTokened, pipeline.StateSubmitted}[i%3]
		if to != pipeline.StatePending {
			mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: to, Now: T0}))
		}
	}
	req := pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateTokened, pipeline.StatePending}, Owner: "w", Limit: 4, Lease: time.Minute, Now: at(time.Second)}
	got := mustClaim(t, s, req)
	want := []int64{all[0].ID, all[1].ID, all[3].ID, all[4].ID}
	if !slices.Equal(ids(got), want) {
		t.Errorf("claim of tokened+pending, limit 4: %v, want %v", ids(got), want)
	}
	got = mustClaim(t, s, req)
	want = []int64{all[6].ID, all[7].ID}
	if !slices.Equal(ids(got), want) {
		t.Errorf("second claim: %v, want %v", ids(got), want)
	}
	got = mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateSubmitted}, Owner: "w", Limit: 10, Lease: time.Minute, Now: at(time.Second)})
	if want := []int64{all[2].ID, all[5].ID}; !slices.Equal(ids(got), want) {
		t.Errorf("claim of submitted: %v, want %v", ids(got), want)
	}
	for _, r := range got {
		if r.State != pipeline.StateSubmitted {
			t.Errorf("claimed record %d is %s", r.ID, r.State)
		}
	}
}

// --- Transition ---

func testTransitionCompareAndSet(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "cas"
	mustLoad(t, s, job, Records(job, 0, 1), T0)
	r0 := mustList(t, s, pipeline.ListQuery{Job: job})[0]
	// Move it once so that its first version is a stale one.
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r0.ID, From: pipeline.StatePending, Version: r0.Version, To: pipeline.StatePending, Now: at(time.Second)}))
	r := mustGet(t, s, r0.ID)
	if r.Version <= r0.Version {
		t.Fatalf("version %d after a transition from version %d", r.Version, r0.Version)
	}
	scan := "SCAN-CAS"

	for _, tc := range []struct {
		name string
		tr   pipeline.Transition
	}{
		{"wrong state", pipeline.Transition{ID: r.ID, From: pipeline.StateTokened, To: pipeline.StateSubmitted}},
		{"wrong state, right version", pipeline.Transition{ID: r.ID, From: pipeline.StateTokening, Version: r.Version, To: pipeline.StateTokened}},
		{"stale version", pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r0.Version, To: pipeline.StateTokening}},
		{"future version", pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version + 1, To: pipeline.StateTokening}},
	} {
		tc.tr.Now = at(time.Minute)
		tc.tr.Patch.ScanRef = &scan
		err := s.Transition(ctx, tc.tr)
		if !errors.Is(err, pipeline.ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", tc.name, err)
		}
		if errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("%s: %v is also ErrNotFound", tc.name, err)
		}
		if got := mustGet(t, s, r.ID); !reflect.DeepEqual(got, r) {
			t.Errorf("%s: the failed transition changed the record:\n%+v\n%+v", tc.name, got, r)
		}
	}
	if _, err := s.ByScanRef(ctx, scan); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("ByScanRef after failed transitions: %v, want ErrNotFound", err)
	}

	err := s.Transition(ctx, pipeline.Transition{ID: r.ID + 1000, From: pipeline.StatePending, To: pipeline.StateTokening, Now: at(time.Minute)})
	if !errors.Is(err, pipeline.ErrNotFound) || errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("transition of a missing record: %v, want ErrNotFound", err)
	}

	tr := pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: pipeline.StateTokening, Now: at(time.Minute)}
	mustNoErr(t, s.Transition(ctx, tr))
	got := mustGet(t, s, r.ID)
	if got.State != pipeline.StateTokening || got.Version != r.Version+1 || !got.UpdatedAt.Equal(at(time.Minute)) {
		t.Errorf("after transition: state %s version %d updated %v", got.State, got.Version, got.UpdatedAt)
	}
	// The same transition again (a retry, a second worker) conflicts.
	if err := s.Transition(ctx, tr); !errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("replayed transition: %v, want ErrConflict", err)
	}
	tr.Version = 0
	if err := s.Transition(ctx, tr); !errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("replayed transition without version: %v, want ErrConflict", err)
	}
	// Without a version, only the state is compared.
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StateTokening, To: pipeline.StateTokened, Now: at(2 * time.Minute)}))
	if got := mustGet(t, s, r.ID); got.State != pipeline.StateTokened || got.Version != r.Version+2 {
		t.Errorf("after unversioned transition: %s version %d", got.State, got.Version)
	}
}

func testTransitionPatch(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "patch"
	mustLoad(t, s, job, Records(job, 0, 2), T0)
	loaded := mustList(t, s, pipeline.ListQuery{Job: job})
	r := loaded[0]

	in := r.Input
	in.FirstName = "Ona"
	in.Sources = map[pipeline.Side]string{pipeline.SideFront: "f.jpg", pipeline.SideBack: "b.jpg", pipeline.SideFace: "s.jpg"}
	attempts := 3
	nb, tokExp, intent, sub, resAt, exp, del := at(1*time.Minute), at(15*time.Minute), at(3*time.Minute), at(4*time.Minute), at(5*time.Minute), at(6*time.Minute), at(7*time.Minute)
	scan, tok, reason, code, msg, run := "SCAN-1", "auth-token-1", pipeline.RejectTooSmall, "TOKEN_NOT_VALID", "token was used", "run-7"
	outcome := pipeline.OutcomeDenied
	hashes := map[pipeline.Side]string{pipeline.SideFront: "aa", pipeline.SideFace: "bb"}
	res := &pipeline.Result{ScanRef: scan, Final: true, Source: "webhook", Overall: "DENIED", ReceivedAt: at(5 * time.Minute)}
	p := pipeline.Patch{Input: &in, Attempts: &attempts, NotBefore: &nb, ScanRef: &scan, AuthToken: &tok, TokenExpiresAt: &tokExp,
		IntentAt: &intent, SubmittedAt: &sub, ResultAt: &resAt, ExportedAt: &exp, DeletedAt: &del, Outcome: &outcome,
		RejectReason: &reason, ErrorCode: &code, ErrorMessage: &msg, Hashes: hashes, Result: res, RunID: &run}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: pipeline.StateFinal, Now: at(8 * time.Minute), Patch: p}))

	check := func(when string, got pipeline.Record) {
		t.Helper()
		if !reflect.DeepEqual(got.Input, in) || got.Attempts != 3 || got.ScanRef != scan || got.AuthToken != tok ||
			got.Outcome != outcome || got.RejectReason != reason || got.ErrorCode != code || got.ErrorMessage != msg || got.RunID != run {
			t.Errorf("%s: patched fields: %+v", when, got)
		}
		for _, tc := range []struct {
			name      string
			got, want time.Time
		}{
			{"not_before", got.NotBefore, nb}, {"token_expires_at", got.TokenExpiresAt, tokExp}, {"intent_at", got.IntentAt, intent},
			{"submitted_at", got.SubmittedAt, sub}, {"result_at", got.ResultAt, resAt}, {"exported_at", got.ExportedAt, exp},
			{"deleted_at", got.DeletedAt, del},
		} {
			if !tc.got.Equal(tc.want) {
				t.Errorf("%s: %s %v, want %v", when, tc.name, tc.got, tc.want)
			}
		}
		if !reflect.DeepEqual(got.Hashes, hashes) {
			t.Errorf("%s: hashes %v, want %v", when, got.Hashes, hashes)
		}
		if got.Result == nil || got.Result.Overall != "DENIED" || !got.Result.Final || got.Result.ScanRef != scan {
			t.Errorf("%s: result %+v", when, got.Result)
		}
	}
	got := mustGet(t, s, r.ID)
	check("after patch", got)
	if got.State != pipeline.StateFinal || got.Version != r.Version+1 {
		t.Errorf("after patch: state %s version %d", got.State, got.Version)
	}

	// An empty patch leaves every field alone.
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StateFinal, To: pipeline.StateFinal, Now: at(9 * time.Minute)}))
	got = mustGet(t, s, r.ID)
	check("after empty patch", got)
	if !got.UpdatedAt.Equal(at(9 * time.Minute)) {
		t.Errorf("updated_at %v, want %v", got.UpdatedAt, at(9*time.Minute))
	}

	// Pointers to zero values clear fields.
	var zt time.Time
	empty, zero := "", 0
	noOutcome := pipeline.Outcome("")
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StateFinal, To: pipeline.StateFailed, Now: at(10 * time.Minute),
		Patch: pipeline.Patch{Attempts: &zero, NotBefore: &zt, ScanRef: &empty, AuthToken: &empty, TokenExpiresAt: &zt,
			ExportedAt: &zt, Outcome: &noOutcome, RejectReason: &empty, ErrorCode: &empty, ErrorMessage: &empty, RunID: &empty,
			Hashes: map[pipeline.Side]string{}}}))
	got = mustGet(t, s, r.ID)
	if got.Attempts != 0 || !got.NotBefore.IsZero() || got.ScanRef != "" || got.AuthToken != "" || !got.TokenExpiresAt.IsZero() ||
		!got.ExportedAt.IsZero() || got.Outcome != "" || got.RejectReason != "" || got.ErrorCode != "" || got.ErrorMessage != "" ||
		got.RunID != "" || len(got.Hashes) != 0 {
		t.Errorf("after clearing patch: %+v", got)
	}
	if !got.IntentAt.Equal(intent) || got.Result == nil {
		t.Errorf("after clearing patch: fields not in the patch changed: intent %v result %v", got.IntentAt, got.Result)
	}
	if _, err := s.ByScanRef(ctx, scan); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("ByScanRef of a cleared scanRef: %v, want ErrNotFound", err)
	}
	// The other record was never touched.
	if other := mustGet(t, s, loaded[1].ID); !reflect.DeepEqual(other, loaded[1]) {
		t.Errorf("a transition of one record changed another")
	}
}

func testScanRefUnique(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "scanref-unique"
	mustLoad(t, s, job, Records(job, 0, 2), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	scan := "SCAN-DUP"
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[0].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: T0, Patch: pipeline.Patch{ScanRef: &scan}}))
	err := s.Transition(ctx, pipeline.Transition{ID: all[1].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: T0, Patch: pipeline.Patch{ScanRef: &scan}})
	if err == nil {
		t.Fatal("two records hold the same scanRef")
	}
	if !errors.Is(err, pipeline.ErrScanRefTaken) || errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("a scanRef held by another record: %v, want ErrScanRefTaken", err)
	}
	if got := mustGet(t, s, all[1].ID); !reflect.DeepEqual(got, all[1]) {
		t.Errorf("the refused transition changed the record")
	}
	if r, err := s.ByScanRef(ctx, scan); err != nil || r.ID != all[0].ID {
		t.Errorf("ByScanRef: %d, %v, want %d", r.ID, err, all[0].ID)
	}
	// Records without a scanRef do not collide.
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[1].ID, From: pipeline.StatePending, To: pipeline.StateTokening, Now: T0}))
}

func testLookups(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "lookups"
	recs := Records(job, 0, 3)
	mustLoad(t, s, job, recs, T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	scan := "SCAN-LOOKUP"
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[1].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: T0, Patch: pipeline.Patch{ScanRef: &scan}}))
	want := mustGet(t, s, all[1].ID)

	if r, err := s.ByScanRef(ctx, scan); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("ByScanRef: %+v, %v", r, err)
	}
	if r, err := s.ByRef(ctx, recs[1].Ref); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("ByRef: %+v, %v", r, err)
	}
	for _, tc := range []struct {
		name string
		fn   func() (pipeline.Record, error)
	}{
		{"Get of a missing id", func() (pipeline.Record, error) { return s.Get(ctx, all[2].ID+1000) }},
		{"ByScanRef of an unknown scanRef", func() (pipeline.Record, error) { return s.ByScanRef(ctx, "SCAN-NONE") }},
		{"ByScanRef of \"\"", func() (pipeline.Record, error) { return s.ByScanRef(ctx, "") }},
		{"ByRef of an unknown ref", func() (pipeline.Record, error) { return s.ByRef(ctx, pipeline.RefFor("nope", "nope")) }},
		{"ByRef of \"\"", func() (pipeline.Record, error) { return s.ByRef(ctx, "") }},
	} {
		if _, err := tc.fn(); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
}

func testResultRoundTrip(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "result"
	mustLoad(t, s, job, Records(job, 0, 1), T0)
	r := mustList(t, s, pipeline.ListQuery{Job: job})[0]
	raw := json.RawMessage("{\n  \"final\": true,\n  \"status\": {\"overall\": \"SUSPECTED\", \"fraudTags\": [\"FACE_SUSPECTED\"]},\n  \"note\": \"<b>&amp;</b> \\u00e9 ąč\"\n}")
	res := &pipeline.Result{
		ScanRef: "SCAN-RESULT", ClientID: "client-0", ExternalRef: r.Ref, Final: true, Source: "webhook",
		Overall: "SUSPECTED", AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MATCH", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MISMATCH",
		FraudTags: []string{"FACE_SUSPECTED", "DOC_SCREENSHOT"}, MismatchTags: []string{"NAME"}, SuspicionReasons: []string{"FACE_SUSPECTED"},
		AdditionalSteps: "VALID",
		DocFirstName:    "JONAS", DocLastName: "JONAITIS", DocNumber: "AB123", DocPersonalCode: "39001020000",
		DocDOB: "1990-01-02", DocExpiry: "2030-01-01", DocDateOfIssue: "2020-01-01", DocType: "ID_CARD", DocSex: "MALE",
		DocNationality: "LT", DocIssuingCountry: "LT", SelectedCountry: "LT",
		AMLStatus: "HIT", AMLHits: []string{"PEP", "SANCTION"}, DuplicateFaces: []string{"SCAN-A"}, DuplicateDocFaces: []string{"SCAN-B", "SCAN-C"},
		AgeEstimate: "OVER_25", ClientIPProxyRiskLevel: "LOW",
		Raw:        raw,
		ReceivedAt: time.Date(2025, 3, 1, 14, 0, 0, 123456789, time.FixedZone("EET", 2*3600)),
	}
	scan := res.ScanRef
	outcome := res.Outcome()
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: T0,
		Patch: pipeline.Patch{ScanRef: &scan, Result: res, Outcome: &outcome}}))

	check := func(how string, got *pipeline.Result) {
		t.Helper()
		if got == nil {
			t.Errorf("%s: no result", how)
			return
		}
		if !bytes.Equal(got.Raw, raw) {
			t.Errorf("%s: raw changed:\n%s\nwant\n%s", how, got.Raw, raw)
		}
		if !got.ReceivedAt.Equal(res.ReceivedAt) {
			t.Errorf("%s: received_at %v, want %v", how, got.ReceivedAt, res.ReceivedAt)
		}
		a, b := *got, *res
		a.Raw, b.Raw, a.ReceivedAt, b.ReceivedAt = nil, nil, time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: result\n%+v\nwant\n%+v", how, a, b)
		}
	}
	check("Get", mustGet(t, s, r.ID).Result)
	if got, err := s.ByScanRef(ctx, scan); err == nil {
		check("ByScanRef", got.Result)
	} else {
		t.Error(err)
	}
	if got, err := s.ByRef(ctx, r.Ref); err == nil {
		check("ByRef", got.Result)
	} else {
		t.Error(err)
	}
	check("List", mustList(t, s, pipeline.ListQuery{Job: job, States: []pipeline.State{pipeline.StateSubmitted}})[0].Result)
	c := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateSubmitted}, Owner: "poller", Limit: 1, Lease: time.Minute, Now: T0})
	if len(c) != 1 {
		t.Fatalf("claimed %d", len(c))
	}
	check("Claim", c[0].Result)

	// A result without lists or raw stays without them; a better result replaces it.
	auto := &pipeline.Result{ScanRef: scan, Source: "poll", Overall: "APPROVED", ReceivedAt: at(time.Hour)}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StateSubmitted, To: pipeline.StateSubmitted, Now: at(time.Hour), Patch: pipeline.Patch{Result: auto}}))
	got := mustGet(t, s, r.ID).Result
	if got == nil || len(got.Raw) != 0 || len(got.FraudTags) != 0 || got.Overall != "APPROVED" || got.Final || got.Source != "poll" {
		t.Errorf("replaced result: %+v", got)
	}
}

// --- List ---

func testListPaging(t *testing.T, s pipeline.Store) {
	const job = "paging"
	mustLoad(t, s, job, Records(job, 0, 25), T0)
	mustLoad(t, s, "paging-other", Records("paging-other", 0, 5), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	if len(all) != 25 {
		t.Fatalf("listed %d, want 25", len(all))
	}
	var paged []pipeline.Record
	var after int64
	for {
		page := mustList(t, s, pipeline.ListQuery{Job: job, AfterID: after, Limit: 10})
		if len(page) > 10 {
			t.Fatalf("page of %d records, limit 10", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(ids(paged), ids(all)) {
		t.Errorf("paged ids %v, want %v", ids(paged), ids(all))
	}
	if !slices.IsSorted(ids(all)) {
		t.Errorf("List not in id order: %v", ids(all))
	}
	for _, r := range all {
		if r.Job != job {
			t.Errorf("List of %s returned a record of %s", job, r.Job)
		}
	}
}

func testListFilters(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "filters"
	mustLoad(t, s, job, Records(job, 0, 12), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	// 0-3 submitted at T0+i min; 4-7 final; 8-9 pending parked until T0+i h; 10-11 pending.
	for i, r := range all {
		var tr pipeline.Transition
		switch {
		case i < 4:
			sub := at(time.Duration(i) * time.Minute)
			tr = pipeline.Transition{To: pipeline.StateSubmitted, Patch: pipeline.Patch{SubmittedAt: &sub}}
		case i < 8:
			sub := at(time.Duration(i) * time.Minute)
			tr = pipeline.Transition{To: pipeline.StateFinal, Patch: pipeline.Patch{SubmittedAt: &sub}}
		case i < 10:
			nb := at(time.Duration(i) * time.Hour)
			tr = pipeline.Transition{To: pipeline.StatePending, Patch: pipeline.Patch{NotBefore: &nb}}
		default:
			continue
		}
		tr.ID, tr.From, tr.Now = r.ID, pipeline.StatePending, T0
		mustNoErr(t, s.Transition(ctx, tr))
	}
	sel := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, all[i].ID)
		}
		return out
	}
	submitted, final := pipeline.StateSubmitted, pipeline.StateFinal
	for _, tc := range []struct {
		name string
		q    pipeline.ListQuery
		want []int64
	}{
		{"submitted", pipeline.ListQuery{States: []pipeline.State{submitted}}, sel(0, 1, 2, 3)},
		{"submitted and final, limit 5", pipeline.ListQuery{States: []pipeline.State{final, submitted}, Limit: 5}, sel(0, 1, 2, 3, 4)},
		{"submitted and final after id", pipeline.ListQuery{States: []pipeline.State{final, submitted}, AfterID: all[2].ID, Limit: 3}, sel(3, 4, 5)},
		{"submitted before T0+2m", pipeline.ListQuery{States: []pipeline.State{submitted}, SubmittedBefore: at(2 * time.Minute)}, sel(0, 1)},
		{"any state submitted before T0+5m", pipeline.ListQuery{SubmittedBefore: at(5 * time.Minute)}, sel(0, 1, 2, 3, 4)},
		{"pending", pipeline.ListQuery{States: pending}, sel(8, 9, 10, 11)},
		{"pending not before T0+8h", pipeline.ListQuery{States: pending, NotBefore: at(8 * time.Hour)}, sel(8, 10, 11)},
		{"pending not before T0", pipeline.ListQuery{States: pending, NotBefore: T0}, sel(10, 11)},
		{"final not exported", pipeline.ListQuery{States: []pipeline.State{final}, NotExported: true}, sel(4, 5, 6, 7)},
		{"end states not exported, limit 2", pipeline.ListQuery{States: []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed}, NotExported: true, Limit: 2}, sel(4, 5)},
		{"not exported, all states", pipeline.ListQuery{NotExported: true}, sel(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)},
	} {
		tc.q.Job = job
		if got := ids(mustList(t, s, tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	mustNoErr(t, s.MarkExported(ctx, sel(4, 6), at(time.Hour)))
	endStates := []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed}
	if got, want := ids(mustList(t, s, pipeline.ListQuery{Job: job, States: endStates, NotExported: true})), sel(5, 7); !slices.Equal(got, want) {
		t.Errorf("not exported after MarkExported: %v, want %v", got, want)
	}
	if got, want := ids(mustList(t, s, pipeline.ListQuery{Job: job, States: endStates, NotExported: true, AfterID: all[5].ID})), sel(7); !slices.Equal(got, want) {
		t.Errorf("not exported after id: %v, want %v", got, want)
	}
	if got, want := ids(mustList(t, s, pipeline.ListQuery{Job: job, States: endStates})), sel(4, 5, 6, 7); !slices.Equal(got, want) {
		t.Errorf("end states: %v, want %v", got, want)
	}
}

// --- MarkExported, Counts, Runs ---

func testMarkExported(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "exported"
	mustLoad(t, s, job, Records(job, 0, 5), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	ends := []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed}
	for i, st := range ends {
		mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[i].ID, From: pipeline.StatePending, To: st, Now: T0}))
	}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[3].ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: T0}))

	mustNoErr(t, s.MarkExported(ctx, nil, at(time.Hour)))
	mustNoErr(t, s.MarkExported(ctx, []int64{all[0].ID, all[1].ID, all[3].ID, all[4].ID, all[4].ID + 1000}, at(time.Hour)))
	before := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))
	for i, r := range all {
		got := before[r.Key]
		want := time.Time{}
		if i < 2 {
			want = at(time.Hour)
		}
		if !got.ExportedAt.Equal(want) {
			t.Errorf("record %d (%s): exported_at %v, want %v", r.ID, got.State, got.ExportedAt, want)
		}
	}
	// Again, later, with more ids: the exported keep their time.
	mustNoErr(t, s.MarkExported(ctx, ids(all), at(2*time.Hour)))
	after := byKey(mustList(t, s, pipeline.ListQuery{Job: job}))
	for i, r := range all {
		got := after[r.Key]
		var want time.Time
		switch {
		case i < 2:
			want = at(time.Hour)
			if !reflect.DeepEqual(got, before[r.Key]) {
				t.Errorf("record %d: marking an exported record again changed it", r.ID)
			}
		case i == 2:
			want = at(2 * time.Hour)
		}
		if !got.ExportedAt.Equal(want) {
			t.Errorf("record %d (%s): exported_at %v, want %v", r.ID, got.State, got.ExportedAt, want)
		}
	}
}

func testCounts(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "counts"
	recs := Records(job, 0, 10)
	recs[9].State, recs[9].RejectReason = pipeline.StateRejected, pipeline.RejectBadCountry
	mustLoad(t, s, job, recs, T0)
	mustLoad(t, s, "counts-other", Records("counts-other", 0, 4), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	for _, r := range all[:3] {
		mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: T0}))
	}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[3].ID, From: pipeline.StatePending, To: pipeline.StateFinal, Now: T0}))
	want := map[pipeline.State]int{pipeline.StatePending: 5, pipeline.StateSubmitted: 3, pipeline.StateFinal: 1, pipeline.StateRejected: 1}
	checkCounts(t, job, mustCounts(t, s, job), want)
	checkCounts(t, "counts-other", mustCounts(t, s, "counts-other"), map[pipeline.State]int{pipeline.StatePending: 4})
	checkCounts(t, "no-such-job", mustCounts(t, s, "no-such-job"), nil)
}

func checkCounts(t *testing.T, job string, got, want map[pipeline.State]int) {
	t.Helper()
	for st, n := range got {
		if !slices.Contains(pipeline.AllStates, st) {
			t.Errorf("counts of %s: unknown state %q (%d)", job, st, n)
		}
	}
	for _, st := range pipeline.AllStates {
		if got[st] != want[st] {
			t.Errorf("counts of %s: %s = %d, want %d", job, st, got[st], want[st])
		}
	}
}

func testRuns(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "runs"
	r1 := pipeline.Run{ID: "run-1", Job: job, Command: "run", StartedAt: T0}
	r2 := pipeline.Run{ID: "run-2", Job: job, Command: "export", StartedAt: at(time.Hour)}
	r3 := pipeline.Run{ID: "run-3", Job: "runs-other", Command: "run", StartedAt: at(2 * time.Hour)}
	for _, r := range []pipeline.Run{r1, r2, r3} {
		mustNoErr(t, s.StartRun(ctx, r))
	}
	if err := s.StartRun(ctx, r1); err == nil {
		t.Errorf("StartRun of a run already started: no error")
	}
	r1.FinishedAt, r1.ExitCode, r1.Summary = at(30*time.Minute), 3, []byte(`{"submitted":10,"failed":4}`)
	mustNoErr(t, s.FinishRun(ctx, r1))
	if err := s.FinishRun(ctx, pipeline.Run{ID: "run-none", Job: job, FinishedAt: T0}); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("FinishRun of an unknown run: %v, want ErrNotFound", err)
	}

	runs, err := s.Runs(ctx, job, 10)
	mustNoErr(t, err)
	if len(runs) != 2 {
		t.Fatalf("Runs: %d runs, want 2", len(runs))
	}
	checkRun(t, runs[0], r2)
	checkRun(t, runs[1], r1)
	if runs, err := s.Runs(ctx, job, 1); err != nil || len(runs) != 1 || runs[0].ID != "run-2" {
		t.Errorf("Runs(1): %+v, %v, want run-2", runs, err)
	}
	if runs, err := s.Runs(ctx, "no-such-job", 10); err != nil || len(runs) != 0 {
		t.Errorf("Runs of an unknown job: %+v, %v", runs, err)
	}
}

func checkRun(t *testing.T, got, want pipeline.Run) {
	t.Helper()
	if got.ID != want.ID || got.Job != want.Job || got.Command != want.Command || !got.StartedAt.Equal(want.StartedAt) ||
		!got.FinishedAt.Equal(want.FinishedAt) || got.ExitCode != want.ExitCode || !bytes.Equal(got.Summary, want.Summary) {
		t.Errorf("run %+v, want %+v", got, want)
	}
}

// --- helpers ---

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, s pipeline.Store, job string, recs []pipeline.Record, now time.Time) pipeline.LoadStats {
	t.Helper()
	st, err := s.Load(t.Context(), job, recs, now)
	if err != nil {
		t.Fatalf("load %s: %v", job, err)
	}
	return st
}

func mustList(t *testing.T, s pipeline.Store, q pipeline.ListQuery) []pipeline.Record {
	t.Helper()
	recs, err := s.List(t.Context(), q)
	if err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	return recs
}

func mustClaim(t *testing.T, s pipeline.Store, req pipeline.ClaimRequest) []pipeline.Record {
	t.Helper()
	recs, err := s.Claim(t.Context(), req)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].ID <= recs[i-1].ID {
			t.Errorf("claim not in id order: %v", ids(recs))
		}
	}
	if len(recs) > req.Limit {
		t.Errorf("claimed %d records, limit %d", len(recs), req.Limit)
	}
	return recs
}

func mustGet(t *testing.T, s pipeline.Store, id int64) pipeline.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %d: %v", id, err)
	}
	return r
}

func mustCounts(t *testing.T, s pipeline.Store, job string) map[pipeline.State]int {
	t.Helper()
	c, err := s.Counts(t.Context(), job)
	if err != nil {
		t.Fatalf("counts %s: %v", job, err)
	}
	return c
}

func byKey(recs []pipeline.Record) map[string]pipeline.Record {
	m := make(map[string]pipeline.Record, len(recs))
	for _, r := range recs {
		m[r.Key] = r
	}
	return m
}

func ids(recs []pipeline.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
