package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
)

// Logs for machines: what `run` writes on stderr when it is not a terminal.
// (On a terminal the progress line and the printed summary do not change.)

// progressEvery is how often a run without a terminal logs its progress.
const progressEvery = 30 * time.Second

// rateETA is the records handled per hour so far and the time the rest
// would take at that rate (ok false while there is no rate yet, or nothing
// is left).
func rateETA(pr pipeline.Progress) (perHour float64, eta time.Duration, ok bool) {
	if pr.Elapsed <= 0 || pr.Done <= 0 {
		return 0, 0, false
	}
	perHour = float64(pr.Done) / pr.Elapsed.Hours()
	if pr.Total <= pr.Done {
		return perHour, 0, false
	}
	return perHour, time.Duration(float64(pr.Total-pr.Done) / perHour * float64(time.Hour)).Round(time.Second), true
}

// progressLog logs the run's progress every progressEvery (and when done)
// as one line with its rate and ETA.
func progressLog(log *slog.Logger) func(pipeline.Progress) {
	var last time.Time
	return func(p pipeline.Progress) {
		if time.Since(last) < progressEvery && p.Phase != "done" {
			return
		}
		last = time.Now()
		attrs := []any{"done", p.Done, "total", p.Total, "submitted", p.Submitted, "rejected", p.Rejected,
			"failed", p.Failed, "final", p.Final, "waiting", p.Waiting, "phase", p.Phase, "elapsed_seconds", int64(p.Elapsed.Seconds())}
		if rate, eta, ok := rateETA(p); rate > 0 {
			attrs = append(attrs, "rate_per_hour", int64(rate))
			if ok {
				attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
			}
		}
		log.Info("progress", attrs...)
	}
}

// jsonLogs reports whether the logger setup.Logger makes for cfg writes JSON.
func jsonLogs(cfg config.LogConfig, stderr io.Writer) bool {
	return cfg.Format == "json" || (cfg.Format != "text" && !isTerminal(stderr))
}

// finalSummary shows the run's summary: printed for people (a terminal, or
// text logs), or as one JSON log line "summary" whose "summary" attribute
// is the summary JSON (the keys of docs/summary.md).
func finalSummary(stderr io.Writer, log *slog.Logger, cfg config.Config, sum pipeline.Summary, summaryPath, reportPath string) {
	if !jsonLogs(cfg.Log, stderr) {
		p := summaryPath
		if reportPath != "" {
			p += "\n  report        " + reportPath
		}
		printSummary(stderr, sum, p, cfg.Limits.MaxFailureRatio)
		return
	}
	attrs := []any{"summary", sum, "exit_code", sum.ExitCode}
	if summaryPath != "" {
		attrs = append(attrs, "summary_path", summaryPath)
	}
	if reportPath != "" {
		attrs = append(attrs, "report_path", reportPath)
	}
	log.Log(context.Background(), levelOf(sum.ExitCode), "summary", attrs...)
}

func levelOf(exit int) slog.Level {
	switch exit {
	case exitOK, exitInterrupted:
		return slog.LevelInfo
	case exitTooManyFail:
		return slog.LevelWarn
	}
	return slog.LevelError
}
