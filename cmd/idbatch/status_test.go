package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/storetest"
	"github.com/idbatch/idbatch/setup"
)

// TestStatus builds a job in every state with a Store, then reads it back
// through `idbatch status`, as text and as JSON.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "state.db")
	st, err := openStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	recs := storetest.Records("st", 0, 12)
	if _, err := st.Load(ctx, "st", recs, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, "other", storetest.Records("other", 0, 3), time.Now()); err != nil {
		t.Fatal(err)
	}
	all, err := st.List(ctx, pipeline.ListQuery{Job: "st"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	move := func(i int, to pipeline.State, p pipeline.Patch) {
		t.Helper()
		if err := st.Transition(ctx, pipeline.Transition{ID: all[i].ID, From: pipeline.StatePending, To: to, Now: now, Patch: p}); err != nil {
			t.Fatal(err)
		}
	}
	old, recent := now.Add(-2*time.Hour), now.Add(-time.Minute)
	move(0, pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: &old, ScanRef: new("S0")})
	move(1, pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: &old, ScanRef: new("S1")})
	move(2, pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: &recent, ScanRef: new("S2")})
	move(3, pipeline.StateFinal, pipeline.Patch{Outcome: new(pipeline.OutcomeApproved)})
	move(4, pipeline.StateFinal, pipeline.Patch{Outcome: new(pipeline.OutcomeDenied)})
	move(5, pipeline.StateRejected, pipeline.Patch{Outcome: new(pipeline.OutcomeRejected)})
	intent := now.Add(-time.Hour)
	retryAt := intent.Add(17 * time.Minute)
	move(6, pipeline.StateOrphan, pipeline.Patch{IntentAt: &intent, NotBefore: &retryAt, ErrorCode: new("possible_orphan_token")})
	move(7, pipeline.StateTokening, pipeline.Patch{IntentAt: &intent})
	if err := st.MarkExported(ctx, []int64{all[3].ID}, now); err != nil {
		t.Fatal(err)
	}
	sum, _ := json.Marshal(pipeline.Summary{TokensCreated: 7, Submitted: 6, Rejected: 1, Export: pipeline.ExportReport{Rows: 3}})
	for i, r := range []pipeline.Run{
		{ID: "run-a", Job: "st", Command: "run", StartedAt: now.Add(-3 * time.Hour), FinishedAt: now.Add(-3*time.Hour + 90*time.Second), ExitCode: 0, Summary: sum},
		{ID: "run-b", Job: "st", Command: "run", StartedAt: now.Add(-time.Hour)},   // killed: its worker's heartbeat is stale
		{ID: "run-c", Job: "st", Command: "run", StartedAt: now.Add(-time.Minute)}, // running: its worker heartbeats
	} {
		if err := st.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := st.FinishRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range []pipeline.Worker{
		{ID: "run-b", Job: "st", Name: "w0", Host: "h", PID: 10, Command: "run", RunID: "run-b", StartedAt: now.Add(-time.Hour), HeartbeatAt: now.Add(-50 * time.Minute)},
		{ID: "run-c", Job: "st", Name: "w1", Host: "h", PID: 11, Command: "run", RunID: "run-c", StartedAt: now.Add(-time.Minute), HeartbeatAt: now},
	} {
		if err := st.RegisterWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	cfgPath := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("job: st\nstore: %q\nresults: {poll_after: 30m}\n", dsn)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"status", "-c", cfgPath}, &out, &errOut); code != 0 {
		t.Fatalf("status exited %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"pending    4\n", "tokening   1\n", "submitted  3\n", "final      2\n", "rejected   1\n", "orphan     1\n", "total      12\n",
		"awaiting export: 2 ", "overdue results: 2 (submitted more than 30m0s ago",
		"oldest submitted " + old.Format(time.RFC3339),
		"possible orphan tokens: 1", fmt.Sprintf("  %-6d  %s  %s  %s (due: the next run)\n", all[6].ID, all[6].Ref, intent.Format(time.RFC3339), retryAt.Format(time.RFC3339)),
		"run-c   w1    h     11   alive", "run-b   w0    h     10   dead",
		"run-c  run      " + now.Add(-time.Minute).Format(time.RFC3339) + "  running   —",
		"run-b  run      " + now.Add(-time.Hour).Format(time.RFC3339) + "  killed    —",
		"run-a  run      " + now.Add(-3*time.Hour).Format(time.RFC3339) + "  1m30s     0     7 tokens, 6 submitted, 1 rejected, 0 failed, 3 exported",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "account API budget") {
		t.Errorf("status on SQLite (no account bucket) shows an account budget:\n%s", text)
	}
	if strings.Contains(text, "Jonas") || strings.Contains(text, "client-") {
		t.Errorf("status output holds personal data:\n%s", text)
	}
	if i, j := strings.Index(text, "run-b"), strings.Index(text, "run-a"); i < 0 || j < i {
		t.Errorf("runs not latest first:\n%s", text)
	}

	out.Reset()
	if code := run(ctx, []string{"status", "-c", cfgPath, "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("status -json exited %d: %s", code, errOut.String())
	}
	var s pipeline.Status
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out.String())
	}
	if s.Job != "st" || s.Total != 12 || s.States["pending"] != 4 || s.Overdue != 2 || s.AwaitingExport != 2 ||
		len(s.Orphans) != 1 || s.Orphans[0].ID != all[6].ID || s.Orphans[0].RetryAt.Sub(retryAt).Abs() > time.Millisecond || len(s.Runs) != 3 ||
		s.Runs[0].ID != "run-c" || s.Runs[0].State != "running" || s.Runs[1].ID != "run-b" || s.Runs[1].State != "killed" || s.Runs[1].ExitCode != nil ||
		s.Runs[2].ExitCode == nil || *s.Runs[2].ExitCode != 0 || s.Runs[2].State != "finished" || len(s.Workers) != 2 || s.Workers[1].State != "dead" ||
		s.Budget != nil || strings.Contains(out.String(), "account_budget") {
		t.Errorf("status -json: %+v", s)
	}

	// An empty job: zero counts, no runs.
	out.Reset()
	if code := run(ctx, []string{"status", "-c", cfgPath, "-job", "nothing"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "total      0\n") ||
		!strings.Contains(out.String(), "no runs recorded") {
		t.Errorf("status of an empty job (%d):\n%s", code, out.String())
	}
}

