package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// Metrics are the metrics of one process, on registries of its own; see
// the package documentation for what is counted.
type Metrics struct {
	reg         *prometheus.Registry // idbatch's own metrics: served, pushed, written to the textfile
	procReg     *prometheus.Registry // Go runtime and process: served only
	job         string
	webhooks    *prometheus.CounterVec
	polls       *prometheus.CounterVec
	apiRequests *prometheus.CounterVec
	apiErrors   *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	minutes     minuteSeries // API requests per minute, for the run report

	// Worker names the process among a job's workers (w0, w1, …): the
	// Pushgateway groups its push by it. Set before Publish.
	Worker string
}

// RecordCounter is what the records collector needs of a Store.
type RecordCounter interface {
	Counts(ctx context.Context, job string) (map[pipeline.State]int, error)
}

// runLister is what the last-run collector needs of a Store.
type runLister interface {
	Runs(ctx context.Context, job string, n int) ([]pipeline.Run, error)
}

// BudgetReader is what the account budget gauges need of a Store.
type BudgetReader interface {
	Budget(ctx context.Context, name string, now time.Time) (b pipeline.Budget, clock time.Time, found bool, err error)
}

// jobLabel is the label naming the job (never "job": that one is the scraper's).
const jobLabel = "idbatch_job"

// workerLabel is the Pushgateway grouping label naming the worker.
const workerLabel = "worker"

// New returns the metrics of one process. st and job feed the
// records-by-state gauge (nil st or empty job: none), and the last-run
// gauges when st also lists runs; lim the limiter counters (nil: none);
// version labels idbatch_build_info.
func New(st RecordCounter, job string, lim *submit.Limiter, version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(), procReg: prometheus.NewRegistry(), job: job,
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idbatch_webhooks_total",
			Help: "Webhooks received, by outcome (applied, adopted, ignored, unknown, bad_signature, malformed, too_large, store_error, method_not_allowed)."}, []string{"outcome"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idbatch_polls_total",
			Help: "Records polled with /api/v2/status, by outcome (applied, ignored, pending, error)."}, []string{"outcome"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idbatch_api_requests_total",
			Help: "HTTP requests sent to iDenfy, by endpoint and HTTP status (\"error\" when no answer came)."}, []string{"endpoint", "code"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idbatch_api_errors_total",
			Help: "iDenfy requests that failed, by endpoint and kind (throttled, server, client, network)."}, []string{"endpoint", "kind"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "idbatch_api_request_duration_seconds",
			Help: "Duration of iDenfy requests until the answer's headers, by endpoint.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}, []string{"endpoint"}),
	}
	m.reg.MustRegister(m.webhooks, m.polls, m.apiRequests, m.apiErrors, m.apiDuration, buildInfo(version))
	m.procReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if lim != nil {
		stat := func(f func(submit.LimiterStats) float64) func() float64 {
			return func() float64 { return f(lim.Stats()) }
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "idbatch_limiter_waits_total", Help: "Calls that went through the shared API limiter."},
				stat(func(s submit.LimiterStats) float64 { return float64(s.Waits) })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "idbatch_limiter_wait_seconds_total", Help: "Time spent waiting on the shared API limiter."},
				stat(func(s submit.LimiterStats) float64 { return s.Waited.Seconds() })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "idbatch_limiter_throttled_total", Help: "429 answers reported to the limiter."},
				stat(func(s submit.LimiterStats) float64 { return float64(s.Throttles) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "idbatch_limiter_rate_per_hour", Help: "The adaptive limiter's current rate."}, lim.Rate),
		)
	}
	if st != nil && job != "" {
		m.reg.MustRegister(&recordsCollector{st: st, job: job,
			desc: prometheus.NewDesc("idbatch_records", "Records of the job by state, read from the Store at scrape time.", []string{jobLabel, "state"}, nil)})
		if rl, ok := st.(runLister); ok {
			m.reg.MustRegister(newLastRunCollector(rl, job))
		}
	}
	return m
}

// AccountBudget adds the gauges of the account-wide API budget b kept in
// st (a shared, PostgreSQL Store; see setup.Limits.Budget), read from the
// Store at scrape time and present once the bucket exists:
// idbatch_account_rate_factor, the fraction of the configured rate in
// force (1: not lowered after 429s), and idbatch_account_pause_seconds,
// how long every worker still waits after a 429 (0: not paused). A zero b
// adds nothing.
func (m *Metrics) AccountBudget(st BudgetReader, b pipeline.AccountBudget) {
	if st == nil || b.Name == "" {
		return
	}
	// Served only, never pushed: a finished run's last value of the
	// account's pause would stay in the Pushgateway as if still in force.
	m.procReg.MustRegister(&budgetCollector{st: st, b: b,
		factor: prometheus.NewDesc("idbatch_account_rate_factor",
			"Fraction of limits.requests_per_hour the iDenfy account's workers are held at after 429s (1: the configured rate), read from the Store at scrape time.", nil, nil),
		pause: prometheus.NewDesc("idbatch_account_pause_seconds",
			"Seconds until the iDenfy account's pause after a 429 ends, about (0: not paused; no worker calls the API meanwhile), read from the Store at scrape time.", nil, nil),
	})
}

