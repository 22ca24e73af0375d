package setup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/metrics"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit"
)

// RunOptions are what differs between `run` and `demo`, and what the
// command line decides.
type RunOptions struct {
	Command string       // "run" or "demo": the Store's run and worker records
	Worker  string       // the worker's label (w0, w1, …): registry, part files, log lines
	Log     *slog.Logger // the command's logger
	Version string       // labels idbatch_build_info
	// Soft is closed by the soft stop (the first SIGTERM): finish what is
	// in flight, export, exit 130.
	Soft <-chan struct{}
	// Progress, when not nil, is the terminal's progress line; otherwise
	// progress goes to the log.
	Progress io.Writer
	// NewStore: run even a job the Store has never seen whose runs the
	// export destination holds (-new-store; demo starts afresh).
	NewStore bool
}

// RunResult is what a run leaves: its summary (with its exit code) and
// where the summary and the run report were written ("" if not).
type RunResult struct {
	Summary     pipeline.Summary
	SummaryPath string
	ReportPath  string
	// Log is the run's logger: the command's, with the job, the run id and
	// the worker (for the final summary line).
	Log *slog.Logger
}

// Run is the scheduled job: load the source, submit, wait for results,
// export, summary. It builds every part from cfg (the Store, S3, the
// destination, the account's limiter, the API clients, the webhook
// receiver, the poller, the exporter), runs the pipeline.Runner, and
// records the run in the Store and the destination. The error is a fatal
// one; the summary says the rest.
func Run(ctx context.Context, cfg config.Config, o RunOptions) (RunResult, error) {
	log := o.Log
	fail := func(err error) (RunResult, error) {
		return RunResult{Summary: pipeline.Summary{Job: cfg.Job, ExitCode: pipeline.ExitFatal, Error: err.Error()}}, err
	}
	deps, err := Open(ctx, cfg, Options{Store: CreateStore, Destination: true})
	if err != nil {
		return fail(err)
	}
	defer deps.Close()
	st, dest := deps.Store, deps.Dest
	if !o.NewStore {
		if err := deps.CheckKnownJob(ctx); err != nil {
			return fail(err)
		}
	}

	start := time.Now()
	runID := NewRunID(start)
	log = log.With(pipeline.LogKeyJob, cfg.Job, "run_id", runID, "worker", o.Worker)
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
	if err := st.StartRun(ctx, pipeline.Run{ID: runID, Job: cfg.Job, Command: o.Command, StartedAt: start}); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	// finishRun records the run's end in the Store, even when ctx was
	// cancelled.
	finishRun := func(sum pipeline.Summary) {
		js, _ := json.Marshal(sum)
		if err := st.FinishRun(context.WithoutCancel(ctx), pipeline.Run{ID: runID, Job: cfg.Job, Command: o.Command, StartedAt: start,
			FinishedAt: sum.FinishedAt, ExitCode: sum.ExitCode, Summary: js}); err != nil {
			log.Error("run not recorded", pipeline.LogKeyErr, err)
		}
	}
	// From here a run that fails before the Runner is recorded as ended
	// (exit 1), not left "running" for status to call killed.
	fail = func(err error) (RunResult, error) {
		sum := pipeline.Summary{Job: cfg.Job, RunID: runID, StartedAt: start, FinishedAt: time.Now(), ExitCode: pipeline.ExitFatal, Error: err.Error()}
		finishRun(sum)
		return RunResult{Summary: sum}, err // no Log: the error says it all
	}
	loadStats, objs, err := loadSource(ctx, cfg, st, deps.S3, log)
	if err != nil {
		return fail(err)
	}
	afterLoad, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	others, err := othersAlive(ctx, st, cfg.Job, o.Worker)
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}

	lims := deps.Limits(log)
	m := metrics.New(st, cfg.Job, lims.Local, o.Version)
	m.AccountBudget(st, lims.Budget)
	m.Worker = o.Worker
	mc := metrics.Config(cfg.Results.MetricsConfig)
	api := deps.API(APIOptions{Logger: log, HTTPClient: m.HTTPClient()})
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
		Log: log.With(pipeline.LogKeyStage, "webhook"), OnOutcome: m.WebhookOutcome}
	if cfg.Results.WebhookListen != "" {
		// Bound before anything is spent: a port in use fails the run now, not after submitting.
		ln, err := net.Listen("tcp", cfg.Results.WebhookListen)
		if err != nil {
			return fail(fmt.Errorf("results.webhook_listen: %w", err))
		}
		log.Info("webhook receiver listening", "addr", ln.Addr().String(), "path", cfg.Results.WebhookPath)
		background = append(background, func(ctx context.Context) error {
			if err := results.Serve(ctx, ln, cfg.Results.WebhookPath, webhooks, m.ReceiverRoutes(mc)); err != nil {
				return fmt.Errorf("webhook receiver: %w", err)
			}
			return nil
		})
	}
	if srv, err := m.Listen(mc, log); err != nil {
		return fail(err)
	} else if srv != nil {
		background = append(background, srv)
	}
	// The poller's client does not retry: every /status and /data request counts
	// against poll_max_per_hour, and a failed poll waits for the record's backoff.
	poller := &results.Poller{Store: st, API: deps.API(APIOptions{Logger: log, HTTPClient: m.HTTPClient(), MaxRetries: -1}),
		Job: cfg.Job, RunID: runID, PollAfter: cfg.Results.PollAfter, MaxPerHour: cfg.Results.PollMaxPerHour,
		ExpectManual: cfg.Results.ExpectManualReview == nil || *cfg.Results.ExpectManualReview,
		Log:          log.With(pipeline.LogKeyStage, "poller"), OnPoll: m.PollOutcome}
	if lims.Poll != nil {
		poller.Budget = lims.Poll
	}
	if cfg.Results.PollMaxPerHour > 0 {
		background = append(background, poller.Run)
	}

	exp := &export.Exporter{Dest: dest, Job: cfg.Job, RunID: runID, Worker: o.Worker, Compression: cfg.Export.Compression,
		Lock: st, LockTTL: ExportLockTTL(cfg), Log: log.With(pipeline.LogKeyStage, "export")}
	runner := &pipeline.Runner{
		Store: st, Job: cfg.Job, RunID: runID, Owner: runID,
		Worker:      pipeline.Worker{Name: o.Worker, Host: host, PID: os.Getpid(), Command: o.Command},
		TokenExpiry: time.Duration(cfg.TokenInt("expiryTime", 900)) * time.Second, OrphanMargin: cfg.Limits.OrphanMargin,
		Preparer:  preparer{p: &ingest.Preparer{Objects: objs, Options: cfg.NormalizeOptions(), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}},
		Submitter: stage, Exporter: exporter{e: exp, st: st}, Log: log,
		PrepareWorkers: cfg.Normalize.Workers, MaxDuration: cfg.Limits.MaxDuration, WaitForResults: cfg.Limits.WaitForResults, Lease: cfg.Limits.Lease,
		Background: background, Progress: report.ProgressLog(log),
	}
	var prog *report.ProgressLine
	if o.Progress != nil {
		prog = &report.ProgressLine{W: o.Progress}
		runner.Progress = prog.Show
	}
	sum, runErr := runner.Run(ctx, o.Soft)
	if prog != nil {
		prog.Finish()
	}
	sum.Load = &loadStats
	ended := countEnded(sum, loadStats, afterLoad, others)
	sum.Extra = map[string]any{"api": lims.Local.Stats(), "webhooks_received": webhooks.Received(), "store": config.RedactDSN(cfg.Store), "ended_in_run": ended,
		report.ExtraAPIPerMinute: m.APIPerMinute()}
	sum.ExitCode = exitCode(sum, runErr, cfg.Limits.MaxFailureRatio, ended)
	var fatal *submit.FatalError
	if errors.As(runErr, &fatal) {
		runErr = fmt.Errorf("%w (nothing was lost: records not submitted stay pending; rerun when fixed)", runErr)
		sum.Error = runErr.Error()
	}
	res := RunResult{Summary: sum, Log: log}
	// What is left is recorded even when the run's context was cancelled.
	ctx = context.WithoutCancel(ctx)
	if res.SummaryPath, err = report.SaveSummary(ctx, dest, sum); err != nil {
		log.Error("summary not written", pipeline.LogKeyErr, err)
	}
	if res.ReportPath, err = report.SaveRunReport(ctx, dest, st, sum, report.Options{RequestsPerHour: cfg.Limits.RequestsPerHour}); err != nil {
		log.Error("run report not written", pipeline.LogKeyErr, err)
	}
	finishRun(sum)
	m.Publish(ctx, mc, log)
	return res, runErr
}

