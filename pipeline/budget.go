package pipeline

import (
	"math"
	"time"
)

// RefillBudget computes a token bucket's take: from level at `at`, refilled
// at perSecond up to burst until now, take up to n whole tokens. It returns
// the tokens taken, the new level, and, when none could be taken, how long
// until one is there. Shared by the Stores' TakeBudget.
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
