package main

import (
	"context"
	"errors"

	"github.com/idbatch/idbatch/pipeline"
)

// endedInRun is what a run ended, for limits.max_failure_ratio: records
// this run rejected or failed, bad manifest rows it loaded, and results
// that became final while it ran. Records that earlier runs (or a run
// beside this one) ended and this run merely exported are not counted.
type endedInRun struct {
	Bad   int `json:"rejected_or_failed"`
	Final int `json:"final_results"`
}

// countEnded computes endedInRun from the run's counters and the Store's
// counts before the manifest was loaded, after it was loaded, and at the end.
func countEnded(sum pipeline.Summary, beforeLoad, afterLoad map[pipeline.State]int) endedInRun {
	badRows := max(0, afterLoad[pipeline.StateRejected]-beforeLoad[pipeline.StateRejected])
	final := 0
	if sum.States != nil {
		final = max(0, sum.States[pipeline.StateFinal]-afterLoad[pipeline.StateFinal])
	}
	return endedInRun{Bad: sum.Rejected + sum.Failed + badRows, Final: final}
}

// exitCode maps a run's outcome to the exit codes of DESIGN.md. The failure
// ratio is over the records this run ended; a run that ended none exits 0.
func exitCode(sum pipeline.Summary, err error, maxRatio float64, ended endedInRun) int {
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		return exitFatal // a fatal error (out of credits…) wins over an interruption
	case sum.Interrupted:
		return exitInterrupted
	}
	if n := ended.Bad + ended.Final; n > 0 && float64(ended.Bad)/float64(n) > maxRatio {
		return exitTooManyFail
	}
	return exitOK
}
