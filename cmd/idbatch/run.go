package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
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
	m := newMetrics(st, cfg.Job, limiter)
	stage := submit.NewStage(deps.API(setup.APIOptions{Logger: log, HTTPClient: m.httpClient()}), st, submit.Options{
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
		Log: log.With("stage", "webhook"), OnOutcome: m.webhookOutcome}
	if cfg.Results.WebhookListen != "" {
		// Bound before anything is spent: a port in use fails the run now, not after submitting.
		ln, err := net.Listen("tcp", cfg.Results.WebhookListen)
		if err != nil {
			return fail(fmt.Errorf("results.webhook_listen: %w", err))
		}
		log.Info("webhook receiver listening", "addr", ln.Addr().String(), "path", cfg.Results.WebhookPath)
		background = append(background, func(ctx context.Context) error {
			if err := results.Serve(ctx, ln, cfg.Results.WebhookPath, webhooks, m.receiverRoutes(MetricsConfig(cfg.Results.MetricsConfig))); err != nil {
				return fmt.Errorf("webhook receiver: %w", err)
			}
			return nil
		})
	}
	if srv, err := m.listen(MetricsConfig(cfg.Results.MetricsConfig), log); err != nil {
		return fail(err)
	} else if srv != nil {
		background = append(background, srv)
	}
	expectManual := cfg.Results.ExpectManualReview == nil || *cfg.Results.ExpectManualReview
	// The poller's client does not retry: every /status and /data request counts
	// against poll_max_per_hour, and a failed poll waits for the record's backoff.
	pollAPI := deps.API(setup.APIOptions{Logger: log, HTTPClient: m.httpClient(), MaxRetries: -1})
	poller := &results.Poller{Store: st, API: pollAPI, Job: cfg.Job, RunID: runID, PollAfter: cfg.Results.PollAfter,
		MaxPerHour: cfg.Results.PollMaxPerHour, ExpectManual: expectManual, Log: log.With("stage", "poller"), OnPoll: m.pollOutcome}
	if lims.Poll != nil {
		poller.Budget = lims.Poll
	}
	if cfg.Results.PollMaxPerHour > 0 {
		background = append(background, poller.Run)
	}

	exp := &export.Exporter{Dest: dest, Job: cfg.Job, RunID: runID, Worker: o.worker.label(), Compression: cfg.Export.Compression,
		Lock: st, LockTTL: setup.ExportLockTTL(cfg), Log: log.With("stage", "export")}
	var prog *progressPrinter
	if progressLine {
		prog = &progressPrinter{w: o.stderr}
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
		runner.Progress = prog.show
	} else {
		runner.Progress = progressLog(log)
	}
	sum, runErr := runner.Run(ctx, soft)
	if prog != nil {
		prog.finish()
	}
	sum.Load = &loadStats
	ended := countEnded(sum, beforeLoad, afterLoad)
	sum.Extra = map[string]any{"api": limiter.Stats(), "webhooks_received": webhooks.Received(), "store": config.RedactDSN(cfg.Store), "ended_in_run": ended,
		report.ExtraAPIPerMinute: m.apiPerMinute()}
	sum.ExitCode = exitCode(sum, runErr, cfg.Limits.MaxFailureRatio, ended)
	if runErr != nil {
		var fatal *submit.FatalError
		if errors.As(runErr, &fatal) {
			runErr = fmt.Errorf("%w (nothing was lost: records not submitted stay pending; rerun when fixed)", runErr)
			sum.Error = runErr.Error()
		}
	}
	summaryPath, werr := writeSummary(context.WithoutCancel(ctx), dest, sum)
	if werr != nil {
		log.Error("summary not written", "err", werr)
	}
	reportPath, rerr := writeRunReport(context.WithoutCancel(ctx), dest, st, cfg, sum)
	if rerr != nil {
		log.Error("run report not written", "err", rerr)
	}
	js, _ := json.Marshal(sum)
	if ferr := st.FinishRun(context.WithoutCancel(ctx), pipeline.Run{ID: runID, Job: cfg.Job, Command: o.command, StartedAt: start, FinishedAt: sum.FinishedAt, ExitCode: sum.ExitCode, Summary: js}); ferr != nil {
		log.Error("run not recorded", "err", ferr)
	}
	m.publish(context.WithoutCancel(ctx), MetricsConfig(cfg.Results.MetricsConfig), log)
	finalSummary(o.stderr, log, cfg, sum, summaryPath, reportPath)
	return sum, runErr
}

// writeSummary writes the JSON summary beside the export, under
// _runs/job=<job>/ (directories starting with _ are ignored by Hive readers).
func writeSummary(ctx context.Context, dest export.Destination, sum pipeline.Summary) (string, error) {
	rel := fmt.Sprintf("_runs/job=%s/run-%s.json", sum.Job, sum.RunID)
	f, err := dest.Create(ctx, rel)
	if err != nil {
		return "", err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		_ = f.Abort()
		return "", err
	}
	if err := f.Commit(); err != nil {
		return "", err
	}
	return strings.TrimSuffix(dest.Root(), "/") + "/" + rel, nil
}

