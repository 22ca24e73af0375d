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

// A take that was not written grants nothing: the tokens it computed were
// never taken from the account's bucket, and handing them out anyway would
// let every worker call without limit while the Store is failing.
func TestTakeBudgetNotWrittenGrantsNothing(t *testing.T) {
	got, _, err := pipeline.TakeBudget(context.Background(), &failingWrite{level: 5}, "api:x", 3, 10, 5, time.Now())
	if err == nil || got != 0 {
		t.Errorf("took %d with error %v; want 0 and the error", got, err)
	}
}
