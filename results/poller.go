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

// Poller asks /api/v2/status for results that are overdue: records submitted
// more than PollAfter ago without a final result. It spends at most
// MaxPerHour calls (status and data both count), on top of the shared API
// limiter, and backs off per record: the next poll of a record waits half
// the time it has already waited, and at least PollAfter.
type Poller struct {
	Store        pollStore
	API          PollAPI
	Job          string
	RunID        string
	PollAfter    time.Duration
	MaxPerHour   float64
	ExpectManual bool
	Interval     time.Duration // how often to look for overdue records; default 5s
	Log          *slog.Logger
	Now          func() time.Time
	OnPoll       func(outcome string)
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Interval <= 0 {
		p.Interval = 5 * time.Second
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	perHour := p.MaxPerHour
	if perHour <= 0 {
		perHour = 200
	}
	lim := rate.NewLimiter(rate.Limit(perHour/3600), 2)
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.pollOnce(ctx, lim); err != nil && ctx.Err() == nil {
			p.Log.Warn("poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) pollOnce(ctx context.Context, lim *rate.Limiter) error {
	now := p.Now()
	recs, err := p.Store.List(ctx, pipeline.ListQuery{Job: p.Job, States: []pipeline.State{pipeline.StateSubmitted},
		SubmittedBefore: now.Add(-p.PollAfter), NotBefore: now, Limit: 20})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := lim.Wait(ctx); err != nil {
			return nil
		}
		if err := p.pollRecord(ctx, lim, rec); err != nil {
			if idenfy.IsFatal(err) {
				return err
			}
			p.Log.Warn("poll of record failed", "record", rec.ID, "err", err)
		}
	}
	return nil
}

func (p *Poller) pollRecord(ctx context.Context, lim *rate.Limiter, rec pipeline.Record) error {
	st, err := p.API.Status(ctx, rec.ScanRef)
	if err != nil {
		p.backoff(ctx, rec)
		return err
	}
	var data *idenfy.DataResponse
	if PolledFinal(st, p.ExpectManual) && !expired(st.Status) {
		if err := lim.Wait(ctx); err != nil {
			return nil
		}
		d, err := p.API.Data(ctx, rec.ScanRef)
		if err != nil {
			p.backoff(ctx, rec)
			return err
		}
		data = &d
	}
	if st.ScanRef == "" {
		st.ScanRef = rec.ScanRef
	}
	res := FromPoll(st, data, p.ExpectManual, p.Now())
	if !res.Final && res.Overall != "APPROVED" && res.Overall != "DENIED" && res.Overall != "SUSPECTED" {
		// REVIEWING, ACTIVE…: nothing to store yet.
		p.backoff(ctx, rec)
		if p.OnPoll != nil {
			p.OnPoll("pending")
		}
		return nil
	}
	out, _, err := pipeline.ApplyResult(ctx, p.Store, res, p.RunID, p.Now())
	if err != nil {
		return err
	}
	if p.OnPoll != nil {
		p.OnPoll(out.String())
	}
	if !res.Final {
		p.backoff(ctx, rec)
	}
	return nil
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
	cur, err := p.Store.ByScanRef(ctx, rec.ScanRef)
	if err != nil || cur.State != pipeline.StateSubmitted {
		return
	}
	err = p.Store.Transition(ctx, pipeline.Transition{ID: cur.ID, From: cur.State, Version: cur.Version, To: cur.State, Now: now,
		Patch: pipeline.Patch{NotBefore: &nb, KeepLease: true}})
	if err != nil && !errors.Is(err, pipeline.ErrConflict) {
		p.Log.Warn("poll backoff not stored", "record", rec.ID, "err", err)
	}
}