// printSummary prints the human summary on stderr.
func printSummary(w io.Writer, s pipeline.Summary, summaryPath string, maxRatio float64) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nidbatch: job %s, run %s — %s in %s\n", s.Job, s.RunID, verdict(s), (time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond))
	if s.Load != nil {
		fmt.Fprintf(&b, "  manifest      %d rows: %d new, %d updated, %d unchanged", s.Load.Rows, s.Load.Inserted, s.Load.Updated, s.Load.Unchanged)
		if s.Load.Kept > 0 {
			fmt.Fprintf(&b, ", %d changed rows of submitted records kept as they were", s.Load.Kept)
		}
		b.WriteString("\n")
		if len(s.Load.RejectedBy) > 0 {
			fmt.Fprintf(&b, "  bad rows      %s (rejected without fetching anything)\n", countsLine(s.Load.RejectedBy))
		}
	}
	fmt.Fprintf(&b, "  this run      %d tokens created, %d submitted, %d rejected, %d failed, %d retried later\n", s.TokensCreated, s.Submitted, s.Rejected, s.Failed, s.Retried)
	if len(s.RejectedBy) > 0 {
		fmt.Fprintf(&b, "  rejected by   %s (images; no API call made)\n", countsLine(s.RejectedBy))
	}
	if len(s.FailedBy) > 0 {
		fmt.Fprintf(&b, "  failed by     %s\n", countsLine(s.FailedBy))
	}
	if s.Orphans > 0 {
		fmt.Fprintf(&b, "  orphans       %d possible orphan tokens from an earlier crash (see 'idbatch status')\n", s.Orphans)
	}
	if len(s.States) > 0 {
		m := map[string]int{}
		for k, v := range s.States {
			m[string(k)] = v
		}
		fmt.Fprintf(&b, "  job states    %s\n", countsLine(m))
	}
	if s.HeldByOthers > 0 {
		fmt.Fprintf(&b, "  untouched     %d records held by another live worker (its leases run until %s at the latest); it finishes them\n", s.HeldByOthers, s.HeldUntil.UTC().Format(time.RFC3339))
	}
	if s.OrphansWaiting > 0 {
		fmt.Fprintf(&b, "  orphans       %d records wait until %s for a token they may have to expire; a run then verifies them with a new token\n", s.OrphansWaiting, s.OrphansRetryAt.UTC().Format(time.RFC3339))
	}
	if s.Parked > 0 {
		fmt.Fprintf(&b, "  parked        %d records wait for a retry until %s at the latest\n", s.Parked, s.ParkedUntil.UTC().Format(time.RFC3339))
	}
	if s.Waiting > 0 {
		fmt.Fprintf(&b, "  waiting       %d records await their result; the next run (or 'idbatch serve') collects them\n", s.Waiting)
	}
	fmt.Fprintf(&b, "  exported      %d rows", s.Export.Rows)
	if len(s.Export.ByOutcome) > 0 {
		fmt.Fprintf(&b, " (%s)", countsLine(s.Export.ByOutcome))
	}
	b.WriteString("\n")
	for _, f := range s.Export.Files {
		fmt.Fprintf(&b, "                %s\n", f)
	}
	if summaryPath != "" {
		fmt.Fprintf(&b, "  summary       %s\n", summaryPath)
	}
	if s.CapReached {
		b.WriteString("  note          limits.max_submissions reached; the next run continues\n")
	}
	if s.TimeUp {
		b.WriteString("  note          limits.max_duration reached; the next run continues\n")
	}
	if s.ExitCode == exitTooManyFail {
		fmt.Fprintf(&b, "  note          more than %.0f%% of the records that ended were rejected or failed (exit 3)\n", maxRatio*100)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "  error         %s\n", s.Error)
	}
	fmt.Fprintf(&b, "  exit code     %d\n", s.ExitCode)
	_, _ = w.Write(b.Bytes())
}

func verdict(s pipeline.Summary) string {
	switch s.ExitCode {
	case exitOK:
		return "done"
	case exitInterrupted:
		return "interrupted"
	case exitTooManyFail:
		return "done, too many failures"
	}
	return "failed"
}

func countsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// progressPrinter draws one updating line on a terminal.
type progressPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

func (p *progressPrinter) show(pr pipeline.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := 0.0
	if pr.Elapsed > 0 {
		rate = float64(pr.Done) / pr.Elapsed.Hours()
	}
	eta := "—"
	if rate > 0 && pr.Total > pr.Done {
		eta = (time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Hour))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K%s: %d/%d done (%d submitted, %d rejected, %d failed) · %d final · %d waiting · %.0f rec/h · ETA %s",
		pr.Phase, pr.Done, pr.Total, pr.Submitted, pr.Rejected, pr.Failed, pr.Final, pr.Waiting, rate, eta)
	p.shown = true
}

func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
