package submit

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the one rate limiter every API call of the process goes through.
// It is adaptive (AIMD): on a 429 it pauses every caller (Retry-After when the
// server sent one, else exponential backoff with jitter) and halves the rate;
// then it climbs back toward the configured rate additively, by a tenth of it
// per RecoverEvery without a 429.
type Limiter struct {
	mu       sync.Mutex
	lim      *rate.Limiter
	target   rate.Limit
	pausedTo time.Time
	streak   int       // consecutive 429s without a success in between
	lastCut  time.Time // last time the rate was lowered
	lastRise time.Time

	// RecoverEvery is how often the rate climbs back by a tenth of the target; default 10s.
	RecoverEvery time.Duration
	// MinRate is the floor of the adaptive rate, as a fraction of the target; default 0.05.
	MinFraction float64

	now func() time.Time
	// counters
	waits     int64
	waited    time.Duration
	throttles int64
}

// NewLimiter returns a limiter of perHour requests per hour with the given burst.
func NewLimiter(perHour float64, burst int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	r := rate.Limit(perHour / 3600)
	return &Limiter{lim: rate.NewLimiter(r, burst), target: r, RecoverEvery: 10 * time.Second, MinFraction: 0.05, now: time.Now}
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

// Throttled reports a 429 from the server.
func (l *Limiter) Throttled(retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.throttles++
	l.streak++
	pause := retryAfter
	if pause <= 0 {
		backoff := time.Second << min(l.streak-1, 6) // 1s … 64s
		pause = backoff/2 + rand.N(backoff/2+1)
	}
	if until := now.Add(pause); until.After(l.pausedTo) {
		l.pausedTo = until
	}
	// Multiplicative decrease, at most once per pause so that a burst of 429s
	// from requests already in flight counts as one signal.
	if now.Sub(l.lastCut) > pause || l.lastCut.IsZero() {
		cur := l.lim.Limit()
		next := cur / 2
		if floor := l.target * rate.Limit(l.MinFraction); next < floor {
			next = floor
		}
		l.lim.SetLimitAt(now, next)
		l.lastCut = now
		l.lastRise = now
	}
}

// Succeeded tells the limiter a request went through (resets the backoff streak).
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	l.streak = 0
	l.mu.Unlock()
}

func (l *Limiter) recoverLocked() {
	now := l.now()
	cur := l.lim.Limit()
	if cur >= l.target || now.Before(l.pausedTo) {
		return
	}
	if now.Sub(l.lastRise) < l.RecoverEvery {
		return
	}
	steps := float64(now.Sub(l.lastRise) / l.RecoverEvery)
	next := cur + rate.Limit(steps)*l.target/10
	if next > l.target {
		next = l.target
	}
	l.lim.SetLimitAt(now, next)
	l.lastRise = now
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
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterStats{Waits: l.waits, Waited: l.waited, Throttles: l.throttles}
}
