package submit

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// SharedBudget paces calls by an account-wide token bucket kept in the
// Store (pipeline.BudgetStore): every worker on one PostgreSQL Store draws
// from it, so the sum of their calls never exceeds the account's limit
// however many workers run, and a worker that joins, idles or dies changes
// the others' share at once (no static rate / N). Tokens are taken a few at
// a time (Chunk) to keep Store round trips few.
//
// The adaptive response to 429s lives here too, account-wide, so that every
// worker follows it (a worker's own limiter measures only its share of the
// account and would cap it there): see Throttled.
type SharedBudget struct {
	Store     pipeline.BudgetStore
	Name      string  // the bucket: one per iDenfy account (and purpose)
	PerSecond float64 // the account's rate
	Burst     float64 // the bucket's capacity
	Chunk     int     // tokens taken per Store call; default max(1, PerSecond/10)
	Log       *slog.Logger

	// Hold is how long the account's rate stays lowered after its last
	// 429 before the configured rate is probed again. Default 10 min.
	Hold time.Duration
	// Storm: a 429 within Storm of the previous cut means the account's
	// limit is lower than configured, and cuts 10 %; a 429 after a quiet
	// Storm is a burst at a window's edge, and cuts 1 %. Default 30 s.
	Storm time.Duration
	// InFlight: a 429 within the pause plus InFlight of the last cut
	// answers a request sent before the pause (an upload takes seconds),
	// not a new signal: it extends the pause and cuts nothing. Default 5 s.
	InFlight time.Duration

	mu    sync.Mutex
	local int // tokens taken and not yet spent
}

const (
	// minFactor is the floor of the account's rate, as a fraction of the
	// configured one.
	minFactor = 0.05
	// maxPause caps the account's pause after a 429: a Retry-After of a
	// day (a proxy's, say) must not stop every worker, and the next runs,
	// for a day. The client gives up retrying a call after as long.
	maxPause = 2 * time.Minute
	// longWait: a wait for the budget this long is logged.
	longWait = 30 * time.Second
)

// Wait blocks until the account's budget grants one call, or ctx ends. A
// Store that fails is retried every second (the call waits; nothing is lost).
func (b *SharedBudget) Wait(ctx context.Context) error {
	chunk := b.Chunk
	if chunk <= 0 {
		chunk = max(1, int(b.PerSecond/10))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.local > 0 {
			b.local--
			return nil
		}
		got, wait, err := pipeline.TakeBudget(ctx, b.Store, b.Name, chunk, b.PerSecond, b.Burst, time.Now())
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if b.Log != nil {
				b.Log.Warn("account budget unavailable; retrying", pipeline.LogKeyErr, err)
			}
			wait = time.Second
		case got > 0:
			b.local = got - 1
			return nil
		case wait >= longWait && b.Log != nil:
			b.Log.Warn("the account is paused after a 429; waiting", "until", time.Now().Add(wait).UTC().Format(time.RFC3339))
		}
		// A little jitter spreads the workers' retries over the refill;
		// more would leave the account's tokens untaken.
		wait += rand.N(wait/20 + 1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Throttled reports a 429 of the account's API (retryAfter: its
// Retry-After, 0 when absent). In one Store update, for every worker:
//
//   - the account pauses: the bucket's level becomes a debt of retryAfter
//     (at least 1 s, at most 2 min) of calls, so no worker calls before
//     the server said;
//   - once per pause (a 429 while the account is still paused, or within
//     InFlight after, answers a request sent before it), in proportion: after a quiet Storm, the 429 is a
//     burst at the edge of the server's window, and the account's rate is
//     held 1 % lower (a sliding window of W seconds then has 1 % of W of
//     room for the bursts that caused it); within Storm of the last cut,
//     the limit is lower than configured, and the rate is cut 10 %. Not
//     below 5 % of the configured rate. The lowered rate holds for Hold
//     after the last cut, then the configured rate is probed again.
func (b *SharedBudget) Throttled(ctx context.Context, retryAfter time.Duration) error {
	hold, storm, inFlight := cmp.Or(b.Hold, 10*time.Minute), cmp.Or(b.Storm, 30*time.Second), cmp.Or(b.InFlight, 5*time.Second)
	pause := min(max(retryAfter, time.Second), maxPause)
	return b.Store.UpdateBudget(ctx, b.Name, time.Now(), func(bu *pipeline.Budget, now time.Time) {
		bu.Take(now, 0, b.PerSecond, b.Burst) // refill up to now
		if bu.Level < 0 || (!bu.LastCut.IsZero() && now.Sub(bu.LastCut) < pause+inFlight) {
			// The account is still paused: a request that was in flight
			// when it paused, not a new signal.
			bu.Level = min(bu.Level, -bu.Rate(b.PerSecond, now)*pause.Seconds())
			return
		}
		factor := 1.0
		if now.Before(bu.Until) && bu.Factor > 0 {
			factor = bu.Factor
		}
		if !bu.LastCut.IsZero() && now.Sub(bu.LastCut) < storm {
			factor *= 0.9
		} else {
			factor *= 0.99
		}
		bu.Factor, bu.Until, bu.LastCut = max(factor, minFactor), now.Add(hold), now
		bu.Level = min(bu.Level, -bu.Rate(b.PerSecond, now)*pause.Seconds())
	})
}

// Factor returns the fraction of the configured rate the account is held
// at now (1: none, or no bucket yet), for stats and tests. It only reads
// the Store.
func (b *SharedBudget) Factor(ctx context.Context) (float64, error) {
	bu, now, found, err := b.Store.Budget(ctx, b.Name, time.Now())
	if err != nil || !found {
		return 1, err
	}
	return bu.Rate(1, now), nil
}

// AccountLimiter is the limiter of a worker that shares an account with
// others: its own Limiter (the process's burst and its stats) in series
// with the account-wide SharedBudget, which paces and adapts the account's
// calls. It implements idenfy.Limiter.
type AccountLimiter struct {
	*Limiter
	Budget *SharedBudget
}

// Wait waits for the local limiter, then for the account's budget.
func (a *AccountLimiter) Wait(ctx context.Context) error {
	if err := a.Limiter.Wait(ctx); err != nil {
		return err
	}
	return a.Budget.Wait(ctx)
}

// Throttled reports a 429: this worker pauses at once, and the account's
// budget pauses and adapts every worker (SharedBudget.Throttled). The
// worker's own rate is left alone: what it measures is its share, not the
// account's limit, and held there it would not take over the share of a
// worker that stops.
func (a *AccountLimiter) Throttled(retryAfter time.Duration) {
	a.Limiter.Pause(retryAfter)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Budget.Throttled(ctx, retryAfter); err != nil && a.Budget.Log != nil {
		a.Budget.Log.Warn("account budget: cannot record a 429; this worker paused alone", pipeline.LogKeyErr, err)
	}
}
