package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runExport: MarkExported marks end-state records once.
func runExport(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "MarkExported", testMarkExported)
}

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
