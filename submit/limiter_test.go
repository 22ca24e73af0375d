package submit

import (
	"context"
	"math"
	"testing"
	"time"
)

// fakeLimiter returns a limiter of perSec requests per second on a fake clock.
func fakeLimiter(perSec float64) (*Limiter, *time.Time) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(perSec*3600, 1)
	l.now = func() time.Time { return now }
	l.lastRise, l.created = now, now
	return l, &now
}

func perSec(l *Limiter) float64 { return l.Rate() / 3600 }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

// step advances the fake clock by d, reporting n successes spread over it, and
// lets the limiter recover as Wait would.
func step(l *Limiter, now *time.Time, d time.Duration, n int) {
	for i := 0; i < n; i++ {
		*now = now.Add(d / time.Duration(n))
		l.Succeeded()
	}
	if n == 0 {
		*now = now.Add(d)
	}
	l.mu.Lock()
	l.recoverLocked()
	l.mu.Unlock()
}

func TestLimiterHalvesWithoutMeasureAndCountsABurstOnce(t *testing.T) {
	l, _ := fakeLimiter(1)
	l.Throttled(2 * time.Second)
	if got := perSec(l); !near(got, 0.5) {
		t.Errorf("after a 429 with nothing measured the rate is %v/s, want halved to 0.5", got)
	}
	l.Throttled(2 * time.Second)
	if got := perSec(l); !near(got, 0.5) {
		t.Errorf("second 429 of the same pause lowered the rate again: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); err == nil {
		t.Error("Wait returned during the Retry-After pause")
	}
	if s := l.Stats(); s.Throttles != 2 || s.Cuts != 1 {
		t.Errorf("stats %+v, want 2 throttles and 1 cut", s)
	}
}

func TestLimiterCutsToTheAcceptedRateAndProbesGently(t *testing.T) {
	l, now := fakeLimiter(100)
	l.Throttled(time.Second) // first 429: nothing measured yet, halved to 50
	step(l, now, 5*time.Second, 225)
	// The server accepted 45/s between the two 429s: that is its limit.
	cur := perSec(l)
	l.Throttled(time.Second)
	if got := perSec(l); !near(got, 45*0.97) || cur < 54 {
		t.Fatalf("rate %v/s → %v/s after the second 429, want 97%% of the accepted 45/s", cur, got)
	}
	// Close to the ceiling the rate climbs by 1% of it per RecoverEvery.
	before := perSec(l)
	step(l, now, time.Second, 0) // the pause
	step(l, now, 10*time.Second, 0)
	if got := perSec(l); !near(got, before+11*0.045) {
		t.Errorf("slow probe: %v/s after 11 s, want %v", got, before+11*0.045)
	}
	// Above the ceiling for ForgetAfter without a 429: the ceiling is
	// forgotten and the rate returns to the configured one quickly.
	step(l, now, l.ForgetAfter, 0)
	step(l, now, 6*l.RecoverEvery, 0)
	if got := perSec(l); !near(got, 100) {
		t.Errorf("rate %v/s long after the last 429, want the configured 100", got)
	}
}

func TestLimiterRecoversFastFarBelowTheCeiling(t *testing.T) {
	l, now := fakeLimiter(100)
	l.Throttled(time.Second) // nothing measured: halved to 50, ceiling 100
	step(l, now, time.Second, 0)
	step(l, now, 10*time.Second, 0)
	// A tenth of the configured rate per RecoverEvery: 11 ticks of 1/s.
	if got := perSec(l); !near(got, 61) {
		t.Errorf("rate %v/s 11 s after the cut, want 61", got)
	}
	step(l, now, 30*time.Second, 0)
	if got := perSec(l); got < 90 || got > 100 {
		t.Errorf("rate %v/s after 41 s, want back near the configured 100", got)
	}
}

func TestLimiterFloorAndBackoff(t *testing.T) {
	l, now := fakeLimiter(1)
	for i := 0; i < 20; i++ {
		*now = now.Add(time.Hour)
		l.Throttled(time.Second)
	}
	if got := perSec(l); got < l.MinFraction-1e-9 {
		t.Errorf("rate fell below the floor: %v", got)
	}
	// Without Retry-After the pause grows with consecutive 429s; a success resets it.
	pause := func() time.Duration {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.pausedTo.Sub(*now)
	}
	*now = now.Add(time.Hour)
	l.Succeeded()
	l.Throttled(0)
	p1 := pause()
	*now = now.Add(p1)
	l.Throttled(0)
	p2 := pause()
	if p1 < 500*time.Millisecond || p1 > time.Second || p2 < time.Second || p2 > 2*time.Second {
		t.Errorf("backoff pauses %v then %v, want within [0.5s,1s] then [1s,2s]", p1, p2)
	}
	l.Succeeded()
	*now = now.Add(time.Hour)
	l.Throttled(0)
	if p := pause(); p > time.Second {
		t.Errorf("pause after a success %v, want the first step again", p)
	}
}

// A few 429s after a long run of accepted calls at the current rate (a
// burst at the edge of the server's window) cost 1 % of the rate, not half
// or a tenth, and the rate stays there (no new 429 at every edge) until
// ForgetAfter has passed without one.
func TestLimiterEdgeBurstCostsOnePercent(t *testing.T) {
	l, now := fakeLimiter(25)
	step(l, now, 25*time.Second, 625) // the server accepted 25/s for a window
	for range 3 {
		l.Throttled(time.Second) // the burst's three 429s, one pause
	}
	if got := perSec(l); !near(got, 25*0.99) {
		t.Fatalf("rate %v/s after an edge burst, want 99%% of 25/s", got)
	}
	step(l, now, time.Second, 0) // the pause
	step(l, now, time.Minute, 0)
	if got := perSec(l); !near(got, 25*0.99) {
		t.Errorf("rate %v/s a minute after the edge burst, want it kept at 99%%", got)
	}
	step(l, now, l.ForgetAfter, 0)
	step(l, now, time.Minute, 0)
	if got := perSec(l); got < 24.99 {
		t.Errorf("rate %v/s long after the last 429, want back at 25/s", got)
	}
}
