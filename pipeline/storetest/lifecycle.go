package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runLifecycle: results never move a record back; intents and orphans.
func runLifecycle(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "ResultNeverBackwards", testResultNeverBackwards)
	parallel(t, open, "IntentsAndOrphans", testIntentsAndOrphans)
}

// testResultNeverBackwards drives results through pipeline.ApplyResult, as
// the webhook handler and the poller do: duplicates, replays and an
// automatic result arriving after the final one never move a record back.
func testResultNeverBackwards(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "results"
	mustLoad(t, s, job, Records(job, 0, 2), T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	r := all[0]
	scan := "SCAN-RES"
	sub := at(time.Minute)
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: sub,
		Patch: pipeline.Patch{ScanRef: &scan, SubmittedAt: &sub}}))

	auto := pipeline.Result{ScanRef: scan, Overall: "APPROVED", Source: "webhook", ReceivedAt: at(2 * time.Minute)}
	final := pipeline.Result{ScanRef: scan, Overall: "DENIED", Final: true, Source: "webhook", ReceivedAt: at(3 * time.Minute)}

	apply := func(res pipeline.Result, now time.Time, want pipeline.ApplyOutcome) {
		t.Helper()
		got, _, err := pipeline.ApplyResult(ctx, s, res, "run-r", now)
		if err != nil || got != want {
			t.Errorf("apply %s (final %v): %v, %v; want %v", res.Overall, res.Final, got, err, want)
		}
	}
	apply(auto, at(2*time.Minute), pipeline.ResultApplied)
	if g := mustGet(t, s, r.ID); g.State != pipeline.StateSubmitted || g.Result == nil || g.Result.Overall != "APPROVED" {
		t.Fatalf("after the automatic result: %s %+v", g.State, g.Result)
	}
	apply(auto, at(2*time.Minute), pipeline.ResultIgnored) // duplicate
	apply(final, at(3*time.Minute), pipeline.ResultApplied)
	after := mustGet(t, s, r.ID)
	if after.State != pipeline.StateFinal || after.Outcome != pipeline.OutcomeDenied || !after.Result.Final || !after.ResultAt.Equal(at(3*time.Minute)) {
		t.Fatalf("after the final result: %s %s %+v result_at %v", after.State, after.Outcome, after.Result, after.ResultAt)
	}
	// Late automatic result, replayed final one, a different final verdict: all ignored.
	apply(auto, at(4*time.Minute), pipeline.ResultIgnored)
	apply(final, at(4*time.Minute), pipeline.ResultIgnored)
	other := final
	other.Overall = "APPROVED"
	apply(other, at(5*time.Minute), pipeline.ResultIgnored)
	if g := mustGet(t, s, r.ID); !reflect.DeepEqual(g, after) {
		t.Errorf("a result that does not rank higher changed the final record:\n%+v\n%+v", g, after)
	}
	// Exported, then a late webhook: still nothing changes (not exported twice).
	mustNoErr(t, s.MarkExported(ctx, []int64{r.ID}, at(6*time.Minute)))
	exported := mustGet(t, s, r.ID)
	apply(auto, at(7*time.Minute), pipeline.ResultIgnored)
	if g := mustGet(t, s, r.ID); !reflect.DeepEqual(g, exported) {
		t.Errorf("a late result changed an exported record")
	}
	// A result for a record never sent (pending) or unknown never moves it.
	stray := pipeline.Result{ScanRef: "SCAN-STRAY", ExternalRef: all[1].Ref, Overall: "APPROVED", Final: true}
	apply(stray, at(time.Hour), pipeline.ResultUnknown)
	if g := mustGet(t, s, all[1].ID); g.State != pipeline.StatePending || g.ScanRef != "" {
		t.Errorf("a stray result moved a pending record: %s %q", g.State, g.ScanRef)
	}
	apply(pipeline.Result{ScanRef: "SCAN-NONE", Final: true, Overall: "APPROVED"}, at(time.Hour), pipeline.ResultUnknown)
}

