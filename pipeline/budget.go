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

// BudgetState is what a bucket means for the account at one instant:
// the rate in force and whether the account is paused after a 429.
type BudgetState struct {
	// Factor is the fraction of the configured rate in force (1: the
	// configured rate); while it is lower, Until is when the configured
	// rate is probed again.
	Factor float64
	Until  time.Time
	// LastCut is when a 429 last lowered the rate (zero: never).
	LastCut time.Time
	// PausedUntil is zero when the account is not paused; else it is in
	// debt after a 429 (no worker calls), until about then: the debt ÷ the
	// rate in force (approximate: the rate may change before it is paid).
	PausedUntil time.Time
}

// State reads the bucket at now for a configured perSecond, without
// changing it.
func (b *Budget) State(perSecond float64, now time.Time) BudgetState {
	s := BudgetState{Factor: b.Rate(1, now), LastCut: b.LastCut}
	if s.Factor < 1 {
		s.Until = b.Until
	}
	rate, level := b.Rate(perSecond, now), b.Level
	if el := now.Sub(b.At).Seconds(); el > 0 {
		level += el * rate
	}
	if level < 0 && rate > 0 {
		s.PausedUntil = now.Add(time.Duration(-level / rate * float64(time.Second)))
	}
	return s
}

// AccountBudget names an account's bucket in the Store and its configured
// rate (limits.requests_per_hour), for `idbatch status` and the metrics.
// The zero value names none.
type AccountBudget struct {
	Name    string
	PerHour float64
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
