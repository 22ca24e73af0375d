package report

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline"
)

// logLines decodes the JSON lines of s.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		out = append(out, m)
	}
	return out
}

// Without a terminal, progress lines carry the rate and the ETA, at most
// one every 30 s, and always the last one.
func TestProgressLog(t *testing.T) {
	var b bytes.Buffer
	f := ProgressLog(slog.New(slog.NewJSONHandler(&b, nil)))
	f(pipeline.Progress{Total: 1000, Done: 250, Elapsed: 30 * time.Minute, Phase: "submitting"})
	f(pipeline.Progress{Total: 1000, Done: 260, Elapsed: 31 * time.Minute, Phase: "submitting"}) // too soon
	f(pipeline.Progress{Total: 1000, Done: 1000, Elapsed: 2 * time.Hour, Phase: "done"})
	lines := logLines(t, b.String())
	if len(lines) != 2 {
		t.Fatalf("%d progress lines, want 2:\n%s", len(lines), b.String())
	}
	if lines[0]["rate_per_hour"] != 500.0 || lines[0]["eta_seconds"] != 5400.0 {
		t.Errorf("first line: rate %v/h, ETA %v s; want 500/h and 5400 s (750 left at 500/h)", lines[0]["rate_per_hour"], lines[0]["eta_seconds"])
	}
	if _, ok := lines[1]["eta_seconds"]; ok || lines[1]["phase"] != "done" {
		t.Errorf("last line: %v", lines[1])
	}
}

// The printed summary: the verdict, what the run did, the counts by
// reason (sorted, without zeros), where the files are, and why it exited 3.
func TestWriteSummary(t *testing.T) {
	var b bytes.Buffer
	s := pipeline.Summary{Job: "j", RunID: "r1", Seconds: 2.5, Submitted: 7, Rejected: 3, RejectedBy: map[string]int{"too_small": 2, "bad_country": 1, "none": 0},
		Load: &pipeline.LoadStats{Rows: 10, Inserted: 10}, Export: pipeline.ExportReport{Rows: 10}, ExitCode: pipeline.ExitTooManyFailures}
	WriteSummary(&b, s, "/x/run-r1.json", "/x/run-r1.html", 0.2)
	for _, want := range []string{
		"idbatch: job j, run r1 — done, too many failures in 2.5s\n",
		"  manifest      10 rows: 10 new, 0 updated, 0 unchanged\n",
		"  rejected by   bad_country 1, too_small 2 (images; no API call made)\n",
		"  summary       /x/run-r1.json\n  report        /x/run-r1.html\n",
		"more than 20% of the records that ended were rejected or failed (exit 3)",
		"  exit code     3\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// A run's JSON summary is saved under _runs/job=<job>/ and read back from
// the runs table; a run without a summary, or unknown, is an error.
func TestSaveSummaryAndStoredSummary(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dest, err := objstore.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := pipeline.Summary{Job: "j", RunID: "r1", Submitted: 4, ExitCode: pipeline.ExitOK}
	where, err := SaveSummary(ctx, dest, sum)
	if err != nil || where != filepath.Join(dir, "_runs", "job=j", "run-r1.json") {
		t.Fatalf("saved at %q: %v", where, err)
	}
	b, err := os.ReadFile(where)
	if err != nil {
		t.Fatal(err)
	}
	src := runsSource{runs: []pipeline.Run{{ID: "r1", Job: "j", Summary: b}, {ID: "r2", Job: "j"}}}
	got, err := StoredSummary(ctx, src, "j", "r1")
	if err != nil || got.Submitted != 4 || got.RunID != "r1" {
		t.Errorf("stored summary: %+v, %v", got, err)
	}
	if _, err := StoredSummary(ctx, src, "j", "r2"); err == nil || !strings.Contains(err.Error(), "has no summary") {
		t.Errorf("a run without a summary: %v", err)
	}
	if _, err := StoredSummary(ctx, src, "j", "r3"); err == nil || !strings.Contains(err.Error(), "no run r3") {
		t.Errorf("an unknown run: %v", err)
	}
}

// runsSource is a Source with runs only.
type runsSource struct{ runs []pipeline.Run }

func (s runsSource) List(context.Context, pipeline.ListQuery) ([]pipeline.Record, error) {
	return nil, nil
}
func (s runsSource) Counts(context.Context, string) (map[pipeline.State]int, error) { return nil, nil }
func (s runsSource) Runs(context.Context, string, int) ([]pipeline.Run, error)      { return s.runs, nil }

// The terminal line: counts, rate and ETA, redrawn in place.
func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := &ProgressLine{W: &b}
	p.Finish()
	if b.Len() != 0 {
		t.Errorf("Finish without a line wrote %q", b.String())
	}
	p.Show(pipeline.Progress{Phase: "submitting", Total: 1000, Done: 250, Submitted: 240, Rejected: 10, Elapsed: 30 * time.Minute})
	p.Show(pipeline.Progress{Phase: "submitting", Total: 1000, Done: 0, Elapsed: time.Minute})
	p.Finish()
	want := "\r\033[Ksubmitting: 250/1000 done (240 submitted, 10 rejected, 0 failed) · 0 final · 0 waiting · 500 rec/h · ETA 1h30m0s" +
		"\r\033[Ksubmitting: 0/1000 done (0 submitted, 0 rejected, 0 failed) · 0 final · 0 waiting · 0 rec/h · ETA —\n"
	if b.String() != want {
		t.Errorf("progress line:\n%q\nwant\n%q", b.String(), want)
	}
}