// testIntentsAndOrphans walks the crash protocol's states: an intent
// (tokening, intent_at, attempts) written before /token; a worker dying
// there leaves the record leased in tokening; once the lease expired the
// rescue claims it and makes it an orphan, which no claim for work ever
// returns again; the token's expiry callback, carrying our externalRef,
// adopts it.
func testIntentsAndOrphans(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "orphans"
	mustLoad(t, s, job, Records(job, 0, 3), T0)
	work := []pipeline.State{pipeline.StatePending, pipeline.StateTokened}
	c := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: work, Owner: "dead", Limit: 2, Lease: time.Minute, Now: T0})
	if len(c) != 2 {
		t.Fatalf("claimed %d", len(c))
	}
	intent := at(time.Second)
	for _, r := range c {
		mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, Version: r.Version, To: pipeline.StateTokening,
			Now: intent, Patch: pipeline.Patch{IntentAt: &intent, Attempts: new(1), KeepLease: true}}))
	}
	// The second one got its token stored before the crash.
	scan, tok, exp := "SCAN-ORPHAN-2", "tok-2", at(15*time.Minute)
	r1 := mustGet(t, s, c[1].ID)
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r1.ID, From: pipeline.StateTokening, Version: r1.Version, To: pipeline.StateTokened,
		Now: at(2 * time.Second), Patch: pipeline.Patch{ScanRef: &scan, AuthToken: &tok, TokenExpiresAt: &exp, KeepLease: true}}))
	r0 := mustGet(t, s, c[0].ID)
	if r0.State != pipeline.StateTokening || !r0.IntentAt.Equal(intent) || r0.Attempts != 1 || r0.LeaseOwner != "dead" {
		t.Fatalf("intent: %s intent %v attempts %d lease %q", r0.State, r0.IntentAt, r0.Attempts, r0.LeaseOwner)
	}
	// The process dies here. While the leases run, nobody touches either record.
	if got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateTokening, pipeline.StateTokened}, Owner: "next", Limit: 10, Lease: time.Minute, Now: at(30 * time.Second)}); len(got) != 0 {
		t.Fatalf("claimed %v while the dead worker's leases run", ids(got))
	}
	// The next run: work claims return the tokened record (to reconcile) and
	// the pending one, never the tokening one.
	got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: work, Owner: "next", Limit: 10, Lease: time.Minute, Now: at(2 * time.Minute)})
	if len(got) != 2 || got[0].ID == r0.ID || got[1].ID == r0.ID {
		t.Fatalf("work claim after the crash: %v (tokening record %d must not be among them)", ids(got), r0.ID)
	}
	for _, g := range got {
		if g.ID == r1.ID && (g.State != pipeline.StateTokened || g.ScanRef != scan || g.AuthToken != tok || !g.TokenExpiresAt.Equal(exp)) {
			t.Errorf("claimed tokened record: %s %q %q %v", g.State, g.ScanRef, g.AuthToken, g.TokenExpiresAt)
		}
	}
	// The rescue claims the tokening record and makes it an orphan.
	res := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateTokening}, Owner: "next", Limit: 10, Lease: time.Minute, Now: at(2 * time.Minute)})
	if len(res) != 1 || res[0].ID != r0.ID {
		t.Fatalf("rescue claim: %v, want [%d]", ids(res), r0.ID)
	}
	code := "possible_orphan_token"
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r0.ID, From: pipeline.StateTokening, Version: res[0].Version, To: pipeline.StateOrphan,
		Now: at(2 * time.Minute), Patch: pipeline.Patch{ErrorCode: &code}}))
	for _, st := range [][]pipeline.State{work, {pipeline.StateTokening}} {
		if got := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: st, Owner: "later", Limit: 10, Lease: time.Minute, Now: at(time.Hour)}); len(got) != 0 {
			for _, g := range got {
				if g.ID == r0.ID {
					t.Errorf("the orphan was claimed for %v", st)
				}
			}
		}
	}
	if o := mustList(t, s, pipeline.ListQuery{Job: job, States: []pipeline.State{pipeline.StateOrphan}}); len(o) != 1 || o[0].ID != r0.ID ||
		o[0].ErrorCode != code || !o[0].IntentAt.Equal(intent) || o[0].ScanRef != "" {
		t.Fatalf("orphans listed: %+v", o)
	}
	if n := mustCounts(t, s, job)[pipeline.StateOrphan]; n != 1 {
		t.Errorf("counts: %d orphans, want 1", n)
	}
	// The orphan token expires unused; iDenfy's callback names our
	// externalRef and a scanRef we never stored: the record adopts it and
	// goes back to pending, to be verified with a new token.
	expired := pipeline.Result{ScanRef: "SCAN-ORPHAN-1", ExternalRef: r0.Ref, Overall: "EXPIRED", Final: true, Source: "webhook", ReceivedAt: at(16 * time.Minute)}
	o, _, err := pipeline.ApplyResult(ctx, s, expired, "run-3", at(16*time.Minute))
	if err != nil || o != pipeline.ResultAdopted {
		t.Fatalf("expiry callback of the orphan token: %v, %v; want adopted", o, err)
	}
	a := mustGet(t, s, r0.ID)
	if a.State != pipeline.StatePending || a.ScanRef != "" || a.Outcome != "" || !a.IntentAt.IsZero() || a.ErrorCode != "orphan_token_expired" || a.Attempts != r0.Attempts {
		t.Errorf("adopted orphan: %s %q %q intent %v code %q attempts %d; want pending, verified again (attempt kept)", a.State, a.ScanRef, a.Outcome, a.IntentAt, a.ErrorCode, a.Attempts)
	}
	// A second callback for another token of the same externalRef is not adopted.
	o, _, err = pipeline.ApplyResult(ctx, s, pipeline.Result{ScanRef: "SCAN-OTHER", ExternalRef: r0.Ref, Overall: "EXPIRED", Final: true}, "run-3", at(17*time.Minute))
	if err != nil || o != pipeline.ResultUnknown {
		t.Errorf("callback of another scanRef for an adopted record: %v, %v; want unknown", o, err)
	}
}