// On a PostgreSQL Store, status shows the account's API budget that every
// worker shares: the configured rate, the rate in force after 429s and
// until when, and the account's pause; and never the account's key.
func TestStatusAccountBudget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const apiKey = "status-test-api-key"
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("job: st\nstore: %q\nidenfy: {api_key: %s}\nlimits: {requests_per_hour: 3600}\n",
		pgtest.DSN(t, 2), apiKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	status := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(ctx, append([]string{"status", "-c", cfgPath}, args...), &out, &errOut); code != 0 {
			t.Fatalf("status %v exited %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	// No worker has run yet: no bucket, no section, and none created.
	if text := status(); strings.Contains(text, "account API budget") {
		t.Errorf("status before any run shows an account budget:\n%s", text)
	}
	name := setup.APIBudget(cfg).Name
	if _, _, found, err := st.Budget(ctx, name, time.Now()); err != nil || found {
		t.Fatalf("status created the account's bucket (found %v, %v)", found, err)
	}

	// After 429s: half the configured rate for 10 minutes, and 90 calls of
	// debt, paid at 0.5/s: paused for about 3 minutes.
	var until time.Time
	if err := st.UpdateBudget(ctx, name, time.Now(), func(b *pipeline.Budget, now time.Time) {
		until = now.Add(10 * time.Minute)
		b.Level, b.At, b.Factor, b.Until, b.LastCut = -90, now, 0.5, until, now
	}); err != nil {
		t.Fatal(err)
	}
	text := status()
	for _, want := range []string{
		"account API budget (shared by every worker of this iDenfy account):\n",
		"  configured rate: 3600 requests/hour\n",
		"  rate in force:   1800 requests/hour (50 % of the configured rate, lowered after 429s until " + until.UTC().Format(time.RFC3339) + ")\n",
		"  paused:          yes, after a 429: no worker calls the API until about ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, apiKey) || strings.Contains(text, strings.TrimPrefix(name, "api:")) {
		t.Errorf("status names the account:\n%s", text)
	}
	var s pipeline.Status
	if err := json.Unmarshal([]byte(status("-json")), &s); err != nil {
		t.Fatal(err)
	}
	b := s.Budget
	if b == nil || b.RatePerHour != 3600 || b.Factor != 0.5 || b.InForce != 1800 || b.LoweredUntil == nil || b.LoweredUntil.Sub(until).Abs() > time.Millisecond ||
		!b.Paused || b.PausedUntil == nil || b.PausedUntil.Sub(until.Add(-10*time.Minute+3*time.Minute)).Abs() > time.Millisecond {
		t.Errorf("status -json account_budget: %+v", b)
	}

	// The debt paid and the hold over: the configured rate, not paused.
	if err := st.UpdateBudget(ctx, name, time.Now(), func(b *pipeline.Budget, now time.Time) {
		b.Level, b.At, b.Until = 1, now, now.Add(-time.Second)
	}); err != nil {
		t.Fatal(err)
	}
	text = status()
	for _, want := range []string{"  rate in force:   3600 requests/hour (the configured rate)\n", "  paused:          no\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}
