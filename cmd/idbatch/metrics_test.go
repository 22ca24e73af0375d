package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit"
)

type countsFunc func(ctx context.Context, job string) (map[pipeline.State]int, error)

func (f countsFunc) Counts(ctx context.Context, job string) (map[pipeline.State]int, error) {
	return f(ctx, job)
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rr.Body.String()
}

// The metrics count API requests by endpoint and status, errors by kind,
// webhook and poll outcomes, limiter waits, and records by state.
func TestMetrics(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/status":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/api/v2/token":
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer api.Close()
	lim := submit.NewLimiter(3600, 1)
	_ = lim.Wait(context.Background())
	m := newMetrics(countsFunc(func(context.Context, string) (map[pipeline.State]int, error) {
		return map[pipeline.State]int{pipeline.StateFinal: 7, pipeline.StateSubmitted: 2}, nil
	}), "j", lim)
	hc := m.httpClient()
	for _, p := range []string{"/api/v2/status", "/api/v2/status", "/api/v2/token", "/api/v2/process"} {
		resp, err := hc.Post(api.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := hc.Post("http://127.0.0.1:1/api/v2/data", "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("port 1 answered")
	}
	m.webhookOutcome("applied")
	m.webhookOutcome("applied")
	m.webhookOutcome("bad_signature")
	m.pollOutcome("pending")
	out := scrape(t, m.handler())
	for _, want := range []string{
		`idbatch_api_requests_total{code="429",endpoint="status"} 2`,
		`idbatch_api_requests_total{code="201",endpoint="token"} 1`,
		`idbatch_api_requests_total{code="502",endpoint="process"} 1`,
		`idbatch_api_requests_total{code="error",endpoint="data"} 1`,
		`idbatch_api_errors_total{endpoint="status",kind="throttled"} 2`,
		`idbatch_api_errors_total{endpoint="process",kind="server"} 1`,
		`idbatch_api_errors_total{endpoint="data",kind="network"} 1`,
		`idbatch_webhooks_total{outcome="applied"} 2`,
		`idbatch_webhooks_total{outcome="bad_signature"} 1`,
		`idbatch_polls_total{outcome="pending"} 1`,
		`idbatch_limiter_waits_total 1`,
		`idbatch_limiter_rate_per_hour 3600`,
		`idbatch_records{job="j",state="final"} 7`,
		`idbatch_records{job="j",state="submitted"} 2`,
		`idbatch_records{job="j",state="pending"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A Store that is down makes the records metric fail, not the scrape.
	down := newMetrics(countsFunc(func(context.Context, string) (map[pipeline.State]int, error) {
		return nil, errors.New("down")
	}), "j", nil)
	rr := httptest.NewRecorder()
	down.handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rr.Body.String(); rr.Code != http.StatusOK || strings.Contains(body, "idbatch_records{") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("scrape with the Store down: %d\n%s", rr.Code, body)
	}
	if endpointOf("/prefix/api/v2/add-dummy-status/") != "add-dummy-status" || endpointOf("/x") != "other" {
		t.Error("endpointOf")
	}
}
