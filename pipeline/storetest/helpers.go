package storetest

import (
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

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
