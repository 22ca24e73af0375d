package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrCapReached is returned (wrapped) by a Submitter when the run may create
// no more tokens; the Runner then stops claiming.
var ErrCapReached = errors.New("max_submissions reached")

// Runner drives one run of a job: rescue, claim → prepare → submit, wait for
// results, export. Stages hand records to each other through the Store.
type Runner struct {
	Store Store
	Job   string
	RunID string
	Owner string // lease owner and worker ID: unique per process
	// Worker describes this process in the Store's worker registry (ID,
	// Job, RunID and StartedAt are filled from the Runner). It heartbeats
	// every HeartbeatEvery; a worker silent for WorkerTimeout is dead and
	// its records are taken over at once by any other.
	Worker         Worker
	HeartbeatEvery time.Duration // default HeartbeatEvery
	WorkerTimeout  time.Duration // default WorkerTimeout
	// TokenExpiry is the token expiryTime asked for, used for intents
	// written by versions that did not store a token's possible expiry;
	// default 15m. OrphanMargin is added to a possible orphan token's expiry
	// before the record is retried; default 2m.
	TokenExpiry  time.Duration
	OrphanMargin time.Duration
	Preparer     Preparer
	Submitter    Submitter
	Exporter     Exporter // nil: no export
	Log          *slog.Logger

	PrepareWorkers int           // default 2 (normalization is CPU-bound)
	SubmitWorkers  int           // default 8 (calls wait on the shared limiter)
	ClaimBatch     int           // default 16
	Lease          time.Duration // default 10m
	MaxDuration    time.Duration // 0 = none: stop claiming after this
	WaitForResults time.Duration // how long to wait for outstanding results once nothing is left to submit
	IdlePoll       time.Duration // how often to look again while waiting; default 500ms
	// Background services (webhook receiver, poller) run for the whole run
	// and are stopped after export.
	Background []func(ctx context.Context) error
	// Progress, if set, is called about once a second and at the end.
	Progress func(Progress)
	Now      Clock
}

// Progress is a snapshot for a progress display.
type Progress struct {
	Total     int // records to handle in this run (pending + in flight at the start)
	Done      int // submitted, rejected or failed in this run
	Submitted int
	Rejected  int
	Failed    int
	Final     int // records in final state now
	Waiting   int // submitted, awaiting a result
	Elapsed   time.Duration
	Phase     string // "submitting", "waiting for results", "exporting", "done"
}

// RateETA is the run's RateETA.
func (p Progress) RateETA() (perHour float64, eta time.Duration, ok bool) {
	return RateETA(p.Done, p.Total, p.Elapsed)
}

// RateETA is the rate of done records per hour over elapsed, and the time
// the rest of total would take at that rate, to the second. ok is false
// while there is no rate yet (nothing done, or no time elapsed) or nothing
// is left; perHour is set whenever there is a rate.
func RateETA(done, total int, elapsed time.Duration) (perHour float64, eta time.Duration, ok bool) {
	if elapsed <= 0 || done <= 0 {
		return 0, 0, false
	}
	perHour = float64(done) / elapsed.Hours()
	if total <= done {
		return perHour, 0, false
	}
	return perHour, time.Duration(float64(total-done) / perHour * float64(time.Hour)).Round(time.Second), true
}

// Summary is what a run did; it is printed and written as JSON.
type Summary struct {
	Job           string         `json:"job"`
	RunID         string         `json:"run_id"`
	StartedAt     time.Time      `json:"started_at"`
	FinishedAt    time.Time      `json:"finished_at"`
	Seconds       float64        `json:"duration_seconds"`
	Load          *LoadStats     `json:"load,omitempty"`
	TokensCreated int            `json:"tokens_created"`
	Submitted     int            `json:"submitted"`
	Rejected      int            `json:"rejected"`
	RejectedBy    map[string]int `json:"rejected_by_reason"`
	Failed        int            `json:"failed"`
	FailedBy      map[string]int `json:"failed_by_code"`
	Retried       int            `json:"retried_later"`
	Orphans       int            `json:"orphans_found"`
	States        map[State]int  `json:"states"`
	Waiting       int            `json:"waiting_for_results"`
	// Records this run could not touch, and until when: held by another
	// live worker, possible orphans waiting for any token they may have to
	// expire, and records parked for a retry. The next run (or the live
	// worker) takes them up.
	HeldByOthers   int            `json:"held_by_live_workers,omitempty"`
	HeldUntil      time.Time      `json:"held_until,omitzero"`
	OrphansWaiting int            `json:"orphans_waiting,omitempty"`
	OrphansRetryAt time.Time      `json:"orphans_retry_at,omitzero"`
	Parked         int            `json:"parked_for_retry,omitempty"`
	ParkedUntil    time.Time      `json:"parked_until,omitzero"`
	Export         ExportReport   `json:"export"`
	CapReached     bool           `json:"cap_reached,omitempty"`
	TimeUp         bool           `json:"max_duration_reached,omitempty"`
	Interrupted    bool           `json:"interrupted,omitempty"`
	Error          string         `json:"error,omitempty"`
	ExitCode       int            `json:"exit_code"` // one of the Exit* codes
	Extra          map[string]any `json:"extra,omitempty"`
}

