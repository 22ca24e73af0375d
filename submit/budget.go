package submit

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// budgetStore is what SharedBudget needs of a pipeline.Store.
type budgetStore interface {
	TakeBudget(ctx context.Context, name string, n int, perSecond, burst float64, now time.Time) (int, time.Duration, error)
}

// SharedBudget paces calls by an account-wide token bucket kept in the
// Store (pipeline.BudgetStore): every worker on one PostgreSQL Store draws
// from it, so the sum of their calls never exceeds the account's limit
// however many workers run, and a worker that joins, idles or dies changes
// the others' share at once (no static rate / N). Tokens are taken a few at
// a time (Chunk) to keep Store round trips few.
type SharedBudget struct {
	Store     budgetStore
	Name      string  // the bucket: one per iDenfy account (and purpose)
	PerSecond float64 // the account's rate
	Burst     float64 // the bucket's capacity
	Chunk     int     // tokens taken per Store call; default max(1, PerSecond/10)
	Log       *slog.Logger

	mu    sync.Mutex
	local int // tokens taken and not yet spent
}

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
		got, wait, err := b.Store.TakeBudget(ctx, b.Name, chunk, b.PerSecond, b.Burst, time.Now())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if b.Log != nil {
				b.Log.Warn("account budget unavailable; retrying", "err", err)
			}
			wait = time.Second
		}
		if got > 0 {
			b.local = got - 1
			return nil
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

// AccountLimiter is the limiter of a worker that shares an account with
// others: its own adaptive Limiter (pauses and AIMD on 429s) in series with
// the account-wide SharedBudget. It implements idenfy.Limiter.
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
