package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline"
)

// Where a run's files are, relative to the export destination: beside each
// other under _runs/job=<job>/ (directories starting with _ are ignored by
// Hive readers).

// SummaryPath is where the JSON summary of a run is.
func SummaryPath(job, runID string) string {
	return fmt.Sprintf("_runs/job=%s/run-%s.json", job, runID)
}

// RunReportPath is where the HTML report of a run is.
func RunReportPath(job, runID string) string {
	return fmt.Sprintf("_runs/job=%s/run-%s.html", job, runID)
}

// JobReportPath is where the HTML report of a job across its runs is.
func JobReportPath(job string) string { return fmt.Sprintf("_runs/job=%s/job.html", job) }

// SaveSummary writes the run's JSON summary (indented) at
// SummaryPath at dest and returns where it is.
func SaveSummary(ctx context.Context, dest objstore.Dest, sum pipeline.Summary) (string, error) {
	rel := SummaryPath(sum.Job, sum.RunID)
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

// SaveRunReport writes the run's HTML report (ForRun, with o.Destination
// set to dest's root) at RunReportPath, beside its JSON summary, and
// returns where it is.
func SaveRunReport(ctx context.Context, dest objstore.Dest, src Source, sum pipeline.Summary, o Options) (string, error) {
	if sum.RunID == "" {
		return "", errors.New("no run id")
	}
	o.Destination = dest.Root()
	rep, err := ForRun(ctx, src, sum, o)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		return "", err
	}
	rel := RunReportPath(sum.Job, sum.RunID)
	if err := PutFile(ctx, dest, rel, b.Bytes()); err != nil {
		return "", err
	}
	return strings.TrimSuffix(dest.Location(rel), "/"), nil
}

// PutFile writes data at rel at dest, all or nothing.
func PutFile(ctx context.Context, dest objstore.Dest, rel string, data []byte) error {
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

// StoredSummary reads a run's summary from the Store's runs table. A run
// without one (still running, or killed) and an unknown run are errors
// that say so.
func StoredSummary(ctx context.Context, src Source, job, id string) (pipeline.Summary, error) {
	runs, err := src.Runs(ctx, job, 0)
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
