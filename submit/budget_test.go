package submit_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/submit"
)

// Workers drawing from one account budget in the Store never exceed its
// rate together, share it, and a worker that stops leaves its share to the
// others at once.
func TestSharedBudgetSplitsTheAccountRate(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const rate = 40.0
	newBudget := func() *submit.SharedBudget {
		return &submit.SharedBudget{Store: st, Name: "api:acct", PerSecond: rate, Burst: 3}
	}
	draw := func(ctx context.Context, b *submit.SharedBudget, n *atomic.Int64) {
		for b.Wait(ctx) == nil {
			n.Add(1)
		}
	}
	var a, b atomic.Int64
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); draw(ctxA, newBudget(), &a) }()
	go func() { defer wg.Done(); draw(ctxB, newBudget(), &b) }()
	time.Sleep(1500 * time.Millisecond)
	na, nb := a.Load(), b.Load()
	if total := float64(na + nb); total > rate*1.5+3+8 || total < rate*1.5*0.6 {
		t.Errorf("two workers took %v calls in 1.5 s; the account allows %v", total, rate*1.5)
	}
	if na < 15 || nb < 15 {
		t.Errorf("shares %d and %d: one worker starved", na, nb)
	}
	stopA()
	time.Sleep(100 * time.Millisecond)
	before := b.Load()
	time.Sleep(time.Second)
	if got := float64(b.Load() - before); got < rate*0.6 || got > rate+8 {
		t.Errorf("alone, the remaining worker took %v calls in 1 s, want about the account's %v", got, rate)
	}
	stopB()
	wg.Wait()
}

// A 429 pauses the whole account, not only the worker that met it, and
// lowers the account's rate in proportion: 1 % for an isolated 429 (a burst
// at a window's edge), 10 % for another soon after (the limit is lower than
// configured); the configured rate is probed again after Hold.
func TestSharedBudgetThrottled(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const rate = 100.0
	a := &submit.SharedBudget{Store: st, Name: "api:acct", PerSecond: rate, Burst: 2, Chunk: 1, Storm: 3 * time.Second, InFlight: 300 * time.Millisecond}
	b := &submit.SharedBudget{Store: st, Name: "api:acct", PerSecond: rate, Burst: 2, Chunk: 1, Storm: 3 * time.Second, InFlight: 300 * time.Millisecond}
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Throttled(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	// Requests in flight during the pause do not cut again.
	if err := b.Throttled(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("the other worker called %v after the 429 with Retry-After 1 s", d)
	}
	if f, _ := b.Factor(ctx); f != 0.99 {
		t.Errorf("after an isolated 429 (and one in flight) the account runs at %v of its rate, want 0.99", f)
	}
	// A slow request sent before the pause, answered just after it: no cut.
	if err := b.Throttled(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if f, _ := a.Factor(ctx); f != 0.99 {
		t.Errorf("a 429 just after the pause (a request in flight): factor %v, want still 0.99", f)
	}
	time.Sleep(1500 * time.Millisecond) // past that pause and InFlight
	if err := b.Throttled(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if f, _ := a.Factor(ctx); f < 0.890 || f > 0.892 {
		t.Errorf("a 429 soon after the pause: factor %v, want 0.891 (10 %% more)", f)
	}
	// A Retry-After of a day pauses the account for 2 minutes at most.
	d := &submit.SharedBudget{Store: st, Name: "api:proxy", PerSecond: rate, Burst: 2}
	if err := d.Throttled(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, wait, err := pipeline.TakeBudget(ctx, st, "api:proxy", 1, rate, 2, time.Now()); err != nil || wait > 2*time.Minute+time.Second || wait < time.Minute {
		t.Errorf("after Retry-After 24h the account waits %v (%v), want at most about 2 min", wait, err)
	}
	// Hold elapsed: the configured rate again.
	c := &submit.SharedBudget{Store: st, Name: "api:other", PerSecond: rate, Burst: 2, Hold: time.Millisecond}
	if err := c.Throttled(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if f, _ := c.Factor(ctx); f != 1 {
		t.Errorf("after Hold: factor %v, want 1", f)
	}
}

// Factor only reads the account's bucket: asked before any worker drew
// from it, it says 1 and creates nothing.
func TestSharedBudgetFactorOnlyReads(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	b := &submit.SharedBudget{Store: st, Name: "api:acct", PerSecond: 10, Burst: 2}
	if f, err := b.Factor(ctx); err != nil || f != 1 {
		t.Errorf("factor of a missing bucket: %v (%v), want 1", f, err)
	}
	if _, _, found, err := st.Budget(ctx, "api:acct", time.Now()); err != nil || found {
		t.Errorf("Factor created the bucket (found %v, %v)", found, err)
	}
}

// A 429 met by one worker of the account does not cap that worker at the
// share it had: when the other worker stops, it takes the whole account's
// rate at once (a limiter that measures its own share would keep it there
// for ten minutes).
func TestAccountLimiterTakesOverAfterA429(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const perHour = 40 * 3600.0
	newLimiter := func() *submit.AccountLimiter {
		return &submit.AccountLimiter{Limiter: submit.NewLimiter(perHour, 3),
			Budget: &submit.SharedBudget{Store: st, Name: "api:acct", PerSecond: perHour / 3600, Burst: 2}}
	}
	la, lb := newLimiter(), newLimiter()
	var na, nb atomic.Int64
	ctxA, stopA := context.WithCancel(context.Background())
	defer stopA()
	ctxB, stopB := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for la.Wait(ctxA) == nil {
			la.Succeeded()
			na.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for lb.Wait(ctxB) == nil {
			nb.Add(1)
		}
	}()
	time.Sleep(2 * time.Second)
	la.Throttled(time.Second) // a's call met the window's edge
	time.Sleep(1500 * time.Millisecond)
	stopB()
	time.Sleep(200 * time.Millisecond)
	before := na.Load()
	time.Sleep(2 * time.Second)
	got := float64(na.Load()-before) / 2
	stopA()
	wg.Wait()
	if got < 40*0.99*0.85 {
		t.Errorf("alone after its 429, worker a took %.1f calls/s; the account allows %.1f", got, 40*0.99)
	}
	if r := la.Rate(); r != perHour {
		t.Errorf("worker a's own rate %v/h after the 429, want the configured %v/h (the account adapts, not the worker)", r, perHour)
	}
}
