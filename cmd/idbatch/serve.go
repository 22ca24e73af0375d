package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idbatch/idbatch/metrics"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/setup"
)

// runServe runs the webhook receiver long-lived, writing into the job's
// Store, for results that arrive after a batch has exited (or for every
// result, when the scheduled runs set results.webhook_listen to "").
//
// It serves results.webhook_path (signed webhooks, see results.Handler),
// /healthz (200 "ok" while the Store answers, 503 otherwise) and /metrics
// (Prometheus). With -poll (the default, when results.poll_max_per_hour > 0)
// it also runs the sparse poller for overdue results, within
// results.poll_max_per_hour of this process: a scheduled run beside it polls
// on its own budget, so set poll_max_per_hour to 0 in one of the two configs
// to keep the account's polling at one budget.
//
// SIGINT/SIGTERM stops it gracefully: the listener closes, webhooks in
// flight are answered (up to results.ShutdownTimeout), the poller stops, and
// it exits 0.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("serve", stderr, &cf)
	listen := fs.String("listen", "", "address to listen on (overrides results.webhook_listen)")
	poll := fs.Bool("poll", true, "also poll overdue results (results.poll_after, results.poll_max_per_hour)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Results.WebhookListen = *listen
	}
	polling := *poll && cfg.Results.PollMaxPerHour > 0
	if err := cfg.ValidateServe(polling); err != nil {
		return err
	}
	log := setup.Logger(cfg.Log, stderr, false).With("job", cfg.Job, "command", "serve")

	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.ExistingStore, Logger: log})
	if err != nil {
		return err
	}
	defer deps.Close()
	st := deps.Store

	start := time.Now()
	runID := setup.NewRunID(start)
	lims := deps.Limits(log)
	m := metrics.New(st, cfg.Job, lims.Local, version)
	m.AccountBudget(st, lims.Budget)
	webhooks := &results.Handler{Store: st, SigningKey: []byte(cfg.Idenfy.WebhookSigningKey), RunID: runID, Job: cfg.Job,
		Log: log.With("stage", "webhook"), OnOutcome: m.WebhookOutcome}

	// Bound before the run is recorded: a port in use is a fatal config error.
	ln, err := net.Listen("tcp", cfg.Results.WebhookListen)
	if err != nil {
		return fmt.Errorf("results.webhook_listen: %w", err)
	}
	metricsSrv, err := m.Listen(MetricsConfig(cfg.Results.MetricsConfig), log)
	if err != nil {
		ln.Close()
		return err
	}
	if err := st.StartRun(ctx, pipeline.Run{ID: runID, Job: cfg.Job, Command: "serve", StartedAt: start}); err != nil {
		ln.Close()
		return fmt.Errorf("store: %w", err)
	}
	log.Info("webhook receiver listening", "addr", ln.Addr().String(), "path", cfg.Results.WebhookPath, "polling", polling, "run_id", runID)

	g, gctx := errgroup.WithContext(ctx)
	if metricsSrv != nil {
		g.Go(func() error { return metricsSrv(gctx) })
	}
	g.Go(func() error {
		extra := m.ReceiverRoutes(MetricsConfig(cfg.Results.MetricsConfig))
		extra["/healthz"] = storeHealth(st, cfg.Job)
		if err := results.Serve(gctx, ln, cfg.Results.WebhookPath, webhooks, extra); err != nil {
			return fmt.Errorf("webhook receiver: %w", err)
		}
		return nil
	})
	if polling {
		// Every poll request counts against the budget; the record's backoff is the retry.
		api := deps.API(setup.APIOptions{HTTPClient: m.HTTPClient(), MaxRetries: -1})
		expectManual := cfg.Results.ExpectManualReview == nil || *cfg.Results.ExpectManualReview
		poller := &results.Poller{Store: st, API: api, Job: cfg.Job, RunID: runID, PollAfter: cfg.Results.PollAfter,
			MaxPerHour: cfg.Results.PollMaxPerHour, ExpectManual: expectManual, Log: log.With("stage", "poller"), OnPoll: m.PollOutcome}
		if lims.Poll != nil {
			poller.Budget = lims.Poll
		}
		g.Go(func() error { return poller.Run(gctx) })
	}
	runErr := g.Wait()
	code := exitCodeOf(runErr)
	sum, _ := json.Marshal(map[string]any{"webhooks_received": webhooks.Received(), "seconds": time.Since(start).Seconds()})
	if ferr := st.FinishRun(context.WithoutCancel(ctx), pipeline.Run{ID: runID, Job: cfg.Job, Command: "serve", StartedAt: start,
		FinishedAt: time.Now(), ExitCode: code, Summary: sum}); ferr != nil {
		log.Error("run not recorded", "err", ferr)
	}
	log.Info("webhook receiver stopped", "webhooks_received", webhooks.Received())
	return runErr
}

// storeHealth answers 200 while the Store answers, 503 otherwise (a webhook
// would then get a 500).
func storeHealth(st recordCounter, job string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if _, err := st.Counts(ctx, job); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "store unavailable\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}
