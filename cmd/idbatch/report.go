package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

// runReport regenerates reports: with -run ID that run's report, from its
// summary stored in the runs table and the Store as it is now; without -run
// the job report across every run of the job. Both are written beside the
// run summaries (<destination>/_runs/job=<job>/run-<id>.html, job.html), or
// to -o FILE ("-" for stdout).
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("report", stderr, &cf)
	runID := fs.String("run", "", "the run to report on; empty: the job report across all runs")
	out := fs.String("o", "", `write the HTML to this file ("-" for stdout) instead of beside the run summaries`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.CreateStore})
	if err != nil {
		return err
	}
	defer deps.Close()
	st := deps.Store
	opts := report.Options{RequestsPerHour: cfg.Limits.RequestsPerHour, Destination: cfg.Export.Destination}

	var rep *report.Report
	rel := fmt.Sprintf("_runs/job=%s/job.html", cfg.Job)
	if *runID == "" {
		rep, err = report.ForJob(ctx, st, cfg.Job, opts)
	} else {
		var sum pipeline.Summary
		sum, err = storedSummary(ctx, st, cfg.Job, *runID)
		if err != nil {
			return err
		}
		rel = runReportPath(cfg.Job, *runID)
		rep, err = report.ForRun(ctx, st, sum, opts)
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		return err
	}
	switch *out {
	case "-":
		_, err = stdout.Write(b.Bytes())
		return err
	case "":
	default:
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report: %s\n", *out)
		return nil
	}
	dest, err := deps.OpenDestination(ctx)
	if err != nil {
		return err
	}
	if err := putFile(ctx, dest, rel, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", dest.Location(rel))
	return nil
}

// storedSummary reads a run's summary from the runs table.
func storedSummary(ctx context.Context, st pipeline.Store, job, id string) (pipeline.Summary, error) {
	runs, err := st.Runs(ctx, job, 0)
	if err != nil {
		return pipeline.Summary{}, fmt.Errorf("store: %w", err)
	}
	for _, r := range runs {
		if r.ID != id {
			continue
		}
		if len(r.Summary) == 0 {
			return pipeline.Summary{}, fmt.Errorf("run %s of job %s has no summary (still running, or killed)", id, job)
		}
		var sum pipeline.Summary
		if err := json.Unmarshal(r.Summary, &sum); err != nil {
			return pipeline.Summary{}, fmt.Errorf("run %s: summary: %w", id, err)
		}
		return sum, nil
	}
	return pipeline.Summary{}, fmt.Errorf("no run %s in job %s ('idbatch status' lists the last runs)", id, job)
}

func runReportPath(job, runID string) string {
	return fmt.Sprintf("_runs/job=%s/run-%s.html", job, runID)
}

// writeRunReport writes the run's HTML report beside its JSON summary and
// returns where.
func writeRunReport(ctx context.Context, dest export.Destination, st pipeline.Store, cfg config.Config, sum pipeline.Summary) (string, error) {
	if sum.RunID == "" {
		return "", errors.New("no run id")
	}
	rep, err := report.ForRun(ctx, st, sum, report.Options{RequestsPerHour: cfg.Limits.RequestsPerHour, Destination: dest.Root()})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		return "", err
	}
	rel := runReportPath(sum.Job, sum.RunID)
	if err := putFile(ctx, dest, rel, b.Bytes()); err != nil {
		return "", err
	}
	return strings.TrimSuffix(dest.Location(rel), "/"), nil
}

func putFile(ctx context.Context, dest export.Destination, rel string, data []byte) error {
	f, err := dest.Create(ctx, rel)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Abort()
		return err
	}
	return f.Commit()
}
