package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// failingWrite is a BudgetStore whose update reads the bucket, runs the
// change, then fails to write it (a connection lost before the commit).
type failingWrite struct{ level float64 }

func (f *failingWrite) UpdateBudget(_ context.Context, _ string, now time.Time, fn func(*pipeline.Budget, time.Time)) error {
	b := pipeline.Budget{Level: f.level, At: now, Factor: 1}
	fn(&b, now)
	return errors.New("connection lost before commit")
}

func (f *failingWrite) Budget(context.Context, string, time.Time) (pipeline.Budget, time.Time, bool, error) {
	return pipeline.Budget{}, time.Time{}, false, errors.New("not read")
}

// A take that was not written grants nothing: the tokens it computed were
// never taken from the account's bucket, and handing them out anyway would
// let every worker call without limit while the Store is failing.
func TestTakeBudgetNotWrittenGrantsNothing(t *testing.T) {
	got, _, err := pipeline.TakeBudget(context.Background(), &failingWrite{level: 5}, "api:x", 3, 10, 5, time.Now())
	if err == nil || got != 0 {
		t.Errorf("took %d with error %v; want 0 and the error", got, err)
	}
}

// State reads what a bucket means at an instant: the factor in force until
// Until, then 1; a pause while the refill has not paid the debt, at the
// rate in force.
func TestBudgetState(t *testing.T) {
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	b := pipeline.Budget{Level: -30, At: at, Factor: 0.5, Until: at.Add(10 * time.Minute), LastCut: at}
	for _, c := range []struct {
		now    time.Time
		factor float64
		until  time.Time
		paused time.Time
	}{
		{at, 0.5, b.Until, at.Add(time.Minute)},                       // 30 calls of debt at 0.5/s
		{at.Add(20 * time.Second), 0.5, b.Until, at.Add(time.Minute)}, // 10 of them paid
		{at.Add(time.Minute), 0.5, b.Until, time.Time{}},              // paid
		{at.Add(11 * time.Minute), 1, time.Time{}, time.Time{}},       // the hold is over
	} {
		s := b.State(1, c.now)
		if s.Factor != c.factor || !s.Until.Equal(c.until) || !s.PausedUntil.Equal(c.paused) || !s.LastCut.Equal(at) {
			t.Errorf("at %v: %+v, want factor %v until %v, paused until %v", c.now.Sub(at), s, c.factor, c.until, c.paused)
		}
	}
	if s := (&pipeline.Budget{Level: -1, At: at}).State(1, at); s.Factor != 1 || !s.PausedUntil.Equal(at.Add(time.Second)) {
		t.Errorf("a bucket never lowered (factor 0), 1 call of debt: %+v", s)
	}
}