// NewRunID returns a sortable, unique run id: UTC time and 4 random bytes.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// loadSource opens the source and streams it into the Store
// (ingest.Load); it returns the load statistics and the Objects to fetch
// images with.
func loadSource(ctx context.Context, cfg config.Config, st pipeline.Store, s3c *s3.Client, log *slog.Logger) (pipeline.LoadStats, *ingest.Objects, error) {
	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), s3c)
	if err != nil {
		return pipeline.LoadStats{}, nil, err
	}
	defer src.Close()
	total, err := ingest.Load(ctx, src, st, cfg.Job, time.Now())
	if err != nil {
		return total, nil, err
	}
	log.Info("manifest loaded", "inserted", total.Inserted, "updated", total.Updated, "unchanged", total.Unchanged, "kept", total.Kept)
	return total, src.Objects, nil
}

// preparer adapts ingest.Preparer to pipeline.Preparer.
type preparer struct{ p *ingest.Preparer }

func (a preparer) Prepare(ctx context.Context, rec pipeline.Record) (pipeline.Prepared, error) {
	p, err := a.p.Prepare(ctx, rec)
	if err != nil {
		return pipeline.Prepared{}, err
	}
	return pipeline.Prepared{Images: p.Images, Hashes: p.Hashes, Bytes: p.Bytes}, nil
}

