package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runTransition: Transition is a compare-and-set that applies its Patch.
func runTransition(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "TransitionCompareAndSet", testTransitionCompareAndSet)
	parallel(t, open, "TransitionPatch", testTransitionPatch)
	parallel(t, open, "ScanRefUnique", testScanRefUnique)
	parallel(t, open, "ClaimAndTransitionValidation", testClaimAndTransitionValidation)
}

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

// testClaimAndTransitionValidation: a claim without Job, States, Owner or
// Lease, or with an unknown state, and a transition to an unknown state are
// errors (not ErrConflict, not ErrNotFound).
func testClaimAndTransitionValidation(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	for _, req := range []pipeline.ClaimRequest{
		{States: []pipeline.State{pipeline.StatePending}, Owner: "w", Limit: 1, Lease: time.Second},
		{Job: "j", Owner: "w", Limit: 1, Lease: time.Second},
		{Job: "j", States: []pipeline.State{pipeline.StatePending}, Limit: 1, Lease: time.Second},
		{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "w", Limit: 1},
		{Job: "j", States: []pipeline.State{"pendign"}, Owner: "w", Limit: 1, Lease: time.Second},
	} {
		if _, err := s.Claim(ctx, req); err == nil {
			t.Errorf("claim %+v: no error", req)
		}
	}
	err := s.Transition(ctx, pipeline.Transition{ID: 1, From: pipeline.StatePending, To: "sumbitted"})
	if err == nil || errors.Is(err, pipeline.ErrConflict) || errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("transition to an unknown state: %v", err)
	}
}
