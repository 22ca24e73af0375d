package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runClaim: Claim hands out records by state, order, lease and NotBefore.
func runClaim(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "ClaimLimitAndOrder", testClaimLimitAndOrder)
	parallel(t, open, "ClaimLease", testClaimLease)
	parallel(t, open, "ClaimNotBefore", testClaimNotBefore)
	parallel(t, open, "ClaimStates", testClaimStates)
}

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