// The exit codes of a run (Summary.ExitCode; DESIGN.md).
const (
	ExitOK              = 0   // done
	ExitFatal           = 1   // a fatal error: the run stopped
	ExitTooManyFailures = 3   // done, but more than limits.max_failure_ratio of what it ended was rejected or failed
	ExitInterrupted     = 130 // a signal stopped the run softly
)

type counters struct {
	mu         sync.Mutex
	submitted  int
	tokens     int
	rejected   int
	failed     int
	retried    int
	rejectedBy map[string]int
	failedBy   map[string]int
}

func (c *counters) add(f func(c *counters)) {
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
}

func (r *Runner) defaults() {
	if r.PrepareWorkers <= 0 {
		r.PrepareWorkers = 2
	}
	if r.SubmitWorkers <= 0 {
		r.SubmitWorkers = 8
	}
	if r.ClaimBatch <= 0 {
		r.ClaimBatch = 16
	}
	if r.Lease <= 0 {
		r.Lease = 10 * time.Minute
	}
	if r.IdlePoll <= 0 {
		r.IdlePoll = 500 * time.Millisecond
	}
	if r.HeartbeatEvery <= 0 {
		r.HeartbeatEvery = HeartbeatEvery
	}
	if r.WorkerTimeout <= 0 {
		r.WorkerTimeout = WorkerTimeout
	}
	if r.TokenExpiry <= 0 {
		r.TokenExpiry = 15 * time.Minute
	}
	if r.OrphanMargin <= 0 {
		r.OrphanMargin = 2 * time.Minute
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// Run executes the run. Closing soft asks for a soft stop: no new claims,
// in-flight records finish, the export runs. Cancelling ctx is the hard stop.
// The returned error is an infrastructure or fatal API error; the summary is
// filled either way.
func (r *Runner) Run(ctx context.Context, soft <-chan struct{}) (Summary, error) {
	r.defaults()
	r.Log = r.Log.With("stage", "runner") // the caller's logger names the run
	start := r.Now()
	sum := Summary{Job: r.Job, RunID: r.RunID, StartedAt: start, RejectedBy: map[string]int{}, FailedBy: map[string]int{}}
	c := &counters{rejectedBy: sum.RejectedBy, failedBy: sum.FailedBy}

	bgCtx, stopBg := context.WithCancel(ctx)
	bg, bgCtx := errgroup.WithContext(bgCtx)
	for _, svc := range r.Background {
		bg.Go(func() error { return svc(bgCtx) })
	}
	finishBg := func() error {
		stopBg()
		err := bg.Wait()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}

	stopBeat, err := r.register(ctx, start)
	if err != nil {
		_ = finishBg()
		return r.finish(ctx, sum, c, err)
	}
	defer stopBeat()

	if err := r.revive(ctx); err != nil {
		_ = finishBg()
		return r.finish(ctx, sum, c, err)
	}
	orphans, err := r.rescue(ctx)
	sum.Orphans = orphans
	if err != nil {
		_ = finishBg()
		return r.finish(ctx, sum, c, err)
	}
	counts, err := r.Store.Counts(ctx, r.Job)
	if err != nil {
		_ = finishBg()
		return r.finish(ctx, sum, c, err)
	}
	total := counts[StatePending] + counts[StateTokened]

	var phase atomic.Value
	phase.Store("submitting")
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	report := func() {
		if r.Progress == nil {
			return
		}
		cs, err := r.Store.Counts(context.WithoutCancel(ctx), r.Job)
		if err != nil {
			return
		}
		c.mu.Lock()
		p := Progress{Total: total, Submitted: c.submitted, Rejected: c.rejected, Failed: c.failed,
			Final: cs[StateFinal], Waiting: cs[StateSubmitted], Elapsed: r.Now().Sub(start), Phase: phase.Load().(string)}
		p.Done = p.Submitted + p.Rejected + p.Failed
		c.mu.Unlock()
		r.Progress(p)
	}
	go func() {
		defer close(progressStopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				report()
			}
		}
	}()

	var deadline time.Time
	if r.MaxDuration > 0 {
		deadline = start.Add(r.MaxDuration)
	}
	stopClaims := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopClaims) }) }
	go func() {
		select {
		case <-soft:
			stop() // sum.Interrupted is set after the run, from soft
		case <-stopClaims:
		case <-ctx.Done():
		}
	}()
	var capReached, timeUp atomic.Bool

	err = r.submitPhase(ctx, stopClaims, stop, deadline, c, &capReached, &timeUp, &phase)
	sum.CapReached, sum.TimeUp = capReached.Load(), timeUp.Load()
	if err == nil && ctx.Err() == nil {
		phase.Store("exporting")
		if r.Exporter != nil {
			CrashPoint(CrashBeforeExport)
			var rep ExportReport
			rep, err = r.Exporter.Export(context.WithoutCancel(ctx))
			sum.Export = rep
		}
	}
	stop()
	close(progressDone)
	<-progressStopped
	phase.Store("done")
	report()
	if bgErr := finishBg(); err == nil && bgErr != nil {
		err = bgErr
	}
	select {
	case <-soft:
		sum.Interrupted = true
	default:
	}
	if ctx.Err() != nil {
		sum.Interrupted = true
	}
	return r.finish(ctx, sum, c, err)
}

