package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

type countsFunc func(ctx context.Context, job string) (map[pipeline.State]int, error)

func (f countsFunc) Counts(ctx context.Context, job string) (map[pipeline.State]int, error) {
	return f(ctx, job)
}

func TestStoreHealth(t *testing.T) {
	up := countsFunc(func(context.Context, string) (map[pipeline.State]int, error) { return nil, nil })
	down := countsFunc(func(context.Context, string) (map[pipeline.State]int, error) { return nil, errors.New("down") })
	for _, c := range []struct {
		st   recordCounter
		want int
	}{{up, http.StatusOK}, {down, http.StatusServiceUnavailable}} {
		rr := httptest.NewRecorder()
		storeHealth(c.st, "j").ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rr.Code != c.want {
			t.Errorf("/healthz: %d, want %d", rr.Code, c.want)
		}
	}
}