// exporter adapts export.Exporter to pipeline.Exporter.
type exporter struct {
	e  *export.Exporter
	st pipeline.Store
}

func (a exporter) Export(ctx context.Context) (pipeline.ExportReport, error) {
	rep, err := a.e.Export(ctx, a.st)
	return pipeline.ExportReport{Files: rep.Files, Rows: rep.Rows, ByOutcome: rep.ByOutcome}, err
}

// endedInRun is what a run ended, for limits.max_failure_ratio: records
// this run rejected or failed, bad manifest rows its load stored, and
// results that became final while it ran. Records that earlier runs, or
// workers beside this one, ended are not counted.
type endedInRun struct {
	Bad   int `json:"rejected_or_failed"`
	Final int `json:"final_results"`
}

// countEnded computes endedInRun from the run's counters, its load's
// statistics and the Store's counts after the load. The results that became
// final while the run ran are the job's new finals, bounded by what they can
// have come from in this run: the records it submitted and, when no worker
// of another name was alive at its start (othersAlive false), those awaiting
// a result then (a killed run's). The bound keeps one of N workers from counting the
// others' results as its own; with others alive, a killed run's results count
// for none of them.
func countEnded(sum pipeline.Summary, load pipeline.LoadStats, afterLoad map[pipeline.State]int, othersAlive bool) endedInRun {
	final := 0
	if sum.States != nil {
		final = max(0, sum.States[pipeline.StateFinal]-afterLoad[pipeline.StateFinal])
	}
	awaiting := 0
	if !othersAlive {
		for _, s := range []pipeline.State{pipeline.StateTokening, pipeline.StateTokened, pipeline.StateSubmitted, pipeline.StateOrphan} {
			awaiting += afterLoad[s]
		}
	}
	return endedInRun{Bad: sum.Rejected + sum.Failed + load.NewRejects, Final: min(final, sum.Submitted+awaiting)}
}

// othersAlive reports whether a worker of job other than self (its name:
// a restarted pod keeps its index) is alive; this run has not registered
// yet. A killed worker's heartbeat stays fresh for pipeline.WorkerTimeout:
// under its own name it is this worker's past, not another worker.
func othersAlive(ctx context.Context, st pipeline.Store, job, self string) (bool, error) {
	ws, err := st.Workers(ctx, job, 100)
	if err != nil {
		return false, err
	}
	now := time.Now()
	for _, w := range ws {
		if w.Name != self && w.Alive(now, pipeline.WorkerTimeout) {
			return true, nil
		}
	}
	return false, nil
}

// exitCode maps a run's outcome to the exit codes of DESIGN.md. The failure
// ratio is over the records this run ended; a run that ended none exits 0.
func exitCode(sum pipeline.Summary, err error, maxRatio float64, ended endedInRun) int {
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		return pipeline.ExitFatal // a fatal error (out of credits…) wins over an interruption
	case sum.Interrupted:
		return pipeline.ExitInterrupted
	}
	if n := ended.Bad + ended.Final; n > 0 && float64(ended.Bad)/float64(n) > maxRatio {
		return pipeline.ExitTooManyFailures
	}
	return pipeline.ExitOK
}
