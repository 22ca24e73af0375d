package results

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// PollAPI is what the poller needs of iDenfy.
type PollAPI interface {
	Status(ctx context.Context, scanRef string) (idenfy.StatusResponse, error)
	Data(ctx context.Context, scanRef string) (idenfy.DataResponse, error)
}

type pollStore interface {
	resultStore
	List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error)
}

// pollPage is how many overdue records one look at the Store returns.
const pollPage = 20

// Poller is the sparse fallback for results that did not arrive by webhook
// (iDenfy discourages regular polling: idenfy-api.md §4). It asks
// /api/v2/status only for records that are overdue: submitted more than
// PollAfter ago, still without a final result, and past their per-record
// backoff. When the status is final it asks /api/v2/data for the document
// data, and stores the result with pipeline.ApplyResult (never downgrading
// what a webhook stored).
//
// Budget: /status and /data both count against MaxPerHour (a token bucket of
// burst 1, so never more than MaxPerHour+1 calls in any hour), and every
// call also waits on the shared API limiter inside API. Give the poller an
// API client that does not retry (idenfy.Config.MaxRetries < 0): then every
// HTTP request it causes is counted, and a failed poll is simply retried at
// the record's next turn.
//
// Backoff: after a poll that does not end the record, its next poll waits
// max(PollAfter, half the time since submission) — polls at PollAfter,
// 2·PollAfter, 3·PollAfter, then ever sparser (×1.5).
type Poller struct {
	Store        pollStore
	API          PollAPI
	Job          string
	RunID        string
	PollAfter    time.Duration
	MaxPerHour   float64 // <= 0: default 200
	ExpectManual bool
	// Interval is how often to look for overdue records; default
	// min(5 s, PollAfter/4), at least 50 ms. A full page is followed at once
	// by the next.
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	// OnPoll, if set, is called after each record's poll with "pending" (no
	// result yet), "error", or the ApplyOutcome ("applied", "ignored", …).
	OnPoll func(outcome string)
	// Budget, if set, replaces the process's own MaxPerHour bucket: an
	// account-wide one shared by every worker on the Store
	// (submit.SharedBudget), so that N workers poll no more than one.
	Budget interface {
		Wait(ctx context.Context) error
	}

	budget interface {
		Wait(ctx context.Context) error
	}
}

// Run polls until ctx ends. It returns nil then; errors of single polls are
// logged and retried later.
func (p *Poller) Run(ctx context.Context) error {
	p.defaults()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		full, err := p.PollOnce(ctx)
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("poll failed", pipeline.LogKeyErr, err)
		}
		if full && err == nil && ctx.Err() == nil {
			continue // more overdue records are waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) defaults() {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Interval <= 0 {
		p.Interval = min(5*time.Second, max(p.PollAfter/4, 50*time.Millisecond))
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.budget == nil && p.Budget != nil {
		p.budget = p.Budget
	}
	if p.budget == nil {
		perHour := p.MaxPerHour
		if perHour <= 0 {
			perHour = 200
		}
		p.budget = rate.NewLimiter(rate.Limit(perHour/3600), 1)
	}
}

// PollOnce polls one page of overdue records. full reports that the page
// was full (more may be overdue). A fatal API error (credentials, account)
// ends the page and is returned.
func (p *Poller) PollOnce(ctx context.Context) (full bool, err error) {
	p.defaults()
	now := p.Now()
	recs, err := p.Store.List(ctx, pipeline.ListQuery{Job: p.Job, States: []pipeline.State{pipeline.StateSubmitted},
		SubmittedBefore: now.Add(-p.PollAfter), NotBefore: now, Limit: pollPage})
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		if rec.ScanRef == "" {
			continue
		}
		out, err := p.pollRecord(ctx, rec)
		if ctx.Err() != nil {
			return false, nil
		}
		if p.OnPoll != nil {
			p.OnPoll(out)
		}
		if err != nil {
			if idenfy.IsFatal(err) {
				return false, err
			}
			p.Log.Warn("poll of record failed; retried later", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyScanRef, rec.ScanRef, pipeline.LogKeyErr, err)
		}
	}
	return len(recs) == pollPage, nil
}

func (p *Poller) pollRecord(ctx context.Context, rec pipeline.Record) (string, error) {
	if err := p.budget.Wait(ctx); err != nil {
		return "", err
	}
	st, err := p.API.Status(ctx, rec.ScanRef)
	if err != nil {
		p.backoff(ctx, rec)
		return "error", err
	}
	if st.ScanRef == "" {
		st.ScanRef = rec.ScanRef
	}
	if st.ScanRef != rec.ScanRef {
		p.backoff(ctx, rec)
		return "error", errors.New("status answered for another scanRef")
	}
	final := PolledFinal(st, p.ExpectManual)
	if !final && !decided(st.Status) {
		// REVIEWING, ACTIVE, …: nothing to store yet.
		p.backoff(ctx, rec)
		return "pending", nil
	}
	var data *idenfy.DataResponse
	if final && !expired(st.Status) {
		// The document data is fetched once, with the final result; an
		// automatic result is stored from /status alone.
		if err := p.budget.Wait(ctx); err != nil {
			return "", err
		}
		d, err := p.API.Data(ctx, rec.ScanRef)
		if err != nil {
			p.backoff(ctx, rec)
			return "error", err
		}
		data = &d
	}
	res := FromPoll(st, data, p.ExpectManual, p.Now())
	res.ExternalRef = rec.Ref
	out, _, err := pipeline.ApplyResult(ctx, p.Store, res, p.RunID, p.Now())
	if err != nil {
		return "error", err
	}
	if !res.Final {
		p.backoff(ctx, rec)
	}
	return out.String(), nil
}

// backoff delays the next poll of rec.
func (p *Poller) backoff(ctx context.Context, rec pipeline.Record) {
	now := p.Now()
	wait := p.PollAfter
	if !rec.SubmittedAt.IsZero() {
		if half := now.Sub(rec.SubmittedAt) / 2; half > wait {
			wait = half
		}
	}
	nb := now.Add(wait)
	ctx = context.WithoutCancel(ctx)
	for range 3 {
		cur, err := p.Store.ByScanRef(ctx, rec.ScanRef)
		if err != nil || cur.State != pipeline.StateSubmitted {
			return
		}
		err = p.Store.Transition(ctx, pipeline.Transition{ID: cur.ID, From: cur.State, Version: cur.Version, To: cur.State, Now: now,
			Patch: pipeline.Patch{NotBefore: &nb, KeepLease: true}})
		if err == nil {
			return
		}
		if !errors.Is(err, pipeline.ErrConflict) {
			p.Log.Warn("poll backoff not stored", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyErr, err)
			return
		}
	}
}