// buildInfo is idbatch_build_info: 1, labelled with the version (the
// binary's, set at link time: -ldflags "-X main.version=…"), the VCS
// revision Go stamped into the binary, and the Go version.
func buildInfo(version string) prometheus.Collector {
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				rev = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "idbatch_build_info",
		Help:        "A metric with a constant '1' value labelled by version, revision and goversion of idbatch.",
		ConstLabels: prometheus.Labels{"version": version, "revision": rev, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// gatherer is everything /metrics serves.
func (m *Metrics) gatherer() prometheus.Gatherer { return prometheus.Gatherers{m.reg, m.procReg} }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	// ContinueOnError: with the Store down, every other metric is still served.
	return promhttp.HandlerFor(m.gatherer(), promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second, ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) WebhookOutcome(o string) { m.webhooks.WithLabelValues(o).Inc() }
func (m *Metrics) PollOutcome(o string)    { m.polls.WithLabelValues(o).Inc() }

// recordsCollector reads the counts per state when scraped.
type recordsCollector struct {
	st   RecordCounter
	job  string
	desc *prometheus.Desc
}

func (c *recordsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *recordsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.Counts(ctx, c.job)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range pipeline.AllStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), c.job, string(s))
	}
}

// budgetCollector reads the account's API budget when scraped.
type budgetCollector struct {
	st            BudgetReader
	b             pipeline.AccountBudget
	factor, pause *prometheus.Desc
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.factor
	ch <- c.pause
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, clock, found, err := c.st.Budget(ctx, c.b.Name, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.factor, err)
		return
	}
	if !found {
		return // no worker has drawn from it yet
	}
	s := b.State(c.b.PerHour/3600, clock)
	pause := 0.0
	if !s.PausedUntil.IsZero() {
		pause = s.PausedUntil.Sub(clock).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.factor, prometheus.GaugeValue, s.Factor)
	ch <- prometheus.MustNewConstMetric(c.pause, prometheus.GaugeValue, pause)
}

// lastRunCollector reads the job's last finished run (run or demo) from
// the Store when scraped: alert when idbatch_last_success_timestamp_seconds
// is older than the schedule allows, or idbatch_last_run_exit_code != 0.
type lastRunCollector struct {
	st                  runLister
	job                 string
	at, code, successAt *prometheus.Desc
}

func newLastRunCollector(st runLister, job string) *lastRunCollector {
	l := []string{jobLabel}
	return &lastRunCollector{st: st, job: job,
		at:        prometheus.NewDesc("idbatch_last_run_timestamp_seconds", "When the job's last finished run (run or demo) ended, Unix time.", l, nil),
		code:      prometheus.NewDesc("idbatch_last_run_exit_code", "Exit code of the job's last finished run (0 ok, 1 fatal, 3 too many failures, 130 interrupted).", l, nil),
		successAt: prometheus.NewDesc("idbatch_last_success_timestamp_seconds", "When the job's last run that exited 0 ended, Unix time (among its last 100 runs).", l, nil),
	}
}

func (c *lastRunCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.at
	ch <- c.code
	ch <- c.successAt
}

func (c *lastRunCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	runs, err := c.st.Runs(ctx, c.job, 100)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.at, err)
		return
	}
	last, success := false, false
	for _, r := range runs { // most recently started first
		if r.FinishedAt.IsZero() || (r.Command != "run" && r.Command != "demo") {
			continue
		}
		ts := float64(r.FinishedAt.UnixNano()) / 1e9
		if !last {
			last = true
			ch <- prometheus.MustNewConstMetric(c.at, prometheus.GaugeValue, ts, c.job)
			ch <- prometheus.MustNewConstMetric(c.code, prometheus.GaugeValue, float64(r.ExitCode), c.job)
		}
		if !success && r.ExitCode == 0 {
			success = true
			ch <- prometheus.MustNewConstMetric(c.successAt, prometheus.GaugeValue, ts, c.job)
		}
	}
}

// Config are the results.* keys of the metrics (inlined into the
// configuration's results section).
type Config struct {
	// MetricsListen puts /metrics on its own address (e.g. 127.0.0.1:9464,
	// a private one) instead of the webhook receiver's public one.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsTextfile: run writes its final metrics there for
	// node_exporter's textfile collector (a *.prom file in its directory).
	MetricsTextfile string `yaml:"metrics_textfile"`
	// PushgatewayURL: run pushes its final metrics there (job "idbatch",
	// grouping label idbatch_job), replacing its previous push.
	PushgatewayURL string `yaml:"pushgateway_url"`
}

// ReceiverRoutes are the extra routes of the webhook receiver: /metrics,
// unless results.metrics_listen serves it elsewhere.
func (m *Metrics) ReceiverRoutes(mc Config) map[string]http.Handler {
	if mc.MetricsListen != "" {
		return map[string]http.Handler{}
	}
	return map[string]http.Handler{"/metrics": m.Handler()}
}

