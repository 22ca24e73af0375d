package setup

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// limits.max_failure_ratio counts only what the run ended (issue 15.2).
func TestExitCodeCountsOnlyWhatTheRunEnded(t *testing.T) {
	states := func(rej, fin int) map[pipeline.State]int {
		return map[pipeline.State]int{pipeline.StateRejected: rej, pipeline.StateFinal: fin}
	}
	var loaded pipeline.LoadStats
	// A run beside another one exported 3 REJECTED rows it did not end.
	sum := pipeline.Summary{States: states(3, 0), Export: pipeline.ExportReport{Rows: 3, ByOutcome: map[string]int{"REJECTED": 3}}}
	if e := countEnded(sum, loaded, states(3, 0), false); exitCode(sum, nil, 0.2, e) != pipeline.ExitOK {
		t.Errorf("a run that ended nothing: exit %d (%+v)", exitCode(sum, nil, 0.2, e), e)
	}
	// It rejected 1 image and got 1 final result: 50 % > 20 %.
	sum = pipeline.Summary{Rejected: 1, Submitted: 1, States: states(4, 1)}
	if e := countEnded(sum, loaded, states(3, 0), false); e != (endedInRun{Bad: 1, Final: 1}) || exitCode(sum, nil, 0.2, e) != pipeline.ExitTooManyFailures {
		t.Errorf("1 bad of 2: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	// Bad manifest rows its load stored count; results it did not wait for do not.
	sum = pipeline.Summary{States: states(2, 10)}
	if e := countEnded(sum, pipeline.LoadStats{NewRejects: 2}, states(2, 10), false); e != (endedInRun{Bad: 2}) || exitCode(sum, nil, 0.5, e) != pipeline.ExitTooManyFailures {
		t.Errorf("bad rows: %+v", e)
	}
	// A run resumed after a kill collects the results of the 8 records the
	// killed run left awaiting them, and submits 2.
	after := states(0, 0)
	after[pipeline.StateSubmitted], after[pipeline.StateOrphan] = 7, 1
	sum = pipeline.Summary{Submitted: 2, Rejected: 1, States: states(1, 10)}
	if e := countEnded(sum, loaded, after, false); e != (endedInRun{Bad: 1, Final: 10}) || exitCode(sum, nil, 0.2, e) != pipeline.ExitOK {
		t.Errorf("resumed run: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	// One of 4 workers: it submitted 25 records and rejected 5 images of
	// 100; the job's 75 other finals are the other workers'. 5 of 30 > 10 %.
	sum = pipeline.Summary{Submitted: 25, Rejected: 5, States: states(20, 95)}
	if e := countEnded(sum, loaded, states(0, 0), true); e != (endedInRun{Bad: 5, Final: 25}) || exitCode(sum, nil, 0.1, e) != pipeline.ExitTooManyFailures {
		t.Errorf("one of 4 workers: %+v exit %d", e, exitCode(sum, nil, 0.1, e))
	}
	// A worker that starts late: 200 of the others' records await results;
	// they are not its own.
	after = states(0, 0)
	after[pipeline.StateSubmitted] = 200
	sum = pipeline.Summary{Submitted: 25, Rejected: 10, States: states(10, 235)}
	if e := countEnded(sum, loaded, after, true); e != (endedInRun{Bad: 10, Final: 25}) || exitCode(sum, nil, 0.2, e) != pipeline.ExitTooManyFailures {
		t.Errorf("a worker that started late: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	// The manifest's bad rows that another worker's load stored are not this one's.
	sum = pipeline.Summary{Submitted: 25, States: states(40, 100)}
	if e := countEnded(sum, pipeline.LoadStats{RejectedBy: map[string]int{"bad_country": 40}}, states(40, 0), true); e != (endedInRun{Final: 25}) || exitCode(sum, nil, 0.2, e) != pipeline.ExitOK {
		t.Errorf("bad rows another worker stored: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	if exitCode(pipeline.Summary{Interrupted: true}, context.Canceled, 0.2, endedInRun{Bad: 9}) != pipeline.ExitInterrupted {
		t.Error("interrupted")
	}
}

// A run that fails before the Runner (here: its manifest is missing) is
// recorded as ended with exit 1, so that status does not call it running
// or killed.
func TestRunFailingAtLoadIsRecordedAsEnded(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Job = "j"
	cfg.Store = "sqlite://" + filepath.Join(dir, "state.db")
	cfg.Source.Manifest = filepath.Join(dir, "missing.csv")
	cfg.Export.Destination = filepath.Join(dir, "exports") + "/"
	res, err := Run(context.Background(), cfg, RunOptions{Command: "run", Worker: "w0", Log: slog.New(slog.DiscardHandler)})
	if err == nil || res.Summary.ExitCode != pipeline.ExitFatal {
		t.Fatalf("run with a missing manifest: exit %d, err %v", res.Summary.ExitCode, err)
	}
	st, err := OpenStore(context.Background(), cfg.Store, ExistingStore)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(context.Background(), "j", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].FinishedAt.IsZero() || runs[0].ExitCode != pipeline.ExitFatal {
		t.Errorf("runs = %+v, want one finished with exit 1", runs)
	}
}

// Another worker is one of another name, alive: a restarted pod keeps its
// name, and the heartbeat of the run it replaces is still fresh.
func TestOthersAlive(t *testing.T) {
	ctx := t.Context()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	reg := func(id, name string, beat time.Time) {
		t.Helper()
		if err := st.RegisterWorker(ctx, pipeline.Worker{ID: id, Job: "j", Name: name, Host: "h", PID: 1, Command: "run", RunID: id, StartedAt: beat, HeartbeatAt: beat}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want bool) {
		t.Helper()
		if got, err := othersAlive(ctx, st, "j", "w0"); err != nil || got != want {
			t.Errorf("othersAlive = %v, %v; want %v", got, err, want)
		}
	}
	check(false)
	reg("r1", "w0", now.Add(-2*time.Second)) // this worker's killed run
	check(false)
	reg("r2", "w1", now.Add(-time.Hour)) // another worker, dead
	check(false)
	reg("r3", "w2", now.Add(-time.Second)) // another worker, alive
	check(true)
}