// PopulateForMigration writes records in several states, with results and
// runs, into s (opened at an older schema version) and returns them, for
// CheckAfterMigration once s is reopened at the current version.
func PopulateForMigration(t *testing.T, s pipeline.Store, job string) []pipeline.Record {
	t.Helper()
	ctx := t.Context()
	recs := Records(job, 0, 6)
	recs[5].State, recs[5].RejectReason = pipeline.StateRejected, pipeline.RejectBadCountry
	mustLoad(t, s, job, recs, T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	scan, tok := "SCAN-MIG-1", "tok-mig"
	sub := at(time.Minute)
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[0].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: sub,
		Patch: pipeline.Patch{ScanRef: &scan, AuthToken: &tok, IntentAt: &sub}}))
	scan2 := "SCAN-MIG-2"
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[1].ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: sub,
		Patch: pipeline.Patch{ScanRef: &scan2, SubmittedAt: &sub}}))
	scan3 := "SCAN-MIG-3"
	res := &pipeline.Result{ScanRef: scan3, Overall: "APPROVED", Final: true, Raw: []byte(`{"final": true}`), ReceivedAt: sub}
	outcome := pipeline.OutcomeApproved
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[2].ID, From: pipeline.StatePending, To: pipeline.StateFinal, Now: sub,
		Patch: pipeline.Patch{ScanRef: &scan3, SubmittedAt: &sub, ResultAt: &sub, Result: res, Outcome: &outcome}}))
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[3].ID, From: pipeline.StatePending, To: pipeline.StateOrphan, Now: sub,
		Patch: pipeline.Patch{IntentAt: &sub}}))
	mustNoErr(t, s.StartRun(ctx, pipeline.Run{ID: "run-mig", Job: job, Command: "run", StartedAt: T0}))
	return mustList(t, s, pipeline.ListQuery{Job: job})
}

// CheckAfterMigration checks that a migrated Store holds exactly the
// records PopulateForMigration wrote, and that they move on as usual.
func CheckAfterMigration(t *testing.T, s pipeline.Store, job string, before []pipeline.Record) {
	t.Helper()
	ctx := t.Context()
	after := mustList(t, s, pipeline.ListQuery{Job: job})
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("migration changed records:\n%+v\n%+v", after, before)
	}
	if runs, err := s.Runs(ctx, job, 0); err != nil || len(runs) != 1 || runs[0].ID != "run-mig" {
		t.Errorf("runs after migration: %+v, %v", runs, err)
	}
	if st := mustLoad(t, s, job, Records(job, 0, 5), at(time.Hour)); st.Unchanged != 5 {
		t.Errorf("reload after migration: %+v, want 5 unchanged", st)
	}
	if got := mustList(t, s, pipeline.ListQuery{Job: job, States: []pipeline.State{pipeline.StateSubmitted}, SubmittedBefore: at(time.Hour)}); len(got) != 1 || got[0].ID != before[1].ID {
		t.Errorf("overdue submitted after migration: %v", ids(got))
	}
	c := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StatePending, pipeline.StateTokened}, Owner: "w", Limit: 10, Lease: time.Minute, Now: at(time.Hour)})
	if len(c) != 2 || c[0].ID != before[0].ID || c[1].ID != before[4].ID {
		t.Errorf("claim after migration: %v", ids(c))
	}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: c[1].ID, From: pipeline.StatePending, Version: c[1].Version, To: pipeline.StateTokening, Now: at(time.Hour)}))
	if _, err := s.ByScanRef(ctx, "SCAN-MIG-3"); err != nil {
		t.Errorf("ByScanRef after migration: %v", err)
	}
	if err := s.Transition(ctx, pipeline.Transition{ID: before[4].ID, From: pipeline.StateTokening, To: pipeline.StateTokened, Now: at(time.Hour),
		Patch: pipeline.Patch{ScanRef: new("SCAN-MIG-1")}}); !errors.Is(err, pipeline.ErrScanRefTaken) {
		t.Errorf("duplicate scanRef after migration: %v, want ErrScanRefTaken", err)
	}
}
