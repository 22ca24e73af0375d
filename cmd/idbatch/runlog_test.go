package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
)

func jsonLines(t *testing.T, s string) []map[string]any {
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

// Without a terminal the summary is one JSON line with the summary's keys;
// with text logs it is printed for people, as before.
func TestFinalSummary(t *testing.T) {
	sum := pipeline.Summary{Job: "j", RunID: "r1", Submitted: 3, ExitCode: exitTooManyFail, Export: pipeline.ExportReport{Rows: 3}}
	var b bytes.Buffer
	cfg := config.Defaults()
	cfg.Log.Format = "json"
	finalSummary(&b, slog.New(slog.NewJSONHandler(&b, nil)), cfg, sum, "/x/run-r1.json", "/x/run-r1.html")
	lines := jsonLines(t, b.String())
	if len(lines) != 1 || strings.Count(strings.TrimSpace(b.String()), "\n") != 0 {
		t.Fatalf("want one JSON line:\n%s", b.String())
	}
	l := lines[0]
	s, _ := l["summary"].(map[string]any)
	if l["msg"] != "summary" || l["level"] != "WARN" || s["run_id"] != "r1" || s["submitted"] != 3.0 || l["report_path"] != "/x/run-r1.html" || l["exit_code"] != 3.0 {
		t.Errorf("summary line: %v", l)
	}

	b.Reset()
	cfg.Log.Format = "text"
	finalSummary(&b, slog.New(slog.NewTextHandler(&b, nil)), cfg, sum, "/x/run-r1.json", "/x/run-r1.html")
	if !strings.Contains(b.String(), "  report        /x/run-r1.html\n") || !strings.Contains(b.String(), "exit code     3") {
		t.Errorf("printed summary:\n%s", b.String())
	}
}