func (r *Runner) finish(ctx context.Context, sum Summary, c *counters, err error) (Summary, error) {
	c.mu.Lock()
	sum.Submitted, sum.TokensCreated, sum.Rejected, sum.Failed, sum.Retried = c.submitted, c.tokens, c.rejected, c.failed, c.retried
	c.mu.Unlock()
	if js, cerr := r.Store.Stats(context.WithoutCancel(ctx), r.statsQuery()); cerr == nil {
		sum.States = js.States
		sum.Waiting = js.States[StateSubmitted] + js.States[StateTokened]
		sum.HeldByOthers, sum.HeldUntil = js.Held, js.HeldUntil
		sum.OrphansWaiting, sum.OrphansRetryAt = js.OrphansWaiting, js.OrphansRetryAt
		sum.Parked, sum.ParkedUntil = js.Parked, js.ParkedUntil
	}
	sum.FinishedAt = r.Now()
	sum.Seconds = sum.FinishedAt.Sub(sum.StartedAt).Seconds()
	if err != nil {
		sum.Error = err.Error()
	}
	return sum, err
}

// register records this process in the worker registry and heartbeats
// until the returned function is called, which marks it stopped (its
// leases are then free at once).
func (r *Runner) register(ctx context.Context, start time.Time) (func(), error) {
	w := r.Worker
	w.ID, w.Job, w.RunID, w.StartedAt, w.HeartbeatAt = r.Owner, r.Job, r.RunID, start, start
	if err := r.Store.RegisterWorker(ctx, w); err != nil {
		return nil, fmt.Errorf("register worker: %w", err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(r.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.WorkerTimeout)
				if err := r.Store.Heartbeat(hctx, r.Owner, r.Now()); err != nil {
					r.Log.Warn("heartbeat failed", LogKeyErr, err)
				}
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.Store.StopWorker(sctx, r.Owner, r.Now()); err != nil {
				r.Log.Warn("worker not marked stopped; its leases free themselves in seconds", LogKeyErr, err)
			}
		})
	}, nil
}

