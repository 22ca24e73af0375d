package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

func openStore(t *testing.T, n int) pipeline.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var recs []pipeline.Record
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("c%02d", i)
		recs = append(recs, pipeline.Record{Job: "j", Key: key, Ref: pipeline.RefFor("j", key), Line: i + 1, State: pipeline.StatePending,
			Input: pipeline.Input{ClientID: key, Country: "LT", DocumentType: "PASSPORT"}})
	}
	if _, err := st.Load(context.Background(), "j", recs, time.Now()); err != nil {
		t.Fatal(err)
	}
	return st
}

// fakePrep rejects some clients and fails others once (infrastructure).
type fakePrep struct {
	reject map[string]string
	flaky  map[string]bool
	mu     sync.Mutex
}

func (f *fakePrep) Prepare(ctx context.Context, rec pipeline.Record) (pipeline.Prepared, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code := f.reject[rec.Key]; code != "" {
		return pipeline.Prepared{}, pipeline.Reject(code, "test")
	}
	if f.flaky[rec.Key] {
		delete(f.flaky, rec.Key)
		return pipeline.Prepared{}, errors.New("S3 503 SlowDown")
	}
	return pipeline.Prepared{Images: map[pipeline.Side][]byte{pipeline.SideFront: {1}}}, nil
}

// fakeSubmit moves records straight to submitted, up to cap.
type fakeSubmit struct {
	st    pipeline.Store
	cap   int
	mu    sync.Mutex
	count int
	seen  map[int64]int
}

func (f *fakeSubmit) Submit(ctx context.Context, rec pipeline.Record, p pipeline.Prepared) (pipeline.SubmitOutcome, error) {
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[int64]int{}
	}
	f.seen[rec.ID]++
	if f.cap > 0 && f.count >= f.cap {
		f.mu.Unlock()
		return pipeline.SubmitOutcome{State: rec.State}, fmt.Errorf("fake: %w", pipeline.ErrCapReached)
	}
	f.count++
	f.mu.Unlock()
	now := time.Now()
	err := f.st.Transition(ctx, pipeline.Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: pipeline.StateSubmitted, Now: now, Patch: pipeline.Patch{SubmittedAt: &now}})
	return pipeline.SubmitOutcome{State: pipeline.StateSubmitted, Charged: true, Submitted: true}, err
}

func (f *fakeSubmit) Reconcile(ctx context.Context, rec pipeline.Record) (bool, error) {
	return true, nil
}

type fakeExport struct{ rows int }

func (f *fakeExport) Export(ctx context.Context) (pipeline.ExportReport, error) {
	return pipeline.ExportReport{Rows: f.rows}, nil
}

func TestRunnerSubmitsRejectsAndRetries(t *testing.T) {
	st := openStore(t, 12)
	prep := &fakePrep{reject: map[string]string{"c03": pipeline.RejectTooSmall, "c07": pipeline.RejectCorruptImage}, flaky: map[string]bool{"c05": true}}
	sub := &fakeSubmit{st: st}
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run1", Owner: "o", Preparer: prep, Submitter: sub, Exporter: &fakeExport{}, ClaimBatch: 5}
	sum, err := r.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Submitted != 9 || sum.Rejected != 2 || sum.RejectedBy[pipeline.RejectTooSmall] != 1 || sum.Retried != 1 {
		t.Errorf("summary: submitted %d rejected %d (%v) retried %d", sum.Submitted, sum.Rejected, sum.RejectedBy, sum.Retried)
	}
	if sum.States[pipeline.StateSubmitted] != 9 || sum.States[pipeline.StateRejected] != 2 || sum.States[pipeline.StatePending] != 1 {
		t.Errorf("states: %v", sum.States)
	}
	for id, n := range sub.seen {
		if n != 1 {
			t.Errorf("record %d submitted %d times", id, n)
		}
	}
	rej, _ := st.List(context.Background(), pipeline.ListQuery{Job: "j", States: []pipeline.State{pipeline.StateRejected}, Limit: 10})
	for _, rec := range rej {
		if rec.Outcome != pipeline.OutcomeRejected || rec.RejectReason == "" || rec.RunID != "run1" {
			t.Errorf("rejected record: outcome %s reason %q run %q", rec.Outcome, rec.RejectReason, rec.RunID)
		}
	}
	// The record whose fetch failed is parked, not lost.
	parked, _ := st.List(context.Background(), pipeline.ListQuery{Job: "j", States: []pipeline.State{pipeline.StatePending}, Limit: 10})
	if len(parked) != 1 || parked[0].Key != "c05" || parked[0].ErrorCode != "fetch_error" || !parked[0].NotBefore.After(time.Now()) {
		t.Errorf("parked: %+v", parked)
	}
}

