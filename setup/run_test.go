package setup

import (
	"context"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// limits.max_failure_ratio counts only what the run ended (issue 15.2).
func TestExitCodeCountsOnlyWhatTheRunEnded(t *testing.T) {
	states := func(rej, fin int) map[pipeline.State]int {
		return map[pipeline.State]int{pipeline.StateRejected: rej, pipeline.StateFinal: fin}
	}
	// A run beside another one exported 3 REJECTED rows it did not end.
	sum := pipeline.Summary{States: states(3, 0), Export: pipeline.ExportReport{Rows: 3, ByOutcome: map[string]int{"REJECTED": 3}}}
	if e := countEnded(sum, states(3, 0), states(3, 0)); exitCode(sum, nil, 0.2, e) != pipeline.ExitOK {
		t.Errorf("a run that ended nothing: exit %d (%+v)", exitCode(sum, nil, 0.2, e), e)
	}
	// It rejected 1 image and got 1 final result: 50 % > 20 %.
	sum = pipeline.Summary{Rejected: 1, States: states(4, 1)}
	if e := countEnded(sum, states(3, 0), states(3, 0)); e != (endedInRun{Bad: 1, Final: 1}) || exitCode(sum, nil, 0.2, e) != pipeline.ExitTooManyFailures {
		t.Errorf("1 bad of 2: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	// Bad manifest rows it loaded count; results it did not wait for do not.
	sum = pipeline.Summary{States: states(2, 10)}
	if e := countEnded(sum, states(0, 10), states(2, 10)); e != (endedInRun{Bad: 2}) || exitCode(sum, nil, 0.5, e) != pipeline.ExitTooManyFailures {
		t.Errorf("bad rows: %+v", e)
	}
	if exitCode(pipeline.Summary{Interrupted: true}, context.Canceled, 0.2, endedInRun{Bad: 9}) != pipeline.ExitInterrupted {
		t.Error("interrupted")
	}
}
