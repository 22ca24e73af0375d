package submit

import (
	"context"
	"testing"
	"time"
)

func TestLimiterAIMD(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(3600, 1) // 1 request per second
	l.now = func() time.Time { return now }
	if got := l.Rate(); got != 3600 {
		t.Fatalf("rate %v", got)
	}
	l.Throttled(2 * time.Second)
	if got := l.Rate(); got != 1800 {
		t.Errorf("after a 429 the rate is %v, want halved to 1800", got)
	}
	// A burst of 429s from requests already in flight counts once.
	l.Throttled(2 * time.Second)
	if got := l.Rate(); got != 1800 {
		t.Errorf("second 429 of the same pause lowered the rate again: %v", got)
	}
	// Waiting during the pause blocks; the context ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); err == nil {
		t.Error("Wait returned during the Retry-After pause")
	}
	// Additive increase: a tenth of the target per RecoverEvery without 429.
	now = now.Add(2*time.Second + l.RecoverEvery)
	l.mu.Lock()
	l.recoverLocked()
	l.mu.Unlock()
	if got := l.Rate(); got != 1800+360 {
		t.Errorf("after one recovery step the rate is %v, want 2160", got)
	}
	now = now.Add(10 * l.RecoverEvery)
	l.mu.Lock()
	l.recoverLocked()
	l.mu.Unlock()
	if got := l.Rate(); got != 3600 {
		t.Errorf("recovery overshoots or stalls: %v, want the configured 3600", got)
	}
	if s := l.Stats(); s.Throttles != 2 {
		t.Errorf("throttles counted %d", s.Throttles)
	}
}

func TestLimiterFloor(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(3600, 1)
	l.now = func() time.Time { return now }
	for i := 0; i < 20; i++ {
		now = now.Add(time.Hour)
		l.Throttled(time.Second)
	}
	if got := l.Rate(); got < 3600*l.MinFraction-1e-9 {
		t.Errorf("rate fell below the floor: %v", got)
	}
}