func TestRunnerCapReleasesClaims(t *testing.T) {
	st := openStore(t, 20)
	sub := &fakeSubmit{st: st, cap: 3}
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run1", Owner: "o", Preparer: &fakePrep{}, Submitter: sub, ClaimBatch: 4}
	sum, err := r.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.CapReached || sum.Submitted != 3 || sum.States[pipeline.StatePending] != 17 {
		t.Errorf("cap: reached %v submitted %d states %v", sum.CapReached, sum.Submitted, sum.States)
	}
	// Nothing stays leased: the next run can claim every pending record at once.
	recs, err := st.Claim(context.Background(), pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "next", Limit: 100, Lease: time.Minute, Now: time.Now()})
	if err != nil || len(recs) != 17 {
		t.Errorf("next run claims %d of 17 pending (err %v)", len(recs), err)
	}
}

func TestRunnerSoftStopBeforeStart(t *testing.T) {
	st := openStore(t, 5)
	sub := &fakeSubmit{st: st}
	soft := make(chan struct{})
	close(soft)
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run1", Owner: "o", Preparer: &fakePrep{}, Submitter: sub}
	sum, err := r.Run(context.Background(), soft)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.States[pipeline.StatePending] != 5 {
		t.Errorf("soft stop: interrupted %v states %v", sum.Interrupted, sum.States)
	}
}

