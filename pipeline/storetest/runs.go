package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runRuns: runs are started, finished and listed latest first.
func runRuns(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "Runs", testRuns)
}

func testRuns(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "runs"
	r1 := pipeline.Run{ID: "run-1", Job: job, Command: "run", StartedAt: T0}
	r2 := pipeline.Run{ID: "run-2", Job: job, Command: "export", StartedAt: at(time.Hour)}
	r3 := pipeline.Run{ID: "run-3", Job: "runs-other", Command: "run", StartedAt: at(2 * time.Hour)}
	for _, r := range []pipeline.Run{r1, r2, r3} {
		mustNoErr(t, s.StartRun(ctx, r))
	}
	if err := s.StartRun(ctx, r1); err == nil {
		t.Errorf("StartRun of a run already started: no error")
	}
	r1.FinishedAt, r1.ExitCode, r1.Summary = at(30*time.Minute), 3, []byte(`{"submitted":10,"failed":4}`)
	mustNoErr(t, s.FinishRun(ctx, r1))
	if err := s.FinishRun(ctx, pipeline.Run{ID: "run-none", Job: job, FinishedAt: T0}); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("FinishRun of an unknown run: %v, want ErrNotFound", err)
	}

	runs, err := s.Runs(ctx, job, 10)
	mustNoErr(t, err)
	if len(runs) != 2 {
		t.Fatalf("Runs: %d runs, want 2", len(runs))
	}
	checkRun(t, runs[0], r2)
	checkRun(t, runs[1], r1)
	if runs, err := s.Runs(ctx, job, 1); err != nil || len(runs) != 1 || runs[0].ID != "run-2" {
		t.Errorf("Runs(1): %+v, %v, want run-2", runs, err)
	}
	if runs, err := s.Runs(ctx, "no-such-job", 10); err != nil || len(runs) != 0 {
		t.Errorf("Runs of an unknown job: %+v, %v", runs, err)
	}
}

func checkRun(t *testing.T, got, want pipeline.Run) {
	t.Helper()
	if got.ID != want.ID || got.Job != want.Job || got.Command != want.Command || !got.StartedAt.Equal(want.StartedAt) ||
		!got.FinishedAt.Equal(want.FinishedAt) || got.ExitCode != want.ExitCode || !bytes.Equal(got.Summary, want.Summary) {
		t.Errorf("run %+v, want %+v", got, want)
	}
}

// --- helpers ---
