package submit_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// BenchmarkRateLimit runs the real pipeline (pipeline.Runner, submit.Stage,
// idenfy.Client, sqlitestore) against the sandbox enforcing a rate limit,
// once with the adaptive submit.Limiter and once with a naive client (fixed
// rate, retry on 429) in the same run. It is slow (about 3 minutes) and
// measures wall-clock behaviour, so it runs once whatever b.N is:
//
//	go test -run '^$' -bench RateLimit -benchtime 1x ./submit/
//
// Scale: iDenfy's shape of 36,000 requests per hour (10/s) is scaled up by
// IDBATCH_BENCH_SCALE (default 10: 100/s) over a steady window of
// IDBATCH_BENCH_SECONDS (default 30 s; the half-limit case runs 1.5× longer).
// Metrics:
//
//	equal: server limit = configured rate
//	  achieved/allowed  requests the server accepted in the steady window
//	                    (after 5 s) ÷ what its limit allows there (goal ≥ 0.98)
//	  429s              throttled answers over the whole run (goal 0)
//	half: server limit = half the configured rate
//	  settle_s          seconds until the accepted rate, over 2 s windows,
//	                    stays within 10 % of the server's limit (goal ≤ 60;
//	                    -1 = never in the run)
//	  lost, charged2x   records whose store state disagrees with the sandbox's
//	                    charges, clientIds charged twice (goal 0 and 0)
func BenchmarkRateLimit(b *testing.B) {
	scale := envFloat("IDBATCH_BENCH_SCALE", 10)
	secs := envFloat("IDBATCH_BENCH_SECONDS", 30)
	limit := 10 * scale // requests per second, iDenfy's 36,000/h shape scaled
	window := time.Duration(secs * float64(time.Second))
	for _, sc := range []struct {
		name   string
		server float64 // server limit, per second
		dur    time.Duration
	}{
		{"equal", limit, window},
		{"half", limit / 2, window * 3 / 2},
	} {
		for _, naive := range []bool{false, true} {
			name := sc.name + "/adaptive"
			if naive {
				name = sc.name + "/naive"
			}
			b.Run(name, func(b *testing.B) {
				r := runRateScenario(b, sc.server, limit, sc.dur, naive)
				b.ReportMetric(r.ratio, "achieved/allowed")
				b.ReportMetric(float64(r.throttled), "429s")
				b.ReportMetric(r.settle, "settle_s")
				b.ReportMetric(float64(r.lost), "lost")
				b.ReportMetric(float64(r.twice), "charged2x")
				b.ReportMetric(float64(r.submitted), "submitted")
				b.Logf("%s: server %.0f/s, configured %.0f/s, %v: accepted %d in the steady window (allowed %.0f) = %.3f; %d×429; settled after %.0f s; %d submitted, %d lost, %d charged twice",
					name, sc.server, limit, sc.dur, r.accepted, r.allowed, r.ratio, r.throttled, r.settle, r.submitted, r.lost, r.twice)
				b.Logf("accepted per second: %v", r.acceptedPerSlice)
			})
		}
	}
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

type rateResult struct {
	accepted         int
	allowed, ratio   float64
	throttled        int
	settle           float64 // seconds; -1 = never within the run
	submitted        int
	lost, twice      int
	acceptedPerSlice []int
}

// recorder wraps the sandbox and notes when each API answer was given and
// whether it was a 429.
type recorder struct {
	h     http.Handler
	start time.Time
	mu    sync.Mutex
	ok    []time.Duration // offsets of accepted (non-429) answers
	n429  int
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &codeWriter{ResponseWriter: w}
	rc.h.ServeHTTP(cw, r)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if cw.code == http.StatusTooManyRequests {
		rc.n429++
		return
	}
	rc.ok = append(rc.ok, time.Since(rc.start))
}

// fixedLimiter is the naive client's limiter: a fixed rate, deaf to 429s
// (the client itself still sleeps Retry-After and retries).
type fixedLimiter struct{ *rate.Limiter }

func (fixedLimiter) Throttled(time.Duration) {}

type benchPreparer struct{ img []byte }

func (p benchPreparer) Prepare(ctx context.Context, rec pipeline.Record) (pipeline.Prepared, error) {
	return pipeline.Prepared{Images: map[pipeline.Side][]byte{pipeline.SideFront: p.img, pipeline.SideFace: p.img},
		Hashes: map[pipeline.Side]string{pipeline.SideFront: "f", pipeline.SideFace: "x"}, Bytes: 2 * len(p.img)}, nil
}

func runRateScenario(b *testing.B, serverPerSec, configuredPerSec float64, dur time.Duration, naive bool) rateResult {
	ctx := context.Background()
	sb := idenfytest.New(idenfytest.Options{APIKey: "k", APISecret: "s", RateLimit: serverPerSec * 3600,
		Latency: 5 * time.Millisecond})
	defer sb.Close()
	rc := &recorder{h: sb}
	srv := &http.Server{Handler: rc}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	var lim idenfy.Limiter
	if naive {
		lim = fixedLimiter{rate.NewLimiter(rate.Limit(configuredPerSec), 3)}
	} else {
		lim = submit.NewLimiter(configuredPerSec*3600, 3)
	}
	api := idenfy.New(idenfy.Config{BaseURL: base, APIKey: "k", APISecret: "s", Limiter: lim, MaxRetries: 50})
	st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := int(configuredPerSec*dur.Seconds()/2) + 100 // more than the run can submit
	recs := make([]pipeline.Record, n)
	for i := range recs {
		key := fmt.Sprintf("bench-%06d", i)
		recs[i] = pipeline.Record{Job: "bench", Key: key, Ref: pipeline.RefFor("bench", key), Line: i + 2, State: pipeline.StatePending,
			Input: pipeline.Input{ClientID: key, Country: "LT", DocumentType: "PASSPORT",
				Sources: map[pipeline.Side]string{pipeline.SideFront: "f", pipeline.SideFace: "x"}}}
	}
	if _, err := st.Load(ctx, "bench", recs, time.Now()); err != nil {
		b.Fatal(err)
	}
	stage := submit.NewStage(api, st, submit.Options{RunID: "bench"}, nil)
	runner := &pipeline.Runner{Store: st, Job: "bench", RunID: "bench", Owner: "bench",
		Preparer: benchPreparer{img: tinyJPEG()}, Submitter: stage,
		SubmitWorkers: 16, PrepareWorkers: 4, ClaimBatch: 32, MaxDuration: dur}
	b.ResetTimer()
	rc.mu.Lock()
	rc.start = time.Now()
	rc.mu.Unlock()
	if _, err := runner.Run(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	var res rateResult
	rc.mu.Lock()
	ok := append([]time.Duration(nil), rc.ok...)
	res.throttled = rc.n429
	rc.mu.Unlock()

	// Accepted answers per second of the run.
	slices := make([]int, int(dur/time.Second)+1)
	for _, t := range ok {
		if i := int(t / time.Second); i < len(slices) {
			slices[i]++
		}
	}
	res.acceptedPerSlice = slices
	const warm = 5
	steady := len(slices) - 1 // the last slice is partial: claims stop there
	for i := warm; i < steady; i++ {
		res.accepted += slices[i]
	}
	res.allowed = serverPerSec * float64(steady-warm)
	res.ratio = float64(res.accepted) / res.allowed
	// Settling: the end of the first 2 s window from which on every 2 s
	// window is within 10 % of the server's limit.
	const win = 2
	res.settle = -1
	for s := 0; s+win <= steady; s++ {
		good := true
		for w := s; w+win <= steady; w++ {
			sum := 0
			for _, c := range slices[w : w+win] {
				sum += c
			}
			if r := float64(sum) / win; r < 0.9*serverPerSec || r > 1.1*serverPerSec {
				good = false
				break
			}
		}
		if good {
			res.settle = float64(s + win)
			break
		}
	}

	// Lost or charged twice: compare the store with the sandbox's charges.
	ch := sb.Charges()
	all, err := st.List(ctx, pipeline.ListQuery{Job: "bench", Limit: n + 10})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range all {
		c := ch.PerClient[r.Input.ClientID]
		if c.Tokens > 1 || c.Processes > 1 {
			res.twice++
		}
		switch r.State {
		case pipeline.StateSubmitted:
			res.submitted++
			if c.Processes != 1 {
				res.lost++
			}
		case pipeline.StatePending:
			if c.Processes != 0 {
				res.lost++ // processed at iDenfy, but the store would submit it again
			}
		default:
			res.lost++ // tokening, tokened, orphan or failed: not a clean outcome
		}
	}
	if len(all) != n {
		res.lost += n - len(all)
	}
	return res
}
