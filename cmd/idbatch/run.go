package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("run", stderr, &cf)
	maxSub := fs.Int("max-submissions", -1, "tokens this run may create (overrides limits.max_submissions; 0 = no cap)")
	wait := fs.Duration("wait-for-results", -1, "how long to wait for results (overrides limits.wait_for_results)")
	worker := addWorkerFlag(fs)
	newStore := fs.Bool("new-store", false, "start a job the Store has never seen even though the export destination holds runs of it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkRunFlags(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	if *maxSub >= 0 {
		cfg.Limits.MaxSubmissions = *maxSub
	}
	if *wait >= 0 {
		cfg.Limits.WaitForResults = *wait
	}
	if err := cfg.Validate(true); err != nil {
		return err
	}
	sum, err := execute(ctx, cfg, execOptions{stderr: stderr, command: "run", worker: worker, newStore: *newStore})
	return withExitCode(sum.ExitCode, err)
}

// execOptions are what differs between `run` and `demo`.
type execOptions struct {
	stderr  io.Writer
	command string
	log     *slog.Logger
	worker  *workerFlag // names the worker: registry, part files, log lines (worker.go); nil: w0
	// newStore: run even a job the Store has never seen whose runs the
	// export destination holds (-new-store; demo starts afresh).
	newStore bool
}

// execute runs the scheduled job (setup.Run) under the soft stop of the
// first SIGTERM, with the progress line on a terminal, and shows its
// summary. It returns the summary (with its exit code) and a fatal error.
func execute(parent context.Context, cfg config.Config, o execOptions) (pipeline.Summary, error) {
	tty := setup.IsTerminal(o.stderr)
	log := o.log
	if log == nil {
		log = setup.Logger(cfg.Log, o.stderr, tty)
	}
	ctx, soft, release := softStop(parent, o.stderr)
	defer release()
	ro := setup.RunOptions{Command: o.command, Worker: o.worker.label(), Log: log, Version: version, Soft: soft, NewStore: o.newStore}
	if tty {
		ro.Progress = o.stderr
	}
	res, err := setup.Run(ctx, cfg, ro)
	if res.Log == nil { // failed before the run: the error says it all
		return res.Summary, err
	}
	finalSummary(o.stderr, res.Log, cfg, res.Summary, res.SummaryPath, res.ReportPath)
	return res.Summary, err
}

// finalSummary shows the run's summary as cfg's logs want it: one JSON
// line for machines, printed for people (report.FinalSummary).
func finalSummary(stderr io.Writer, log *slog.Logger, cfg config.Config, sum pipeline.Summary, summaryPath, reportPath string) {
	report.FinalSummary(stderr, log, setup.JSONLogs(cfg.Log, stderr), sum, summaryPath, reportPath, cfg.Limits.MaxFailureRatio)
}