// revive sends back to pending the records that failed without a single
// token attempt (limits.max_attempts was below 1: a config error, refused at
// load since). Nothing was spent on them, so once the config is fixed they
// are verified like any other; their FAILED row is exported again with the
// real outcome. Records that spent a token stay failed.
func (r *Runner) revive(ctx context.Context) error {
	var after int64
	for {
		recs, err := r.Store.List(ctx, ListQuery{Job: r.Job, States: []State{StateFailed}, AfterID: after, Limit: 1000})
		if err != nil {
			return fmt.Errorf("revive: %w", err)
		}
		for _, rec := range recs {
			after = rec.ID
			if rec.ErrorCode != "max_attempts" || rec.Attempts != 0 || rec.ScanRef != "" || !rec.IntentAt.IsZero() {
				continue
			}
			msg := "failed by a config error (no token asked for); verified again"
			err := r.Store.Transition(ctx, Transition{ID: rec.ID, From: StateFailed, Version: rec.Version, To: StatePending, Now: r.Now(),
				Patch: Patch{Outcome: ptr(Outcome("")), ErrorCode: ptr("revived"), ErrorMessage: &msg, ExportedAt: &time.Time{}}})
			if err != nil && !errors.Is(err, ErrConflict) {
				return fmt.Errorf("revive: %w", err)
			}
		}
		if len(recs) < 1000 {
			return nil
		}
	}
}

// deadBefore is the heartbeat instant before which a worker is dead.
func (r *Runner) deadBefore() time.Time { return r.Now().Add(-r.WorkerTimeout) }

func (r *Runner) statsQuery() StatsQuery {
	return StatsQuery{Job: r.Job, Owner: r.Owner, Now: r.Now(), DeadBefore: r.deadBefore()}
}

