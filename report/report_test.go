package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// fakeSource is a Store holding records and runs in memory.
type fakeSource struct {
	recs []pipeline.Record
	runs []pipeline.Run
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) List(_ context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	var out []pipeline.Record
	for _, r := range f.recs {
		if r.ID > q.AfterID && (q.Limit <= 0 || len(out) < q.Limit) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeSource) Counts(_ context.Context, job string) (map[pipeline.State]int, error) {
	m := map[pipeline.State]int{}
	for _, r := range f.recs {
		m[r.State]++
	}
	return m, nil
}

func (f *fakeSource) Runs(_ context.Context, job string, n int) ([]pipeline.Run, error) {
	return f.runs, nil
}

var t0 = time.Date(2025, 3, 4, 10, 15, 0, 0, time.UTC)

// sample is a job of 2,400 records, one run of 40 minutes: what a user
// would see after a real backfill day, with every kind of record. Client
// ids and names are marked SECRET so that a test can check none leaks.
func sample() (*fakeSource, pipeline.Summary) {
	src := &fakeSource{}
	outcomes := []pipeline.Outcome{pipeline.OutcomeApproved, pipeline.OutcomeApproved, pipeline.OutcomeApproved, pipeline.OutcomeApproved,
		pipeline.OutcomeDenied, pipeline.OutcomeSuspected, pipeline.OutcomeExpired}
	sum := pipeline.Summary{Job: "legacy-2019", RunID: "20250304T101500Z-3f9a0c1d", StartedAt: t0, FinishedAt: t0.Add(42 * time.Minute),
		Seconds: 42 * 60, RejectedBy: map[string]int{}, FailedBy: map[string]int{}, States: map[pipeline.State]int{},
		Export: pipeline.ExportReport{ByOutcome: map[string]int{}, Files: []string{
			"s3://bucket/exports/job=legacy-2019/dt=2025-03-04/part-20250304T101500Z-3f9a0c1d-w0.parquet",
			"s3://bucket/exports/job=legacy-2019/_failures/dt=2025-03-04/failures-20250304T101500Z-3f9a0c1d-w0.csv"}},
		Load: &pipeline.LoadStats{Rows: 2400, Inserted: 2400, RejectedBy: map[string]int{"bad_country": 7}}}
	for i := 1; i <= 2400; i++ {
		rec := pipeline.Record{ID: int64(i), Job: sum.Job, Input: pipeline.Input{ClientID: fmt.Sprintf("SECRET-CLIENT-%d", i), FirstName: "SECRETNAME"}}
		sub := t0.Add(time.Duration(i) * time.Second)
		switch {
		case i%97 == 0:
			rec.State, rec.Outcome, rec.RejectReason = pipeline.StateRejected, pipeline.OutcomeRejected, []string{"too_small", "missing_object", "corrupt_image"}[i%3]
			sum.RejectedBy[rec.RejectReason]++
		case i%331 == 0:
			rec.State, rec.Outcome, rec.ErrorCode, rec.SubmittedAt = pipeline.StateFailed, pipeline.OutcomeFailed, "DOCUMENT_PHOTO_BAD", sub
			sum.FailedBy[rec.ErrorCode]++
		case i > 2300:
			rec.State = pipeline.StatePending
		case i > 2200:
			rec.State, rec.SubmittedAt, rec.ScanRef = pipeline.StateSubmitted, sub, fmt.Sprintf("SECRETSCAN%d", i)
		case i == 2200:
			rec.State = pipeline.StateOrphan
		default:
			rec.State, rec.SubmittedAt, rec.ScanRef = pipeline.StateFinal, sub, fmt.Sprintf("SECRETSCAN%d", i)
			rec.Outcome = outcomes[i%len(outcomes)]
			rec.ResultAt = sub.Add(time.Duration(60+(i*7919)%1500) * time.Second)
			rec.Result = &pipeline.Result{Final: true, Overall: string(rec.Outcome), DocFirstName: "SECRETNAME"}
		}
		if rec.State.End() {
			sum.Export.ByOutcome[string(rec.Outcome)]++
			sum.Export.Rows++
		}
		if !rec.SubmittedAt.IsZero() {
			sum.Submitted++
			sum.TokensCreated++
		}
		sum.States[rec.State]++
		src.recs = append(src.recs, rec)
	}
	sum.Rejected, sum.Failed, sum.Orphans, sum.Waiting = 24, 7, 1, 100
	sum.OrphansWaiting, sum.OrphansRetryAt = 1, t0.Add(50*time.Minute)
	var ms []Minute
	for m := range 42 {
		n := 110 + (m*37)%30
		if m < 3 {
			n = 40 * (m + 1)
		}
		mn := Minute{Start: t0.Add(time.Duration(m) * time.Minute), Requests: n}
		if m == 20 || m == 21 {
			mn.Throttled = 4
			mn.Errors = map[string]int{"throttled": 4}
		}
		if m == 30 {
			mn.Errors = map[string]int{"server": 2, "network": 1}
		}
		ms = append(ms, mn)
	}
	sum.Extra = map[string]any{ExtraAPIPerMinute: ms, "api": map[string]any{"throttled": 8, "rate_per_hour": 7400.0}}
	js, _ := json.Marshal(sum)
	src.runs = []pipeline.Run{
		{ID: sum.RunID, Job: sum.Job, Command: "run", StartedAt: sum.StartedAt, FinishedAt: sum.FinishedAt, Summary: js},
		{ID: "20250303T090000Z-00aa11bb", Job: sum.Job, Command: "run", StartedAt: t0.Add(-25 * time.Hour), FinishedAt: t0.Add(-24 * time.Hour), ExitCode: 130,
			Summary: []byte(`{"job":"legacy-2019","tokens_created":800,"submitted":790,"rejected":3,"failed":1,"orphans_found":0,"export":{"rows":700}}`)},
	}
	return src, sum
}

func runHTML(t *testing.T) string {
	t.Helper()
	src, sum := sample()
	// As the report command reads it: the summary stored as JSON.
	var stored pipeline.Summary
	if err := json.Unmarshal(src.runs[0].Summary, &stored); err != nil {
		t.Fatal(err)
	}
	_ = sum
	r, err := ForRun(context.Background(), src, stored, Options{RequestsPerHour: 9000, Destination: "s3://bucket/exports/", Now: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func jobHTML(t *testing.T) string {
	t.Helper()
	src, _ := sample()
	r, err := ForJob(context.Background(), src, "legacy-2019", Options{RequestsPerHour: 9000, Destination: "s3://bucket/exports/", Now: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRunReport(t *testing.T) {
	h := runHTML(t)
	for _, id := range []string{"outcomes", "reasons", "api", "errors", "latency"} {
		if !regexp.MustCompile(`<figure class="chart" id="chart-` + id + `"><svg [^>]*>(?s:.*?)<path`).MatchString(h) {
			t.Errorf("chart %s: no figure with a drawn SVG", id)
		}
	}
	for _, want := range []string{
		"idbatch run 20250304T101500Z-3f9a0c1d — job legacy-2019",
		"failures-20250304T101500Z-3f9a0c1d-w0.csv", // where failures.csv is
		"limit 150/min",                     // 9000/h against the achieved rate
		"rejected: bad_country",             // manifest rejections count too
		"failed: DOCUMENT_PHOTO_BAD",        // failures by code
		"429 (throttled) answers: <b>8</b>", // from the limiter's stats
		"Found in this run: <b>1</b>",       // orphans
		"externalRef",                       // and what happens to them
		"time to submit the rest",           // what remains
		"exit code 0",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	checkSelfContained(t, h)
}

func TestJobReport(t *testing.T) {
	h := jobHTML(t)
	for _, id := range []string{"outcomes", "reasons", "errors", "latency", "runs"} {
		if !strings.Contains(h, `id="chart-`+id+`"`) {
			t.Errorf("job report lacks chart %s", id)
		}
	}
	for _, want := range []string{"idbatch job legacy-2019 — all runs", "20250303T090000Z-00aa11bb", "s3://bucket/exports/job=legacy-2019/_failures/"} {
		if !strings.Contains(h, want) {
			t.Errorf("job report lacks %q", want)
		}
	}
	checkSelfContained(t, h)
}

// A run without a per-minute series (older summaries) still shows its rate,
// from the records' submission times, and says so.
func TestRunReportWithoutSeries(t *testing.T) {
	src, sum := sample()
	sum.Extra = nil
	r, err := ForRun(context.Background(), src, sum, Options{RequestsPerHour: 9000})
	if err != nil {
		t.Fatal(err)
	}
	if !r.APIFromRecs || len(r.APIMinutes) == 0 {
		t.Fatalf("no series derived from the records: %+v", r.APIMinutes)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "submissions per minute") || strings.Contains(b.String(), `id="chart-errors"`) {
		t.Error("the derived series is not labelled as submissions, or an errors chart was drawn without data")
	}
}

// checkSelfContained: no personal data, nothing fetched from the network.
func checkSelfContained(t *testing.T, h string) {
	t.Helper()
	for _, secret := range []string{"SECRET-CLIENT", "SECRETNAME", "SECRETSCAN"} {
		if strings.Contains(h, secret) {
			t.Errorf("the report holds personal data or scanRefs (%s)", secret)
		}
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|@import|url\(\s*['"]?https?:`).FindString(h); m != "" {
		t.Errorf("the report loads something from the network: %s", m)
	}
}

// A run that did nothing (all records done earlier) still gets a report:
// no chart, and words instead.
func TestEmptyRunReport(t *testing.T) {
	src := &fakeSource{}
	sum := pipeline.Summary{Job: "j", RunID: "20250304T101500Z-00000000", StartedAt: t0, FinishedAt: t0.Add(time.Second), ExitCode: 0}
	r, err := ForRun(context.Background(), src, sum, Options{RequestsPerHour: 9000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	if strings.Contains(h, `<figure class="chart"`) || !strings.Contains(h, "No final result yet") || !strings.Contains(h, "No failed API requests recorded") {
		t.Errorf("empty run report:\n%s", h)
	}
}