// A record left in tokening by a dead process becomes a reported orphan and
// is not submitted again.
func TestRunnerRescuesOrphans(t *testing.T) {
	st := openStore(t, 2)
	ctx := context.Background()
	recs, _ := st.Claim(ctx, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "dead", Limit: 1, Lease: time.Millisecond, Now: time.Now()})
	now := time.Now()
	if err := st.Transition(ctx, pipeline.Transition{ID: recs[0].ID, From: pipeline.StatePending, To: pipeline.StateTokening, Now: now, Patch: pipeline.Patch{IntentAt: &now, KeepLease: true}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	sub := &fakeSubmit{st: st}
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run2", Owner: "o", Preparer: &fakePrep{}, Submitter: sub}
	sum, err := r.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Orphans != 1 || sum.States[pipeline.StateOrphan] != 1 || sub.seen[recs[0].ID] != 0 {
		t.Errorf("orphans %d states %v; orphan submitted %d times", sum.Orphans, sum.States, sub.seen[recs[0].ID])
	}
	// Its expiry callback, carrying our externalRef, adopts it.
	res := pipeline.Result{ScanRef: "scan-orphan", ExternalRef: recs[0].Ref, Final: true, Overall: "EXPIRED", Source: "webhook"}
	out, _, err := pipeline.ApplyResult(ctx, st, res, "run3", time.Now())
	if err != nil || out != pipeline.ResultAdopted {
		t.Fatalf("adopt: %v %v", out, err)
	}
	got, _ := st.Get(ctx, recs[0].ID)
	if got.State != pipeline.StatePending || got.Outcome != "" || got.ScanRef != "" {
		t.Errorf("adopted orphan: state %s outcome %s scanRef %q; want pending, verified again", got.State, got.Outcome, got.ScanRef)
	}
	// A stray result naming a pending record's externalRef moves nothing.
	other, _ := st.List(ctx, pipeline.ListQuery{Job: "j", States: []pipeline.State{pipeline.StateSubmitted}, Limit: 1})
	_ = other
}

// A record that failed (and was exported as FAILED) and then receives its
// result after all is exported again with the real outcome.
func TestResultAfterFailureIsExportedAgain(t *testing.T) {
	st := openStore(t, 1)
	ctx := context.Background()
	recs, _ := st.List(ctx, pipeline.ListQuery{Job: "j", Limit: 1})
	rec := recs[0]
	now := time.Now()
	scan, failed := "scan-late", pipeline.OutcomeFailed
	steps := []struct {
		to pipeline.State
		p  pipeline.Patch
	}{
		{pipeline.StateTokening, pipeline.Patch{IntentAt: &now}},
		{pipeline.StateTokened, pipeline.Patch{ScanRef: &scan}},
		{pipeline.StateFailed, pipeline.Patch{Outcome: &failed}},
	}
	for _, s := range steps {
		if err := st.Transition(ctx, pipeline.Transition{ID: rec.ID, From: rec.State, To: s.to, Now: now, Patch: s.p}); err != nil {
			t.Fatal(err)
		}
		rec.State = s.to
	}
	if err := st.MarkExported(ctx, []int64{rec.ID}, now); err != nil {
		t.Fatal(err)
	}
	out, _, err := pipeline.ApplyResult(ctx, st, pipeline.Result{ScanRef: scan, Final: true, Overall: "APPROVED"}, "run2", now)
	if err != nil || out != pipeline.ResultApplied {
		t.Fatalf("apply: %v %v", out, err)
	}
	got, _ := st.Get(ctx, rec.ID)
	if got.State != pipeline.StateFinal || got.Outcome != pipeline.OutcomeApproved || !got.ExportedAt.IsZero() {
		t.Errorf("late result: state %s outcome %s exported_at %v; want final, APPROVED, not exported", got.State, got.Outcome, got.ExportedAt)
	}
}

// The EXPIRED callback of an unused token must not end a record that is
// tokened (the stage re-tokens it after /status) nor adopt a record that is
// creating its next token.
func TestExpiredCallbackDoesNotEndLiveRecords(t *testing.T) {
	st := openStore(t, 2)
	ctx := context.Background()
	recs, _ := st.List(ctx, pipeline.ListQuery{Job: "j", Limit: 2})
	now := time.Now()
	scan := "scan-t1"
	// recs[0]: tokened with scan-t1. recs[1]: tokening (no scanRef).
	for _, step := range []struct {
		id int64
		to pipeline.State
		p  pipeline.Patch
	}{
		{recs[0].ID, pipeline.StateTokening, pipeline.Patch{IntentAt: &now}},
		{recs[0].ID, pipeline.StateTokened, pipeline.Patch{ScanRef: &scan}},
		{recs[1].ID, pipeline.StateTokening, pipeline.Patch{IntentAt: &now}},
	} {
		cur, _ := st.Get(ctx, step.id)
		if err := st.Transition(ctx, pipeline.Transition{ID: step.id, From: cur.State, To: step.to, Now: now, Patch: step.p}); err != nil {
			t.Fatal(err)
		}
	}
	expired := pipeline.Result{ScanRef: scan, ExternalRef: recs[0].Ref, Final: true, Overall: "EXPIRED"}
	if out, _, err := pipeline.ApplyResult(ctx, st, expired, "r", now); err != nil || out != pipeline.ResultIgnored {
		t.Errorf("expiry of a tokened record: %v %v, want ignored", out, err)
	}
	old := pipeline.Result{ScanRef: "scan-old", ExternalRef: recs[1].Ref, Final: true, Overall: "EXPIRED"}
	if out, _, err := pipeline.ApplyResult(ctx, st, old, "r", now); err != nil || out != pipeline.ResultUnknown {
		t.Errorf("old token's callback for a tokening record: %v %v, want unknown", out, err)
	}
	for i, want := range []pipeline.State{pipeline.StateTokened, pipeline.StateTokening} {
		if got, _ := st.Get(ctx, recs[i].ID); got.State != want {
			t.Errorf("record %d: state %s, want %s", i, got.State, want)
		}
	}
}