// Listen binds results.metrics_listen (now: a port in use is a config
// error) and returns the server to run in the background, or nil when
// /metrics stays on the webhook receiver.
func (m *Metrics) Listen(mc Config, log *slog.Logger) (func(context.Context) error, error) {
	if mc.MetricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", mc.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("results.metrics_listen: %w", err)
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return func(ctx context.Context) error {
		if err := results.Serve(ctx, ln, "/metrics", m.Handler(), nil); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		return nil
	}, nil
}

// Publish hands a finished run's metrics to the tools that outlive it: the
// node_exporter textfile and the Pushgateway, as configured. Errors are
// logged: the run's work is done either way.
func (m *Metrics) Publish(ctx context.Context, mc Config, log *slog.Logger) {
	if mc.MetricsTextfile != "" {
		if err := prometheus.WriteToTextfile(mc.MetricsTextfile, m.reg); err != nil {
			log.Error("metrics textfile not written", "path", mc.MetricsTextfile, pipeline.LogKeyErr, err)
		}
	}
	if mc.PushgatewayURL != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		// The grouping key carries idbatch_job, so the pushed series must not.
		p := push.New(mc.PushgatewayURL, "idbatch").Grouping(jobLabel, m.job)
		if m.Worker != "" {
			// N workers of one job each keep their own group; without
			// this, each push would replace the others'.
			p = p.Grouping(workerLabel, m.Worker)
		}
		p = p.Gatherer(withoutLabel{m.reg, jobLabel})
		if err := p.PushContext(ctx); err != nil {
			log.Error("metrics not pushed", "url", redactURL(mc.PushgatewayURL), pipeline.LogKeyErr, err)
		}
	}
}

// withoutLabel gathers g and drops one label from every series.
type withoutLabel struct {
	g     prometheus.Gatherer
	label string
}

func (w withoutLabel) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			mt.Label = slices.DeleteFunc(mt.Label, func(l *dto.LabelPair) bool { return l.GetName() == w.label })
		}
	}
	return mfs, err
}

// redactURL drops a URL's user info (a Pushgateway behind basic auth).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	return u.String()
}

// apiEndpoints are the endpoint labels; any other path is "other".
var apiEndpoints = []string{idenfy.PathToken, idenfy.PathProcess, idenfy.PathStatus, idenfy.PathData, idenfy.PathFiles, idenfy.PathDelete, idenfy.PathAddDummyStatus}

func endpointOf(path string) string {
	path = strings.TrimRight(path, "/")
	for _, e := range apiEndpoints {
		if strings.HasSuffix(path, e) {
			return strings.TrimPrefix(e, "/api/v2/")
		}
	}
	return "other"
}

// HTTPClient returns the HTTP client of the iDenfy client, counting every
// request. Its settings are those idenfy.New uses when given none.
func (m *Metrics) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.IdleConnTimeout = 30 * time.Second
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Timeout: 60 * time.Second, Transport: &countingTransport{next: tr, m: m}}
}

type countingTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ep := endpointOf(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.apiDuration.WithLabelValues(ep).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.apiRequests.WithLabelValues(ep, "error").Inc()
		t.m.apiErrors.WithLabelValues(ep, "network").Inc()
		t.m.minutes.add(start, "network")
		return resp, err
	}
	t.m.apiRequests.WithLabelValues(ep, strconv.Itoa(resp.StatusCode)).Inc()
	kind := ""
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests:
		kind = "throttled"
	case c >= 500:
		kind = "server"
	case c >= 400:
		kind = "client"
	}
	if kind != "" {
		t.m.apiErrors.WithLabelValues(ep, kind).Inc()
	}
	t.m.minutes.add(start, kind)
	return resp, nil
}

// minuteSeries counts API requests per minute (by when they were sent) and
// their failures by kind: the run report draws them against the limit. A
// run of 8 h keeps 480 small entries.
type minuteSeries struct {
	mu sync.Mutex
	m  map[int64]*report.Minute // by Unix minute
}

func (s *minuteSeries) add(at time.Time, errKind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int64]*report.Minute{}
	}
	k := at.Unix() / 60
	e := s.m[k]
	if e == nil {
		e = &report.Minute{Start: time.Unix(k*60, 0).UTC()}
		s.m[k] = e
	}
	e.Requests++
	if errKind != "" {
		if e.Errors == nil {
			e.Errors = map[string]int{}
		}
		e.Errors[errKind]++
		if errKind == "throttled" {
			e.Throttled++
		}
	}
}

// APIPerMinute returns the series, oldest first, with the minutes without
// requests between the first and the last as zeros.
func (m *Metrics) APIPerMinute() []report.Minute {
	s := &m.minutes
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range s.m {
		lo, hi = min(lo, k), max(hi, k)
	}
	out := make([]report.Minute, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		if e := s.m[k]; e != nil {
			c := *e
			c.Errors = maps.Clone(e.Errors)
			out = append(out, c)
		} else {
			out = append(out, report.Minute{Start: time.Unix(k*60, 0).UTC()})
		}
	}
	return out
}
