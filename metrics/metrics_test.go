package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

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
	m := New(countsFunc(func(context.Context, string) (map[pipeline.State]int, error) {
		return map[pipeline.State]int{pipeline.StateFinal: 7, pipeline.StateSubmitted: 2}, nil
	}), "j", lim, "test")
	hc := m.HTTPClient()
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
	m.WebhookOutcome("applied")
	m.WebhookOutcome("applied")
	m.WebhookOutcome("bad_signature")
	m.PollOutcome("pending")
	out := scrape(t, m.Handler())
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
		`idbatch_records{idbatch_job="j",state="final"} 7`,
		`idbatch_records{idbatch_job="j",state="submitted"} 2`,
		`idbatch_records{idbatch_job="j",state="pending"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A Store that is down makes the records metric fail, not the scrape.
	down := New(countsFunc(func(context.Context, string) (map[pipeline.State]int, error) {
		return nil, errors.New("down")
	}), "j", nil, "test")
	rr := httptest.NewRecorder()
	down.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rr.Body.String(); rr.Code != http.StatusOK || strings.Contains(body, "idbatch_records{") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("scrape with the Store down: %d\n%s", rr.Code, body)
	}
	if endpointOf("/prefix/api/v2/add-dummy-status/") != "add-dummy-status" || endpointOf("/x") != "other" {
		t.Error("endpointOf")
	}
}

// fakeRuns is a Store's Counts and Runs.
type fakeRuns struct {
	counts map[pipeline.State]int
	runs   []pipeline.Run
}

func (f fakeRuns) Counts(context.Context, string) (map[pipeline.State]int, error) {
	return f.counts, nil
}
func (f fakeRuns) Runs(context.Context, string, int) ([]pipeline.Run, error) { return f.runs, nil }

// fakeBudget is a Store's budgets, read at clock.
type fakeBudget struct {
	buckets map[string]pipeline.Budget
	clock   time.Time
	err     error
}

func (f fakeBudget) Budget(_ context.Context, name string, _ time.Time) (pipeline.Budget, time.Time, bool, error) {
	b, ok := f.buckets[name]
	return b, f.clock, ok, f.err
}

// exampleBudget: the account at half its rate after 429s, and paused for
// 3 minutes more (90 calls of debt at 0.5/s).
func exampleBudget() fakeBudget {
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	return fakeBudget{clock: at, buckets: map[string]pipeline.Budget{
		"api:acct": {Level: -90, At: at, Factor: 0.5, Until: at.Add(10 * time.Minute), LastCut: at}}}
}

// The account budget gauges read the bucket at scrape time: 1 and 0 when it
// runs at the configured rate, nothing before any worker drew from it (or
// with no bucket named: SQLite), and no series with the Store down.
func TestAccountBudgetMetrics(t *testing.T) {
	fb := exampleBudget()
	fb.buckets["api:ok"] = pipeline.Budget{Level: 1, At: fb.clock, Factor: 0.5, Until: fb.clock.Add(-time.Second)}
	m := New(nil, "", nil, "test")
	m.AccountBudget(fb, pipeline.AccountBudget{Name: "api:ok", PerHour: 3600})
	if out := scrape(t, m.Handler()); !strings.Contains(out, "idbatch_account_rate_factor 1\n") || !strings.Contains(out, "idbatch_account_pause_seconds 0\n") {
		t.Errorf("account at its configured rate:\n%s", out)
	}
	for name, b := range map[string]pipeline.AccountBudget{"no bucket": {Name: "api:none", PerHour: 3600}, "none named": {}} {
		m := New(nil, "", nil, "test")
		m.AccountBudget(fb, b)
		if out := scrape(t, m.Handler()); strings.Contains(out, "idbatch_account_") {
			t.Errorf("%s: account gauges:\n%s", name, out)
		}
	}
	fb.err = errors.New("store down")
	m = New(nil, "", nil, "test")
	m.AccountBudget(fb, pipeline.AccountBudget{Name: "api:acct", PerHour: 3600})
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if out := rr.Body.String(); rr.Code != http.StatusOK || strings.Contains(out, "idbatch_account_rate_factor ") || !strings.Contains(out, "idbatch_build_info") {
		t.Errorf("scrape with the Store down: %d\n%s", rr.Code, out)
	}
}

func exampleStore() fakeRuns {
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	return fakeRuns{counts: map[pipeline.State]int{pipeline.StateFinal: 3},
		runs: []pipeline.Run{ // most recent first
			{ID: "r4", Command: "run", StartedAt: at.Add(4 * time.Hour)}, // running
			{ID: "r3", Command: "serve", StartedAt: at.Add(3 * time.Hour), FinishedAt: at.Add(5 * time.Hour)},
			{ID: "r2", Command: "run", StartedAt: at.Add(2 * time.Hour), FinishedAt: at.Add(150 * time.Minute), ExitCode: 3},
			{ID: "r1", Command: "run", StartedAt: at.Add(time.Hour), FinishedAt: at.Add(90 * time.Minute), ExitCode: 0},
		}}
}

// The exposition follows Prometheus' conventions: promlint finds nothing,
// no label of ours is called job or instance, the build is described, and
// the last finished run is there to alert on.
func TestMetricsConventions(t *testing.T) {
	m := New(exampleStore(), "legacy", submit.NewLimiter(3600, 1), "test")
	m.AccountBudget(exampleBudget(), pipeline.AccountBudget{Name: "api:acct", PerHour: 3600})
	m.WebhookOutcome("applied")
	m.PollOutcome("pending")
	m.apiRequests.WithLabelValues("token", "201").Inc()
	m.apiErrors.WithLabelValues("status", "throttled").Inc()
	m.apiDuration.WithLabelValues("token").Observe(0.2)
	out := scrape(t, m.Handler())

	problems, err := promlint.New(strings.NewReader(out)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if regexp.MustCompile(`[{,](job|instance)="`).MatchString(out) {
		t.Errorf("a metric has a job or instance label of its own:\n%s", out)
	}
	for _, want := range []string{
		`idbatch_build_info{goversion="` + runtime.Version() + `",revision="`,
		`idbatch_last_run_timestamp_seconds{idbatch_job="legacy"} 1.7410914e+09`, // r2 ended 12:30
		`idbatch_last_run_exit_code{idbatch_job="legacy"} 3`,
		`idbatch_last_success_timestamp_seconds{idbatch_job="legacy"} 1.7410878e+09`, // r1 ended 11:30
		`idbatch_records{idbatch_job="legacy",state="final"} 3`,
		"idbatch_account_rate_factor 0.5\n",
		"idbatch_account_pause_seconds 180\n",
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A finished run writes its metrics for node_exporter's textfile collector
// and pushes them to a Pushgateway: idbatch's own metrics (not the Go
// runtime's), the job in the grouping key, and no job label of ours.
func TestMetricsPublish(t *testing.T) {
	var pushed struct {
		method, path, body string
	}
	pgw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pushed.method, pushed.path, pushed.body = r.Method, r.URL.Path, string(b)
		w.WriteHeader(http.StatusOK)
	}))
	defer pgw.Close()
	m := New(exampleStore(), "legacy", nil, "test")
	m.AccountBudget(exampleBudget(), pipeline.AccountBudget{Name: "api:acct", PerHour: 3600})
	m.WebhookOutcome("applied")
	textfile := filepath.Join(t.TempDir(), "idbatch.prom")
	m.Publish(context.Background(), Config{MetricsTextfile: textfile, PushgatewayURL: pgw.URL}, slog.New(slog.DiscardHandler))

	b, err := os.ReadFile(textfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`idbatch_last_run_exit_code{idbatch_job="legacy"} 3`, `idbatch_webhooks_total{outcome="applied"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("textfile lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "go_goroutines") || strings.Contains(string(b), "idbatch_account_") {
		t.Error("the textfile holds the Go runtime's metrics, or the account's budget, of a process that has exited")
	}
	if problems, err := promlint.New(strings.NewReader(string(b))).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint on the textfile: %v %v", problems, err)
	}

	if pushed.method != http.MethodPut || pushed.path != "/metrics/job/idbatch/idbatch_job/legacy" {
		t.Errorf("pushed %s %s, want PUT /metrics/job/idbatch/idbatch_job/legacy", pushed.method, pushed.path)
	}
	if pushed.body == "" || strings.Contains(pushed.body, "go_goroutines") || strings.Contains(pushed.body, "idbatch_job") || strings.Contains(pushed.body, "idbatch_account_") {
		t.Errorf("pushed body: %q", pushed.body)
	}

	// A worker of several pushes into its own group, not over the others'.
	m.Worker = "w2"
	m.Publish(context.Background(), Config{PushgatewayURL: pgw.URL}, slog.New(slog.DiscardHandler))
	// The push library writes the grouping labels in a map's order, and the
	// Pushgateway reads them in any order: compare them as a set.
	if got, want := groupingKey(t, pushed.path), map[string]string{"job": "idbatch", "idbatch_job": "legacy", "worker": "w2"}; !maps.Equal(got, want) {
		t.Errorf("worker w2 pushed to %s, want the grouping key %v", pushed.path, want)
	}
}

// groupingKey parses a Pushgateway path /metrics/job/J/label/value/... into its labels.
func groupingKey(t *testing.T, path string) map[string]string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	if len(parts)%2 != 0 {
		t.Fatalf("pushed to %s: not /metrics/ and label/value pairs", path)
	}
	key := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		key[parts[i]] = parts[i+1]
	}
	return key
}

// results.metrics_listen takes /metrics off the webhook receiver.
func TestMetricsListen(t *testing.T) {
	m := New(exampleStore(), "legacy", nil, "test")
	if _, ok := m.ReceiverRoutes(Config{})["/metrics"]; !ok {
		t.Error("by default /metrics is on the webhook receiver")
	}
	if _, ok := m.ReceiverRoutes(Config{MetricsListen: "127.0.0.1:0"})["/metrics"]; ok {
		t.Error("with metrics_listen, /metrics is still on the webhook receiver")
	}
	srv, err := m.Listen(Config{MetricsListen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil || srv == nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if srv, err := m.Listen(Config{}, nil); srv != nil || err != nil {
		t.Error("listen without metrics_listen should do nothing")
	}
}
