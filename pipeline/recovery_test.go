package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// Records held by a worker that died (its heartbeat stopped) are taken over
// at once, under the crash rules, with the default lease (10 minutes) still
// running: a pending record is submitted, a tokening one becomes a possible
// orphan retried at intent + expiryTime + margin (the defaults: 15 + 2
// minutes); an orphan whose token has certainly expired is verified again.
func TestRunnerTakesOverDeadWorkerOnDefaults(t *testing.T) {
	st := openStore(t, 4)
	ctx := context.Background()
	now := time.Now()
	// A worker that claimed every record and died 11 s ago.
	if err := st.RegisterWorker(ctx, pipeline.Worker{ID: "dead", Job: "j", StartedAt: now.Add(-time.Minute), HeartbeatAt: now.Add(-11 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Claim(ctx, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "dead", Limit: 4, Lease: 10 * time.Minute, Now: now.Add(-20 * time.Second)})
	if err != nil || len(recs) != 4 {
		t.Fatalf("claim: %v %d", err, len(recs))
	}
	// recs[0] stays pending; recs[1] is tokening right now (its token may
	// exist); recs[2] was tokening 20 minutes ago (any token has expired);
	// recs[3] is an orphan whose retry instant has passed.
	fresh, old := now.Add(-15*time.Second), now.Add(-20*time.Minute)
	mustMove(t, st, recs[1], pipeline.StateTokening, pipeline.Patch{IntentAt: &fresh, TokenExpiresAt: ptr(fresh.Add(15 * time.Minute)), Attempts: ptr(1), KeepLease: true})
	mustMove(t, st, recs[2], pipeline.StateTokening, pipeline.Patch{IntentAt: &old, TokenExpiresAt: ptr(old.Add(15 * time.Minute)), Attempts: ptr(1), KeepLease: true})
	mustMove(t, st, recs[3], pipeline.StateOrphan, pipeline.Patch{IntentAt: &old, NotBefore: ptr(now.Add(-time.Second)), Attempts: ptr(1)})

	sub := &fakeSubmit{st: st}
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run2", Owner: "next", Preparer: &fakePrep{}, Submitter: sub}
	sum, err := r.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := func(rec pipeline.Record) pipeline.Record {
		g, err := st.Get(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := got(recs[0]); g.State != pipeline.StateSubmitted {
		t.Errorf("the dead worker's pending record: %s, want submitted at once", g.State)
	}
	g1 := got(recs[1])
	wantRetry := fresh.Add(15*time.Minute + 2*time.Minute)
	if g1.State != pipeline.StateOrphan || sub.seen[recs[1].ID] != 0 || g1.NotBefore.Sub(wantRetry).Abs() > time.Millisecond {
		t.Errorf("the record tokening when its worker died: %s, retried at %v (want orphan, retried at %v), submitted %d times",
			g1.State, g1.NotBefore, wantRetry, sub.seen[recs[1].ID])
	}
	for _, rec := range recs[2:] {
		if g := got(rec); g.State != pipeline.StateSubmitted || g.Attempts != 1 || sub.seen[rec.ID] != 1 {
			t.Errorf("record %d whose possible token has expired: %s, %d attempts, submitted %d times; want verified again once",
				rec.ID, g.State, g.Attempts, sub.seen[rec.ID])
		}
	}
	if sum.OrphansWaiting != 1 || sum.OrphansRetryAt.Sub(wantRetry).Abs() > time.Millisecond || sum.Orphans != 2 {
		t.Errorf("summary: %d orphans found, %d waiting until %v; want 2 found, 1 waiting until %v", sum.Orphans, sum.OrphansWaiting, sum.OrphansRetryAt, wantRetry)
	}
	ws, err := st.Workers(ctx, "j", 0)
	if err != nil || len(ws) != 2 || ws[0].ID != "next" || ws[0].StoppedAt.IsZero() {
		t.Errorf("workers after the run: %+v %v; want this run registered and stopped", ws, err)
	}
}

// A live worker's records are left alone (its lease and heartbeat hold),
// and the run reports them, with until when, instead of a silent success.
func TestRunnerLeavesLiveWorkerAlone(t *testing.T) {
	st := openStore(t, 3)
	ctx := context.Background()
	now := time.Now()
	if err := st.RegisterWorker(ctx, pipeline.Worker{ID: "alive", Job: "j", StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "alive", Limit: 2, Lease: 10 * time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	sub := &fakeSubmit{st: st}
	r := &pipeline.Runner{Store: st, Job: "j", RunID: "run2", Owner: "next", Preparer: &fakePrep{}, Submitter: sub}
	sum, err := r.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sub.count != 1 || sum.HeldByOthers != 2 || sum.HeldUntil.Before(now.Add(10*time.Minute-time.Second)) {
		t.Errorf("submitted %d, held by others %d until %v; want 1, 2 until ~%v", sub.count, sum.HeldByOthers, sum.HeldUntil, now.Add(10*time.Minute))
	}
}

func mustMove(t *testing.T, st pipeline.Store, rec pipeline.Record, to pipeline.State, p pipeline.Patch) {
	t.Helper()
	cur, err := st.Get(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Transition(context.Background(), pipeline.Transition{ID: rec.ID, From: cur.State, Version: cur.Version, To: to, Now: time.Now(), Patch: p}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// An ACTIVE result (the token is unused) never makes a tokened record
// submitted: the upload did not land.
func TestActiveResultDoesNotSubmit(t *testing.T) {
	st := openStore(t, 1)
	ctx := context.Background()
	recs, _ := st.List(ctx, pipeline.ListQuery{Job: "j"})
	scan := "scan-active"
	mustMove(t, st, recs[0], pipeline.StateTokened, pipeline.Patch{ScanRef: &scan})
	for _, final := range []bool{false, true} {
		out, _, err := pipeline.ApplyResult(ctx, st, pipeline.Result{ScanRef: scan, Overall: "ACTIVE", Final: final, Source: "poll"}, "r", time.Now())
		if err != nil || out != pipeline.ResultIgnored {
			t.Errorf("ACTIVE (final %v): %v %v, want ignored", final, out, err)
		}
	}
	if got, _ := st.Get(ctx, recs[0].ID); got.State != pipeline.StateTokened {
		t.Errorf("record %s after ACTIVE results, want tokened", got.State)
	}
}
