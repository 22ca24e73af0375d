package main

import (
	"io"
	"log/slog"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
)

// Logs for machines: what `run` writes on stderr when it is not a terminal
// (report.ProgressLog, report.FinalSummary). On a terminal: the progress
// line and the printed summary.

// jsonLogs reports whether the logger setup.Logger makes for cfg writes JSON.
func jsonLogs(cfg config.LogConfig, stderr io.Writer) bool {
	return cfg.Format == "json" || (cfg.Format != "text" && !isTerminal(stderr))
}

// finalSummary shows the run's summary as cfg's logs want it (see
// report.FinalSummary).
func finalSummary(stderr io.Writer, log *slog.Logger, cfg config.Config, sum pipeline.Summary, summaryPath, reportPath string) {
	report.FinalSummary(stderr, log, jsonLogs(cfg.Log, stderr), sum, summaryPath, reportPath, cfg.Limits.MaxFailureRatio)
}
