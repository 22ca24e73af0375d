package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/report/reporttest"
)

// A demo run leaves its HTML report beside its JSON summary, and `idbatch
// report` regenerates it from the Store, and writes the job report.
func TestDemoWritesRunReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out := runBinary(t, "demo", "-dir", dir, "-n", "24")
	if code != exitOK && code != exitTooManyFail { // 24 records: the demo's broken ones are more than 20%
		t.Fatalf("demo exited %d:\n%s", code, out)
	}
	runs := filepath.Join(dir, "exports", "_runs", "job=demo")
	htmls, _ := filepath.Glob(filepath.Join(runs, "run-*.html"))
	if len(htmls) != 1 {
		t.Fatalf("run reports: %v\n%s", htmls, out)
	}
	if !strings.Contains(out, `"report_path":"`+htmls[0]+`"`) {
		t.Errorf("the summary does not say where the report is (%s):\n%s", htmls[0], out)
	}
	first, err := os.ReadFile(htmls[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="chart-outcomes"`, `id="chart-api"`, `id="chart-latency"`, "API requests per minute", "tokens created"} {
		if !strings.Contains(string(first), want) {
			t.Errorf("the demo's report lacks %s", want)
		}
	}
	// The demo's own report, as a reader's browser shows it (a subtest:
	// without Chromium only this part is skipped; it fails under CI).
	report := htmls[0]
	t.Run("browser", func(t *testing.T) {
		reporttest.Check(t, report, 0, filepath.Join(reporttest.ArtifactDir(t), "demo-run-report.png"))
	})
	runID := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(htmls[0]), "run-"), ".html")

	// Logs for machines: every JSON line of the run carries its run_id and
	// worker, and the summary is one of them.
	lines := jsonLines(t, out)
	summaries := 0
	for _, l := range lines {
		if l["run_id"] != runID || l["worker"] != "w0" {
			t.Errorf("log line without run_id %s and worker: %v", runID, l)
		}
		if l["msg"] == "summary" {
			summaries++
		}
	}
	if len(lines) < 5 || summaries != 1 {
		t.Errorf("%d JSON log lines, %d summary lines (want 1)", len(lines), summaries)
	}

	cfgPath := filepath.Join(dir, "report.yaml")
	cfg := "job: demo\nstore: sqlite://" + filepath.Join(dir, "idbatch.db") + "\nexport:\n  destination: " + filepath.Join(dir, "exports") + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(htmls[0]); err != nil {
		t.Fatal(err)
	}
	if code, out := runBinary(t, "report", "-c", cfgPath, "-run", runID); code != 0 || !strings.Contains(out, htmls[0]) {
		t.Fatalf("report -run exited %d:\n%s", code, out)
	}
	again, err := os.ReadFile(htmls[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(again), `id="chart-api"`) {
		t.Error("the regenerated report lost the API chart (the per-minute series of the stored summary)")
	}
	if code, out := runBinary(t, "report", "-c", cfgPath); code != 0 {
		t.Fatalf("report (job) exited %d:\n%s", code, out)
	}
	job, err := os.ReadFile(filepath.Join(runs, "job.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(job), "idbatch job demo — all runs") || !strings.Contains(string(job), runID) {
		t.Error("the job report does not list the demo run")
	}
	if code, _ := runBinary(t, "report", "-c", cfgPath, "-run", "nope"); code != exitFatal {
		t.Errorf("report of an unknown run exited %d, want %d", code, exitFatal)
	}
}
