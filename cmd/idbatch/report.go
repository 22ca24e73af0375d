package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

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
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.ExistingStore})
	if err != nil {
		return err
	}
	defer deps.Close()
	st := deps.Store
	opts := report.Options{RequestsPerHour: cfg.Limits.RequestsPerHour, Destination: cfg.Export.Destination}

	var rep *report.Report
	rel := report.JobReportPath(cfg.Job)
	if *runID == "" {
		rep, err = report.ForJob(ctx, st, cfg.Job, opts)
	} else {
		var sum pipeline.Summary
		sum, err = report.StoredSummary(ctx, st, cfg.Job, *runID)
		if err != nil {
			return err
		}
		rel = report.RunReportPath(cfg.Job, *runID)
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
	if err := report.PutFile(ctx, dest, rel, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", dest.Location(rel))
	return nil
}
