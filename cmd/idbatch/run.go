package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/metrics"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/setup"
	"github.com/idbatch/idbatch/submit"
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

// execute is the scheduled job: load, submit, wait for results, export,
// summary. It returns the summary (with its exit code) and a fatal error.
func execute(parent context.Context, cfg config.Config, o execOptions) (pipeline.Summary, error) {
	progressLine := isTerminal(o.stderr)
	log := o.log
	if log == nil {
		log = setup.Logger(cfg.Log, o.stderr, progressLine)
	}
	ctx, soft, release := softStop(parent, o.stderr)
	defer release()

	fail := func(err error) (pipeline.Summary, error) {
		return pipeline.Summary{Job: cfg.Job, ExitCode: exitFatal, Error: err.Error()}, err
	}
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.CreateStore, Destination: true})
	if err != nil {
		return fail(err)
	}
	defer deps.Close()
	st, dest := deps.Store, deps.Dest

	if !o.newStore {
		if err := deps.CheckKnownJob(ctx); err != nil {
			return fail(err)
		}
	}

	start := time.Now()
	runID := newRunID(start)
	log = log.With("job", cfg.Job, "run_id", runID, "worker", o.worker.label())
	host, _ := os.Hostname()
	if rl, ok := st.(pipeline.RunLocker); ok {
		// One run per SQLite store; holding the lock also proves that every
		// earlier run is dead, so their records resume at once.
		unlock, err := rl.LockRun(ctx, fmt.Sprintf("pid %d, host %s, since %s", os.Getpid(), host, start.UTC().Format(time.RFC3339)), start)
		if err != nil {
			return fail(err)
		}
		defer unlock()
	}
	if err := st.StartRun(ctx, pipeline.Run{ID: runID, Job: cfg.Job, Command: o.command, StartedAt: start}); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	beforeLoad, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	loadStats, objs, err := loadSource(ctx, cfg, st, deps.S3, log)
	if err != nil {
		return fail(err)
	}
	afterLoad, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}

	lims := deps.Limits(log)
	limiter := lims.Local
	m := metrics.New(st, cfg.Job, limiter, version)
	api := deps.API(setup.APIOptions{Logger: log, HTTPClient: m.HTTPClient()})
	stage := submit.NewStage(api, st, submit.Options{
		TokenType:      cfg.TokenString("tokenType", "IDENTIFICATION"),
		ExpiryTime:     cfg.TokenInt("expiryTime", 900),
		SendPersonal:   cfg.Idenfy.SendPersonalData == nil || *cfg.Idenfy.SendPersonalData,
		DummyStatus:    cfg.Idenfy.DummyStatus,
		CallbackURL:    cfg.TokenString("callbackUrl", ""),
		TokenExtra:     cfg.TokenExtra(),
		MaxAttempts:    cfg.Limits.MaxAttempts,
		MaxSubmissions: cfg.Limits.MaxSubmissions,
		RunID:          runID,
		Lease:          cfg.Limits.Lease,
		OrphanMargin:   cfg.Limits.OrphanMargin,

		ResendSkipAnalysis: cfg.Idenfy.ResendSkipAnalysis,
	}, log)

	var background []func(context.Context) error
	webhooks := &results.Handler{Store: st, SigningKey: []byte(cfg.Idenfy.WebhookSigningKey), RunID: runID, Job: cfg.Job,
		Log: log.With("stage", "webhook"), OnOutcome: m.WebhookOutcome}
	if cfg.Results.WebhookListen != "" {
		// Bound before anything is spent: a port in use fails the run now, not after submitting.
		ln, err := net.Listen("tcp", cfg.Results.WebhookListen)
		if err != nil {
			return fail(fmt.Errorf("results.webhook_listen: %w", err))
		}
		log.Info("webhook receiver listening", "addr", ln.Addr().String(), "path", cfg.Results.WebhookPath)
		background = append(background, func(ctx context.Context) error {
			if err := results.Serve(ctx, ln, cfg.Results.WebhookPath, webhooks, m.ReceiverRoutes(MetricsConfig(cfg.Results.MetricsConfig))); err != nil {
				return fmt.Errorf("webhook receiver: %w", err)
			}
			return nil
		})
	}
	if srv, err := m.Listen(MetricsConfig(cfg.Results.MetricsConfig), log); err != nil {
		return fail(err)
	} else if srv != nil {
		background = append(background, srv)
	}
	expectManual := cfg.Results.ExpectManualReview == nil || *cfg.Results.ExpectManualReview
	// The poller's client does not retry: every /status and /data request counts
	// against poll_max_per_hour, and a failed poll waits for the record's backoff.
	pollAPI := deps.API(setup.APIOptions{Logger: log, HTTPClient: m.HTTPClient(), MaxRetries: -1})
	poller := &results.Poller{Store: st, API: pollAPI, Job: cfg.Job, RunID: runID, PollAfter: cfg.Results.PollAfter,
		MaxPerHour: cfg.Results.PollMaxPerHour, ExpectManual: expectManual, Log: log.With("stage", "poller"), OnPoll: m.PollOutcome}
	if lims.Poll != nil {
		poller.Budget = lims.Poll
	}
	if cfg.Results.PollMaxPerHour > 0 {
		background = append(background, poller.Run)
	}

	exp := &export.Exporter{Dest: dest, Job: cfg.Job, RunID: runID, Worker: o.worker.label(), Compression: cfg.Export.Compression,
		Lock: st, LockTTL: setup.ExportLockTTL(cfg), Log: log.With("stage", "export")}
	var prog *report.ProgressLine
	if progressLine {
		prog = &report.ProgressLine{W: o.stderr}
	}
	runner := &pipeline.Runner{
		Store: st, Job: cfg.Job, RunID: runID, Owner: runID,
		Worker:      pipeline.Worker{Name: o.worker.label(), Host: host, PID: os.Getpid(), Command: o.command},
		TokenExpiry: time.Duration(cfg.TokenInt("expiryTime", 900)) * time.Second, OrphanMargin: cfg.Limits.OrphanMargin,
		Preparer:  preparer{p: &ingest.Preparer{Objects: objs, Options: cfg.NormalizeOptions(), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}},
		Submitter: stage, Exporter: exporter{e: exp, st: st}, Log: log,
		PrepareWorkers: cfg.Normalize.Workers, MaxDuration: cfg.Limits.MaxDuration, WaitForResults: cfg.Limits.WaitForResults, Lease: cfg.Limits.Lease,
		Background: background,
	}
	if prog != nil {
		runner.Progress = prog.Show
	} else {
		runner.Progress = report.ProgressLog(log)
	}
	sum, runErr := runner.Run(ctx, soft)
	if prog != nil {
		prog.Finish()
	}
	sum.Load = &loadStats
	ended := countEnded(sum, beforeLoad, afterLoad)
	sum.Extra = map[string]any{"api": limiter.Stats(), "webhooks_received": webhooks.Received(), "store": config.RedactDSN(cfg.Store), "ended_in_run": ended,
		report.ExtraAPIPerMinute: m.APIPerMinute()}
	sum.ExitCode = exitCode(sum, runErr, cfg.Limits.MaxFailureRatio, ended)
	if runErr != nil {
		var fatal *submit.FatalError
		if errors.As(runErr, &fatal) {
			runErr = fmt.Errorf("%w (nothing was lost: records not submitted stay pending; rerun when fixed)", runErr)
			sum.Error = runErr.Error()
		}
	}
	summaryPath, werr := report.SaveSummary(context.WithoutCancel(ctx), dest, sum)
	if werr != nil {
		log.Error("summary not written", "err", werr)
	}
	reportPath, rerr := report.SaveRunReport(context.WithoutCancel(ctx), dest, st, sum, report.Options{RequestsPerHour: cfg.Limits.RequestsPerHour})
	if rerr != nil {
		log.Error("run report not written", "err", rerr)
	}
	js, _ := json.Marshal(sum)
	if ferr := st.FinishRun(context.WithoutCancel(ctx), pipeline.Run{ID: runID, Job: cfg.Job, Command: o.command, StartedAt: start, FinishedAt: sum.FinishedAt, ExitCode: sum.ExitCode, Summary: js}); ferr != nil {
		log.Error("run not recorded", "err", ferr)
	}
	m.Publish(context.WithoutCancel(ctx), MetricsConfig(cfg.Results.MetricsConfig), log)
	finalSummary(o.stderr, log, cfg, sum, summaryPath, reportPath)
	return sum, runErr
}
