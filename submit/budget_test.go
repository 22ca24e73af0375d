package submit_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
