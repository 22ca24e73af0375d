package submit

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the one rate limiter every API call of the process goes through
// (token, process, status, data, delete): a token bucket of the configured
// requests per hour and burst, made adaptive (AIMD) by the answers the
// client reports.
//
//   - Throttled (a 429 or TOO_MANY_REQUESTS): every caller pauses (for the
//     Retry-After the server sent, else exponential backoff with jitter, 1 s
//     doubling to 64 s). In proportion: when the server accepted about the
//     current rate before (at least 50 calls since the last cut, at 97 % or
//     more of it: a burst at the edge of its window), the rate gives up 1 %
//     only. Otherwise the rate is lowered, once per pause however many
//     requests in flight were refused: to 97 % of the rate the server
//     accepted since the previous cut (its bucket was empty at both 429s, so
//     that is its limit), never below half the current rate and never above
//     nine tenths of it, and not below MinFraction of the configured rate.
//     That accepted rate (or the refused rate when there is no previous cut
//     within ForgetAfter) is remembered as the ceiling.
//   - Succeeded (any other answer) resets the backoff streak and counts
//     toward the measure of the accepted rate.
//   - Recovery: every RecoverEvery/10 without a 429 the rate climbs back
//     additively toward the configured rate: by a tenth of the configured
//     rate per RecoverEvery while well below the ceiling, by one hundredth
//     of the ceiling per RecoverEvery close to it (so the server's limit is
//     probed gently and 429s stay rare), and fast again once the ceiling was
//     passed without a 429 for ForgetAfter.
type Limiter struct {
	mu       sync.Mutex
	lim      *rate.Limiter
	target   rate.Limit
	pausedTo time.Time
	streak   int        // consecutive 429s without a success in between
	lastCut  time.Time  // last time the rate was lowered
	lastRise time.Time  // last recovery step
	ceiling  rate.Limit // estimate of the server's limit (0 = none)
	okSince  int        // answers other than 429 since lastCut

	// RecoverEvery is the period of the additive increase: a tenth of the
	// configured rate per RecoverEvery far below the ceiling. Default 10 s.
	RecoverEvery time.Duration
	// MinFraction is the floor of the adaptive rate as a fraction of the
	// configured one. Default 0.05.
	MinFraction float64
	// ForgetAfter: the rate stays at or below the ceiling (the server's
	// limit as measured at the last 429) for ForgetAfter after it; with no
	// 429 meanwhile, the ceiling is forgotten and the rate probes above it
	// (the server's limit was raised). Default 10 min.
	ForgetAfter time.Duration

	now     func() time.Time
	created time.Time // when the limiter started (the first measure of the accepted rate)
	// counters
	waits     int64
	waited    time.Duration
	throttles int64
	cuts      int64
}

// NewLimiter returns a limiter of perHour requests per hour with the given burst.
func NewLimiter(perHour float64, burst int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	r := rate.Limit(perHour / 3600)
	return &Limiter{lim: rate.NewLimiter(r, burst), target: r, RecoverEvery: 10 * time.Second, MinFraction: 0.05,
		ForgetAfter: 10 * time.Minute, now: time.Now, created: time.Now()}
}

