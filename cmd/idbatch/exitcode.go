package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
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

// errUnknownJob refuses a run on a Store that has never seen a job whose
// runs the export destination already holds: most often a relative Store
// path that moved with the working directory, or a new Store by mistake.
// A new Store would submit (and bill) every record again.
func checkKnownJob(ctx context.Context, st pipeline.Store, dest export.Destination, cfg config.Config) error {
	counts, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, n := range counts {
		if n > 0 {
			return nil
		}
	}
	runs, err := st.Runs(ctx, cfg.Job, 1)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if len(runs) > 0 {
		return nil
	}
	prefix := "_runs/job=" + cfg.Job
	files, err := dest.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("export.destination: %w", err)
	}
	n := 0 // runs: their JSON summaries (the HTML reports beside them are not counted)
	for _, f := range files {
		if strings.HasSuffix(f.Rel, ".json") {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("the Store %s has never seen job %s, but the export destination holds %d of its runs (%s): "+
		"this Store is not the one those runs used, and every record would be submitted (and billed) again. "+
		"Point store at that Store (a relative sqlite:// path is relative to the config file), or pass -new-store if a new Store is meant",
		config.RedactDSN(cfg.Store), cfg.Job, n, dest.Location(prefix)+"/")
}