// rescue turns records left in tokening by a dead worker (or whose lease
// expired) into possible orphans: a token may exist at iDenfy, so they are
// not given a second one while it may be active. Each is retried by itself
// once that token has certainly expired (its NotBefore).
func (r *Runner) rescue(ctx context.Context) (int, error) {
	n := 0
	for {
		recs, err := r.Store.Claim(ctx, ClaimRequest{Job: r.Job, States: []State{StateTokening}, Owner: r.Owner, Limit: 100, Lease: time.Minute, Now: r.Now(), DeadBefore: r.deadBefore()})
		if err != nil || len(recs) == 0 {
			return n, err
		}
		for _, rec := range recs {
			ok, err := r.orphan(ctx, rec)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
}

// orphan moves one claimed tokening record to StateOrphan.
func (r *Runner) orphan(ctx context.Context, rec Record) (bool, error) {
	expires := rec.TokenExpiresAt
	if expires.IsZero() {
		expires = rec.IntentAt.Add(r.TokenExpiry)
	}
	if rec.IntentAt.IsZero() && rec.TokenExpiresAt.IsZero() {
		expires = r.Now().Add(r.TokenExpiry)
	}
	retryAt := expires.Add(r.OrphanMargin)
	msg := "the worker died between the token intent and storing the token; a token may exist at iDenfy: retried at " +
		retryAt.UTC().Format(time.RFC3339) + " once it has certainly expired, or earlier when its expiry callback arrives"
	err := r.Store.Transition(context.WithoutCancel(ctx), Transition{ID: rec.ID, From: StateTokening, Version: rec.Version, To: StateOrphan, Now: r.Now(),
		Patch: Patch{NotBefore: &retryAt, TokenExpiresAt: &expires, ErrorCode: ptr("possible_orphan_token"), ErrorMessage: &msg}})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Log.Warn("possible orphan token; retried once it has expired", LogKeyRecord, rec.ID, "retry_at", retryAt.UTC().Format(time.RFC3339))
	return true, nil
}

// unorphan sends an orphan whose possible token has certainly expired back
// to pending (its attempt stays counted), keeping the lease to prepare it.
func (r *Runner) unorphan(ctx context.Context, rec *Record) error {
	msg := "possible orphan token expired; a new token is created"
	err := r.Store.Transition(context.WithoutCancel(ctx), Transition{ID: rec.ID, From: StateOrphan, Version: rec.Version, To: StatePending, Now: r.Now(),
		Patch: Patch{KeepLease: true, NotBefore: &time.Time{}, IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{}, ErrorCode: ptr("orphan_token_expired"), ErrorMessage: &msg}})
	if err != nil {
		return err
	}
	rec.State, rec.Version = StatePending, rec.Version+1
	rec.NotBefore, rec.IntentAt, rec.TokenExpiresAt = time.Time{}, time.Time{}, time.Time{}
	rec.ErrorCode, rec.ErrorMessage = "orphan_token_expired", msg
	return nil
}

func ptr[T any](v T) *T { return &v }

type work struct {
	rec  Record
	prep Prepared
}

func (r *Runner) submitPhase(ctx context.Context, stopClaims <-chan struct{}, stop func(), deadline time.Time, c *counters, capReached, timeUp *atomic.Bool, phase *atomic.Value) error {
	g, gctx := errgroup.WithContext(ctx)
	claimed := make(chan Record)
	prepared := make(chan work, r.SubmitWorkers)
	var inflight sync.WaitGroup // records claimed and not yet handled

	// release returns a claimed record untouched (lease cleared) for a later run.
	release := func(rec Record) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = r.Store.Transition(wctx, Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: rec.State, Now: r.Now()})
	}
	stopped := func() bool {
		select {
		case <-stopClaims:
			return true
		default:
			return false
		}
	}

	g.Go(func() error { // producer
		defer close(claimed)
		var idleSince time.Time
		for {
			if stopped() || gctx.Err() != nil {
				return nil
			}
			if !deadline.IsZero() && r.Now().After(deadline) {
				timeUp.Store(true)
				return nil
			}
			recs, err := r.Store.Claim(gctx, ClaimRequest{Job: r.Job, States: []State{StatePending, StateTokened, StateTokening, StateOrphan},
				Owner: r.Owner, Limit: r.ClaimBatch, Lease: r.Lease, Now: r.Now(), DeadBefore: r.deadBefore()})
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			// A tokening record is claimable only when its worker died (or
			// its lease ran out): it becomes a possible orphan, not work.
			recs = slices.DeleteFunc(recs, func(rec Record) bool {
				if rec.State != StateTokening {
					return false
				}
				if _, oerr := r.orphan(gctx, rec); oerr != nil && err == nil {
					err = oerr
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("rescue: %w", err)
			}
			if len(recs) == 0 {
				inflight.Wait() // records in flight may come back (retries) or finish
				more, err := r.shouldWait(gctx, &idleSince)
				if err != nil || !more {
					return err
				}
				phase.Store("waiting for results")
				select {
				case <-time.After(r.IdlePoll):
				case <-stopClaims:
				case <-gctx.Done():
				}
				continue
			}
			idleSince = time.Time{}
			phase.Store("submitting")
			inflight.Add(len(recs))
			for i, rec := range recs {
				select {
				case claimed <- rec:
				case <-gctx.Done():
					for _, rest := range recs[i:] {
						release(rest)
						inflight.Done()
					}
					return nil
				case <-stopClaims:
					for _, rest := range recs[i:] {
						release(rest)
						inflight.Done()
					}
					return nil
				}
			}
		}
	})

	var prepWG sync.WaitGroup
	for range r.PrepareWorkers {
		prepWG.Add(1)
		g.Go(func() error {
			defer prepWG.Done()
			for rec := range claimed {
				if stopped() || gctx.Err() != nil {
					release(rec)
					inflight.Done()
					continue
				}
				w, ok, err := r.prepare(gctx, rec, c)
				if err != nil {
					inflight.Done()
					return err
				}
				if !ok {
					inflight.Done()
					continue
				}
				select {
				case prepared <- w:
				case <-gctx.Done():
					release(rec)
					inflight.Done()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		prepWG.Wait()
		close(prepared)
		return nil
	})
	for range r.SubmitWorkers {
		g.Go(func() error {
			for w := range prepared {
				if gctx.Err() != nil {
					// Another worker failed: do not start new paid calls.
					release(w.rec)
					inflight.Done()
					continue
				}
				// Paid calls already started run on the hard-stop context,
				// not the group's: one worker's failure must not cut another's
				// /token or /process in flight (that would orphan records).
				err := r.submit(ctx, w, c, capReached, stop)
				inflight.Done()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// shouldWait decides, when nothing is claimable, whether the run keeps
// waiting: records parked for a retry or results still outstanding, within
// WaitForResults of the moment the run went idle.
func (r *Runner) shouldWait(ctx context.Context, idleSince *time.Time) (bool, error) {
	cs, err := r.Store.Counts(ctx, r.Job)
	if err != nil {
		return false, err
	}
	// Orphans and records held by other live workers count: they end within
	// their token's expiry or their worker's run.
	outstanding := cs[StatePending] + cs[StateTokened] + cs[StateSubmitted] + cs[StateTokening] + cs[StateOrphan]
	if outstanding == 0 || r.WaitForResults <= 0 {
		return false, nil
	}
	now := r.Now()
	if idleSince.IsZero() {
		*idleSince = now
	}
	return now.Sub(*idleSince) < r.WaitForResults, nil
}

// prepare reconciles a tokened record, then fetches and normalizes the images.
func (r *Runner) prepare(ctx context.Context, rec Record, c *counters) (work, bool, error) {
	if rec.State == StateOrphan {
		if err := r.unorphan(ctx, &rec); err != nil {
			if errors.Is(err, ErrConflict) {
				return work{}, false, nil
			}
			return work{}, false, err
		}
		r.Log.Info("possible orphan token has expired; the record gets a new token", LogKeyRecord, rec.ID)
	}
	if rec.State == StateTokened {
		needs, err := r.Submitter.Reconcile(ctx, rec)
		if err != nil {
			var fatal interface{ Fatal() bool }
			if errors.As(err, &fatal) && fatal.Fatal() {
				return work{}, false, err
			}
			r.Log.Warn("reconcile failed; retried later", LogKeyRecord, rec.ID, LogKeyErr, err)
			r.park(ctx, rec, "reconcile_error", err)
			return work{}, false, nil
		}
		if !needs {
			return work{}, false, nil
		}
	}
	p, err := r.Preparer.Prepare(ctx, rec)
	if err == nil {
		return work{rec: rec, prep: p}, true, nil
	}
	if code := RejectCode(err); code != "" {
		now := r.Now()
		to := StateRejected
		outcome := OutcomeRejected
		if rec.State != StatePending { // a token exists: this is a failure, not a free reject
			to, outcome = StateFailed, OutcomeFailed
		}
		msg := err.Error()
		terr := r.Store.Transition(context.WithoutCancel(ctx), Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: to, Now: now,
			Patch: Patch{Outcome: &outcome, RejectReason: &code, ErrorMessage: &msg, RunID: &r.RunID}})
		if terr != nil && !errors.Is(terr, ErrConflict) {
			return work{}, false, terr
		}
		if terr == nil {
			c.add(func(c *counters) {
				if to == StateRejected {
					c.rejected++
					c.rejectedBy[code]++
				} else {
					c.failed++
					c.failedBy[code]++
				}
			})
		}
		return work{}, false, nil
	}
	if ctx.Err() != nil {
		// Stopped while fetching: give the record back at once, so that an
		// immediate restart does not wait out its lease.
		_ = r.Store.Transition(context.WithoutCancel(ctx), Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: rec.State, Now: r.Now()})
		return work{}, false, nil
	}
	r.Log.Warn("fetch failed; retried later", LogKeyRecord, rec.ID, LogKeyErr, err)
	r.park(ctx, rec, "fetch_error", err)
	c.add(func(c *counters) { c.retried++ })
	return work{}, false, nil
}

// park puts a record back in its state with a short backoff.
func (r *Runner) park(ctx context.Context, rec Record, code string, err error) {
	nb := r.Now().Add(30 * time.Second)
	msg := err.Error()
	_ = r.Store.Transition(context.WithoutCancel(ctx), Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: rec.State, Now: r.Now(),
		Patch: Patch{NotBefore: &nb, ErrorCode: &code, ErrorMessage: &msg}})
}

func (r *Runner) submit(ctx context.Context, w work, c *counters, capReached *atomic.Bool, stop func()) error {
	out, err := r.Submitter.Submit(ctx, w.rec, w.prep)
	c.add(func(c *counters) {
		if out.Charged {
			c.tokens++
		}
		if out.Submitted {
			c.submitted++
		}
		switch out.State {
		case StateFailed:
			c.failed++
			c.failedBy[out.Code]++
		case StatePending:
			if out.Code != "" && out.Code != "conflict" {
				c.retried++
			}
		}
	})
	if errors.Is(err, ErrCapReached) {
		capReached.Store(true)
		stop()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = r.Store.Transition(wctx, Transition{ID: w.rec.ID, From: w.rec.State, Version: w.rec.Version, To: w.rec.State, Now: r.Now()})
		return nil
	}
	return err
}
