package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runList: List pages and filters; Counts counts per state.
func runList(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "ListPaging", testListPaging)
	parallel(t, open, "ListFilters", testListFilters)
	parallel(t, open, "Counts", testCounts)
}

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
