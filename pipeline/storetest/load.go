package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runLoad: Load inserts, updates and keeps records, job by job.
func runLoad(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "LoadIdempotent", testLoadIdempotent)
	parallel(t, open, "LoadUpdatesPendingAndRejected", testLoadUpdatesPendingAndRejected)
	parallel(t, open, "LoadUpdateBeatsClaimer", testLoadUpdateBeatsClaimer)
	parallel(t, open, "LoadKeepsSubmitted", testLoadKeepsSubmitted)
	parallel(t, open, "LoadRejectedRows", testLoadRejectedRows)
	parallel(t, open, "LoadJobsAreSeparate", testLoadJobsAreSeparate)
	parallel(t, open, "LoadDefaultsAndValidation", testLoadDefaultsAndValidation)
}

func testLoadIdempotent(t *testing.T, s pipeline.Store) {
	const job = "load"
	recs := Records(job, 0, 50)
	recs[7].State = pipeline.StateRejected
	recs[7].RejectReason = pipeline.RejectBadCountry
	recs[7].ErrorMessage = "country \"XX\" is not ISO 3166 alpha-2"
	recs[7].Input.Country = "XX"

	st := mustLoad(t, s, job, recs, T0)
	if st.Inserted != 50 || st.Updated != 0 || st.Unchanged != 0 || st.Kept != 0 || st.NewRejects != 1 {
		t.Fatalf("first load: %+v, want 50 inserted, 1 of them rejected", st)
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
	if st.Inserted != 0 || st.Updated != 0 || st.Unchanged != 50 || st.Kept != 0 || len(st.KeptKeys) != 0 || st.NewRejects != 0 {
		t.Fatalf("second load of the same manifest: %+v, want 50 unchanged, no new reject", st)
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
	if st.Updated != 2 || st.Unchanged != 1 || st.Inserted != 0 || st.Kept != 0 || st.NewRejects != 1 {
		t.Fatalf("load of changed rows: %+v, want 2 updated (1 now rejected), 1 unchanged", st)
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
	if st.Updated != 1 || st.NewRejects != 0 {
		t.Fatalf("load of a fixed rejected row: %+v, want 1 updated, no new reject", st)
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
	if st := mustLoad(t, s, job, recs, T0); st.Inserted != 4 || st.NewRejects != 2 {
		t.Fatalf("load: %+v, want 4 inserted, 2 of them rejected", st)
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
	if st := mustLoad(t, s, job, recs, at(time.Hour)); st.Unchanged != 4 || st.NewRejects != 0 {
		t.Errorf("reload: %+v, want 4 unchanged, no new reject", st)
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

// testLoadDefaultsAndValidation: Load fills in Ref, Job and State, refuses
// a bad record or a duplicate Ref with the whole batch, and keeps the last
// row of a key given twice in one batch.
func testLoadDefaultsAndValidation(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	recs := Records("job", 0, 2)
	recs[0].Ref, recs[0].Job, recs[0].State = "", "", ""
	if _, err := s.Load(ctx, "job", recs, T0); err != nil {
		t.Fatal(err)
	}
	r, err := s.ByRef(ctx, pipeline.RefFor("job", recs[0].Key))
	if err != nil || r.State != pipeline.StatePending || r.Job != "job" {
		t.Errorf("record loaded without Ref/Job/State: %+v, %v", r, err)
	}
	bad := []func(r *pipeline.Record){
		func(r *pipeline.Record) { r.Key = "" },
		func(r *pipeline.Record) { r.Job = "other" },
		func(r *pipeline.Record) { r.State = pipeline.StateSubmitted },
	}
	for i, mut := range bad {
		rs := Records("job", 10, 3)
		mut(&rs[1])
		if _, err := s.Load(ctx, "job", rs, T0); err == nil {
			t.Errorf("bad record %d: no error", i)
		}
	}
	// A failing batch loads nothing: a Ref already used by another record.
	rs := Records("job", 20, 3)
	rs[2].Ref = recs[1].Ref
	if _, err := s.Load(ctx, "job", rs, T0); err == nil {
		t.Error("duplicate ref: no error")
	}
	if c, _ := s.Counts(ctx, "job"); c[pipeline.StatePending] != 2 {
		t.Errorf("after failed loads: %v, want only the 2 first records", c)
	}
	// A key twice in one batch: one record, the last row.
	dup := Records("job", 30, 2)
	dup[1] = dup[0]
	dup[1].Input.FirstName = "Later"
	st, err := s.Load(ctx, "job", dup, T0)
	if err != nil || st.Inserted != 1 || st.Updated != 1 {
		t.Fatalf("batch with a key twice: %+v, %v", st, err)
	}
	if r, err := s.ByRef(ctx, dup[0].Ref); err != nil || r.Input.FirstName != "Later" {
		t.Errorf("batch with a key twice: %+v, %v", r.Input, err)
	}
	// A bad row fixed later in the same batch is no new reject; a good row
	// spoiled later in it is one.
	for i, wantRejects := range []int{0, 1} {
		rows := Records("job", 40+i, 1)
		rows = append(rows, rows[0])
		bad := &rows[i]
		bad.State, bad.RejectReason, bad.Input.Country = pipeline.StateRejected, pipeline.RejectBadCountry, "XX"
		if st, err := s.Load(ctx, "job", rows, T0); err != nil || st.NewRejects != wantRejects {
			t.Errorf("batch with a key twice, row %d bad: %+v, %v; want %d new rejects", i, st, err, wantRejects)
		}
	}
	if _, err := s.Load(ctx, "", recs, T0); err == nil {
		t.Error("empty job: no error")
	}
}
