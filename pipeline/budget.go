package pipeline

import (
	"context"
	"math"
	"time"
)

// Budget is the state of one account-wide token bucket, kept in the Store
// (BudgetStore) so that every worker of an account reads and changes the
// same one.
type Budget struct {
	// Level is the number of tokens at At. Negative is a debt: after the
	// server asked the account to pause, every taker waits until the
	// refill has paid it.
	Level float64
	At    time.Time
	// Factor is the fraction of the configured rate in force until Until
	// (after a 429, the account's rate is held a little below the limit
	// that refused it); outside it the rate is the configured one.
	Factor float64
	Until  time.Time
	// LastCut is when Factor was last lowered (zero: never).
	LastCut time.Time
}

// Rate is the bucket's refill rate at now for a configured perSecond.
func (b *Budget) Rate(perSecond float64, now time.Time) float64 {
	if b.Factor > 0 && b.Factor < 1 && now.Before(b.Until) {
		return perSecond * b.Factor
	}
	return perSecond
}

// Take refills the bucket to now (at Rate, up to burst) and takes up to n
// whole tokens; with none, wait is how long until one is there.
func (b *Budget) Take(now time.Time, n int, perSecond, burst float64) (got int, wait time.Duration) {
	got, b.Level, wait = RefillBudget(b.Level, b.At, now, n, b.Rate(perSecond, now), burst)
	if now.After(b.At) {
		b.At = now
	}
	return got, wait
}

// TakeBudget takes up to n tokens from the bucket name of st, refilled at
// perSecond (times the bucket's Factor while it holds) up to burst tokens; a
// new bucket starts empty, so that a fleet starting together does not burst
// past a sliding window. It returns how many it took; with none, wait is
// how long until one is there.
func TakeBudget(ctx context.Context, st BudgetStore, name string, n int, perSecond, burst float64, now time.Time) (got int, wait time.Duration, err error) {
	err = st.UpdateBudget(ctx, name, now, func(b *Budget, now time.Time) {
		got, wait = b.Take(now, n, perSecond, burst)
	})
	if err != nil {
		return 0, 0, err // the take was not written: no tokens
	}
	return got, wait, nil
}

// RefillBudget computes a token bucket's take: from level at `at`, refilled
// at perSecond up to burst until now, take up to n whole tokens. It returns
// the tokens taken, the new level, and, when none could be taken, how long
// until one is there.
func RefillBudget(level float64, at, now time.Time, n int, perSecond, burst float64) (got int, next float64, wait time.Duration) {
	if perSecond <= 0 {
		return 0, level, time.Hour
	}
	burst = math.Max(burst, 1)
	if el := now.Sub(at).Seconds(); el > 0 {
		level = math.Min(burst, level+el*perSecond)
	}
	got = min(n, int(math.Floor(level+1e-9)))
	if got < 0 {
		got = 0
	}
	level -= float64(got)
	if got == 0 {
		wait = time.Duration((1 - level) / perSecond * float64(time.Second))
		wait = max(wait, time.Millisecond)
	}
	return got, level, wait
}
