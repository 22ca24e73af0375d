package main

import (
	"context"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// metrics binds the packages' small hooks to Prometheus, on a registry of
// its own (no global state): the packages never import Prometheus.
//
//	results.Handler.OnOutcome  → idbatch_webhooks_total{outcome}
//	results.Poller.OnPoll      → idbatch_polls_total{outcome}
//	the iDenfy client's HTTP   → idbatch_api_requests_total{endpoint,code},
//	                             idbatch_api_errors_total{endpoint,kind},
//	                             idbatch_api_request_duration_seconds{endpoint}
//	submit.Limiter.Stats       → idbatch_limiter_waits_total, _wait_seconds_total, _throttled_total, idbatch_limiter_rate_per_hour
//	Store.Counts (at scrape)   → idbatch_records{job,state}
type metrics struct {
	reg         *prometheus.Registry
	webhooks    *prometheus.CounterVec
	polls       *prometheus.CounterVec
	apiRequests *prometheus.CounterVec
	apiErrors   *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	minutes     minuteSeries // API requests per minute, for the run report
}

// recordCounter is what the records collector needs of a Store.
type recordCounter interface {
	Counts(ctx context.Context, job string) (map[pipeline.State]int, error)
}

// newMetrics returns the metrics of one process. st and job feed the
// records-by-state gauge (nil st or empty job: none); lim the limiter
// counters (nil: none).
func newMetrics(st recordCounter, job string, lim *submit.Limiter) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
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
	m.reg.MustRegister(m.webhooks, m.polls, m.apiRequests, m.apiErrors, m.apiDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
			desc: prometheus.NewDesc("idbatch_records", "Records of the job by state, read from the Store at scrape time.", []string{"job", "state"}, nil)})
	}
	return m
}

// handler serves /metrics.
func (m *metrics) handler() http.Handler {
	// ContinueOnError: with the Store down, every other metric is still served.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second, ErrorHandling: promhttp.ContinueOnError})
}

func (m *metrics) webhookOutcome(o string) { m.webhooks.WithLabelValues(o).Inc() }
func (m *metrics) pollOutcome(o string)    { m.polls.WithLabelValues(o).Inc() }

// recordsCollector reads the counts per state when scraped.
type recordsCollector struct {
	st   recordCounter
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

// httpClient returns the HTTP client of the iDenfy client, counting every
// request. Its settings are those idenfy.New uses when given none.
func (m *metrics) httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.IdleConnTimeout = 30 * time.Second
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Timeout: 60 * time.Second, Transport: &countingTransport{next: tr, m: m}}
}

type countingTransport struct {
	next http.RoundTripper
	m    *metrics
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

// apiPerMinute returns the series, oldest first, with the minutes without
// requests between the first and the last as zeros.
func (m *metrics) apiPerMinute() []report.Minute {
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
