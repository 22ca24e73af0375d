package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
)

// CheckKnownJob refuses a run on a Store that has never seen the job when
// the export destination already holds runs of it: most often a relative
// Store path that moved with the working directory, or a new Store by
// mistake. A new Store would submit (and bill) every record again. It
// needs the Store and the destination (Options.Destination).
func (d *Deps) CheckKnownJob(ctx context.Context) error {
	job := d.cfg.Job
	counts, err := d.Store.Counts(ctx, job)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, n := range counts {
		if n > 0 {
			return nil
		}
	}
	runs, err := d.Store.Runs(ctx, job, 1)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if len(runs) > 0 {
		return nil
	}
	prefix := "_runs/job=" + job
	files, err := d.Dest.List(ctx, prefix)
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
		config.RedactDSN(d.cfg.Store), job, n, d.Dest.Location(prefix)+"/")
}

// ExportLockTTL is how long a killed worker keeps the job's export lock:
// limits.lease (how long it keeps its records), at most the export's
// default of 30 s.
func ExportLockTTL(cfg config.Config) time.Duration {
	if cfg.Limits.Lease > 0 {
		// At least 1 s: the lock is renewed every third of it (a ticker of 0 panics).
		return max(min(cfg.Limits.Lease, export.DefaultLockTTL), time.Second)
	}
	return export.DefaultLockTTL
}

// Logger returns the logger of log: JSON when w is not a terminal (or
// format json), human text otherwise. quiet (a progress line on the
// terminal) shows only warnings and errors there.
func Logger(cfg config.LogConfig, w io.Writer, quiet bool) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if quiet && IsTerminal(w) && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	if JSONLogs(cfg, w) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// JSONLogs reports whether Logger writes JSON to w: log.format json, or
// not text and w is not a terminal.
func JSONLogs(cfg config.LogConfig, w io.Writer) bool {
	return cfg.Format == "json" || (cfg.Format != "text" && !IsTerminal(w))
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