// Wait blocks until a request may be sent, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	start := l.now()
	for {
		l.mu.Lock()
		l.recoverLocked()
		until := l.pausedTo
		l.mu.Unlock()
		d := until.Sub(l.now())
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := l.lim.Wait(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	l.waits++
	l.waited += l.now().Sub(start)
	l.mu.Unlock()
	return nil
}

// Throttled reports a 429 from the server; retryAfter is its Retry-After (0
// when absent).
func (l *Limiter) Throttled(retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	pause := l.pauseLocked(now, retryAfter)
	// Multiplicative decrease, at most once per pause so that a burst of 429s
	// from requests already in flight counts as one signal.
	if l.lastCut.IsZero() || now.Sub(l.lastCut) > pause {
		cur := l.lim.Limit()
		// The server's bucket was empty at the previous cut and is empty
		// now: what it accepted in between is its limit times the interval.
		var acc rate.Limit
		if since := now.Sub(l.lastCut); !l.lastCut.IsZero() && since >= time.Second && since <= l.ForgetAfter {
			acc = rate.Limit(float64(l.okSince) / since.Seconds())
		}
		next := max(cur/2, acc*0.97)
		next = min(next, cur*0.9)
		// In proportion: a few 429s after many accepted calls at the
		// current rate (a burst at the edge of the server's window) say the
		// rate is right, not that it is 10 % too high. The pause absorbs
		// them; the rate gives up only 1 %.
		if l.lastCut.IsZero() && !l.created.IsZero() {
			if since := now.Sub(l.created); since >= time.Second {
				acc = rate.Limit(float64(l.okSince) / since.Seconds())
			}
		}
		edge := l.okSince >= 50 && acc >= cur*0.97
		if edge {
			next = cur * 0.99
		}
		if floor := l.target * rate.Limit(l.MinFraction); next < floor {
			next = floor
		}
		l.ceiling = cur
		if acc > 0 && acc < cur {
			l.ceiling = acc
		}
		if edge {
			// Stay 1 % below the rate that met the window's edge: a sliding
			// window of W seconds then has r·W/100 calls of room for the
			// bursts that caused it. Probed again after ForgetAfter.
			l.ceiling = next
		}
		l.lim.SetLimitAt(now, next)
		l.lastCut = now
		l.lastRise = now
		l.okSince = 0
		l.cuts++
	}
}

// Pause makes every caller wait for d (a Retry-After; 1 s … 64 s of
// backoff when 0) without touching the rate: the 429 of a worker whose
// rate the account's budget adapts (AccountLimiter).
func (l *Limiter) Pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pauseLocked(l.now(), d)
}

// pauseLocked counts a 429 and makes every caller wait from now for d, or
// for the backoff of the current streak (1 s doubling to 64 s, jittered)
// when d is 0. It returns the pause.
func (l *Limiter) pauseLocked(now time.Time, d time.Duration) time.Duration {
	l.throttles++
	l.streak++
	if d <= 0 {
		backoff := time.Second << min(l.streak-1, 6) // 1s … 64s
		d = backoff/2 + rand.N(backoff/2+1)
	}
	if until := now.Add(d); until.After(l.pausedTo) {
		l.pausedTo = until
	}
	return d
}

// Succeeded reports an answer that was not a 429: it resets the backoff
// streak and counts toward the measure of the server's limit.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.streak = 0
	l.okSince++
}

func (l *Limiter) recoverLocked() {
	now := l.now()
	cur := l.lim.Limit()
	if cur >= l.target || now.Before(l.pausedTo) {
		return
	}
	tick := l.RecoverEvery / 10
	if now.Sub(l.lastRise) < tick {
		return
	}
	steps := float64(now.Sub(l.lastRise) / tick)
	fast := l.target / 100 // per tick: a tenth of the target per RecoverEvery
	slow := l.ceiling / 1000
	next := cur
	for range int(min(steps, 1000)) {
		switch {
		case l.ceiling == 0 || next < l.ceiling*0.9:
			next += fast
		default:
			next += max(slow, l.target/100_000)
		}
	}
	if l.ceiling > 0 && next > l.ceiling {
		if now.Sub(l.lastCut) > l.ForgetAfter {
			l.ceiling = 0 // no 429 for ForgetAfter: probe above it
		} else {
			next = l.ceiling // the server's limit: not above it yet
		}
	}
	next = min(next, l.target)
	l.lim.SetLimitAt(now, next)
	l.lastRise = l.lastRise.Add(time.Duration(steps) * tick)
}

// Rate returns the current rate in requests per hour.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.lim.Limit()) * 3600
}

// LimiterStats are the limiter's counters.
type LimiterStats struct {
	Waits     int64         `json:"waits"`
	Waited    time.Duration `json:"waited_ns"`
	Throttles int64         `json:"throttled"`
	Cuts      int64         `json:"rate_cuts"`
	RatePerH  float64       `json:"rate_per_hour"`
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterStats{Waits: l.waits, Waited: l.waited, Throttles: l.throttles, Cuts: l.cuts, RatePerH: float64(l.lim.Limit()) * 3600}
}
