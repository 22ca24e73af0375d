package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// base is a config that passes check(); cases append one key.
const base = "job: x\nsource: {manifest: m.csv}\n"

func checkYAML(t *testing.T, yml string) (Config, error) {
	t.Helper()
	cfg, err := parseConfig(Defaults(), []byte(yml), "t.yaml")
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.check()
}

func TestConfigRangesNameTheKey(t *testing.T) {
	cases := map[string]string{
		"limits: {max_attempts: -1}":       "limits.max_attempts must be between 1 and 100, got -1",
		"limits: {max_attempts: 0}":        "limits.max_attempts: must be between 1 and 100, got 0",
		"limits: {lease: 1ns}":             "limits.lease: must be between 1s and 24h, got 1ns",
		"limits: {max_duration: -5s}":      "limits.max_duration: must be 0 (no limit) or between 1s and 720h, got -5s",
		"limits: {wait_for_results: -1m}":  "limits.wait_for_results: must be 0 (do not wait) or between",
		"limits: {requests_per_hour: 0}":   "limits.requests_per_hour: must be above 0",
		"limits: {burst: 0}":               "limits.burst: must be between 1 and 1000, got 0",
		"limits: {max_submissions: -3}":    "limits.max_submissions: must be between 0 and",
		"limits: {max_failure_ratio: 1.5}": "limits.max_failure_ratio: must be between 0 and 1, got 1.5",
		"normalize: {workers: 0}":          "normalize.workers: must be between 1 and 256, got 0",
		"normalize: {jpeg_quality: 101}":   "normalize.jpeg_quality: must be between 30 and 100, got 101",
		"limits: {orphan_margin: -1s}":     "limits.orphan_margin: must be between 0 and 24h, got -1s",
		"results: {poll_after: -1s}":       "results.poll_after: must be between 1s and 720h, got -1s",
		"results: {poll_max_per_hour: -1}": "results.poll_max_per_hour: must be between 0 and",
		"idenfy: {token: {expiryTime: 0}}": "idenfy.token.expiryTime: must be a number of seconds",
		"store: mysql://u:hunter2@db/x":    "store: \"mysql://u:xxxxx@db/x\" is not a Store DSN; use sqlite://PATH",
	}
	for extra, want := range cases {
		_, err := checkYAML(t, base+extra+"\n")
		want = strings.Replace(want, "limits.max_attempts must", "limits.max_attempts: must", 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", extra, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: password shown: %v", extra, err)
		}
	}
	// 0 keeps its meaning; max_object_bytes 0 is the default.
	if _, err := checkYAML(t, "job: x\nsource: {manifest: m.csv, s3: {max_object_bytes: -1}}\n"); err == nil ||
		!strings.Contains(err.Error(), "source.s3.max_object_bytes: must be between 1 and") {
		t.Errorf("max_object_bytes -1: %v", err)
	}
	cfg, err := checkYAML(t, "job: x\nlimits: {max_duration: 0, wait_for_results: 0}\nsource: {manifest: m.csv, s3: {max_object_bytes: 0}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxDuration != 0 || cfg.Limits.WaitForResults != 0 || cfg.Source.S3.MaxObjectBytes != 50<<20 {
		t.Errorf("zeros read as %v %v %d", cfg.Limits.MaxDuration, cfg.Limits.WaitForResults, cfg.Source.S3.MaxObjectBytes)
	}
}

func TestConfigKeysAndTypes(t *testing.T) {
	cases := map[string]string{
		"limits: {max_failure_ration: 0.1}":      "limits.max_failure_ration: unknown key (line 3); did you mean limits.max_failure_ratio?",
		"max_attempts: 3":                        "max_attempts: unknown key (line 3); did you mean limits.max_attempts?",
		"limits: {wait_for_results: 1 minute}":   `limits.wait_for_results: "1 minute" is not a duration (examples: 90s, 10m, 1h30m)`,
		"limits: {lease: 600}":                   `limits.lease: "600" is not a duration`,
		"limits: {burst: three}":                 `limits.burst: "three" is not a whole number`,
		"results: {expect_manual_review: maybe}": `results.expect_manual_review: "maybe" is not true or false`,
		"limits: 5":                              `limits: expected a mapping of keys`,
		"export: {destination: [a, b]}":          `export.destination: expected a string, got a list`,
		"limits: {max_failure_ratio: a lot}":     `limits.max_failure_ratio: "a lot" is not a number`,
		"normalize: {max_sid: 100, workers: 2}":  "normalize.max_sid: unknown key (line 3); did you mean normalize.max_side?",
	}
	for extra, want := range cases {
		_, err := checkYAML(t, base+extra+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", extra, err, want)
		}
	}
}

func TestConfigEnv(t *testing.T) {
	t.Setenv("IDB_T_DEST", "/tmp/x y#z")
	t.Setenv("IDB_T_EMPTY", "")
	// ${VAR} in a flow mapping, a value with YAML syntax in it, an empty value.
	cfg, err := checkYAML(t, base+"export: {destination: ${IDB_T_DEST}}\nresults: {webhook_listen: ${IDB_T_EMPTY}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Export.Destination != "/tmp/x y#z" || cfg.Results.WebhookListen != "" {
		t.Errorf("expanded to %q, %q", cfg.Export.Destination, cfg.Results.WebhookListen)
	}
	// An unset variable is named, with its key.
	_, err = checkYAML(t, base+"export: {destination: ${IDB_T_UNSET_DEST}}\n")
	if err == nil || !strings.Contains(err.Error(), "export.destination: ${IDB_T_UNSET_DEST} is not set in the environment") {
		t.Errorf("unset variable: %v", err)
	}
	// Credentials may stay unset for commands without API calls, not for run.
	cfg, err = checkYAML(t, base+"idenfy:\n  api_key: ${IDB_T_UNSET_KEY}\n  api_secret: s\nresults: {webhook_listen: \"\"}\n")
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := cfg.Validate(true); err == nil || !strings.Contains(err.Error(), "idenfy.api_key: ${IDB_T_UNSET_KEY} is not set in the environment") {
		t.Errorf("Validate: %v", err)
	}
	// Literal secrets: a warning naming the key, never the value.
	cfg, _ = checkYAML(t, "job: x\nidenfy: {api_key: hunter2-literal, api_secret: ${X}}\nsource: {manifest: m.csv, s3: {secret_access_key: aws-literal}}\n")
	w := strings.Join(cfg.warnings, "\n")
	if !strings.Contains(w, "idenfy.api_key is written in the file") || !strings.Contains(w, "source.s3.secret_access_key is written in the file") ||
		strings.Contains(w, "api_secret") || strings.Contains(w, "hunter2") || strings.Contains(w, "aws-literal") {
		t.Errorf("warnings: %s", w)
	}
}

func TestJobNames(t *testing.T) {
	for _, ok := range []string{"legacy-2019", "a", "A.b_c-9", strings.Repeat("x", 64), "-x"} {
		if err := checkJobName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".x", "_deletions", "x/../../_deletions/job=other", "a\nb", "a b", "x=y", strings.Repeat("x", 65), "é"} {
		if err := checkJobName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := checkYAML(t, "job: ../other\nsource: {manifest: m.csv}\n"); err == nil || !strings.Contains(err.Error(), "job: \"../other\" is not a job name") {
		t.Errorf("job in the file: %v", err)
	}
}

func TestRedactDSNs(t *testing.T) {
	cases := []struct{ in, want, secret string }{
		{"postgres://user:hunter2@db:5432/x", "postgres://user:xxxxx@db:5432/x", "hunter2"},
		{"postgres://user:p@ss@w0rd@db/x?sslmode=require", "postgres://user:xxxxx@db/x?sslmode=require", "ss@w0rd"},
		{"postgresql://u:a/b?c@db/x", "postgresql://u:xxxxx@db/x", "a/b"},
		{"postgres://u@db/x?password=hunter2&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable", "hunter2"},
		{"postgres://db/x?sslpassword=kp1&sslkey=/k.pem&application_name=a@b", "postgres://db/x?sslpassword=xxxxx&sslkey=xxxxx&application_name=a@b", "kp1"},
		{"postgres://u@db/x", "postgres://u@db/x", ""},
		{"host=db user=u password='se cret' dbname=x", "host=db user=u password=xxxxx dbname=x", "se cret"},
		{"sqlite:///var/lib/a@b.db", "sqlite:///var/lib/a@b.db", ""},
	}
	for _, c := range cases {
		got := redactDSN(c.in)
		if got != c.want || (c.secret != "" && strings.Contains(got, c.secret)) {
			t.Errorf("redactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	dsn := "postgres://u:s%40cret-1@db/x"
	err := redactError(fmt.Errorf("cannot parse `%s`: failed for s@cret-1: %w", dsn, context.DeadlineExceeded), dsn)
	if strings.Contains(err.Error(), "cret-1") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("redactError: %v", err)
	}
}

// The same config names one Store from any working directory.
func TestStorePathRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conf", "idbatch.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(base), 0o600); err != nil { // store: default sqlite://./idbatch.db
		t.Fatal(err)
	}
	want := "sqlite://" + filepath.Join(dir, "conf", "idbatch.db")
	for _, cwd := range []string{dir, filepath.Join(dir, "conf")} {
		t.Chdir(cwd)
		rel, _ := filepath.Rel(cwd, cfgPath)
		cfg, err := LoadConfig(rel)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store != want {
			t.Errorf("from %s: store %s, want %s", cwd, cfg.Store, want)
		}
	}
	if got := resolveStoreDSN("sqlite:///abs/x.db", dir); got != "sqlite:///abs/x.db" {
		t.Errorf("absolute path moved: %s", got)
	}
	if got := resolveStoreDSN("postgres://db/x", dir); got != "postgres://db/x" {
		t.Errorf("postgres DSN changed: %s", got)
	}
}

// An end-to-end of the above through run(): a run from one directory, then
// status from another one, reads the same Store; and a fresh Store beside
// an export that holds the job's runs is refused.
func TestOneStoreFromTwoDirectories(t *testing.T) {
	t.Setenv("IDB_T_KEY", "k")
	t.Setenv("IDB_T_SECRET", "s")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(filepath.Join(dir, "m.csv"), []byte("client_id,front,face\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := "job: two\nsource: {manifest: " + filepath.Join(dir, "m.csv") + "}\nstore: sqlite://state/idbatch.db\n" +
		"idenfy: {api_key: ${IDB_T_KEY}, api_secret: ${IDB_T_SECRET}}\n" +
		"limits: {wait_for_results: 0}\nresults: {webhook_listen: \"\", poll_max_per_hour: 0}\n" +
		"export: {destination: " + filepath.Join(dir, "exports") + "}\n"
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	t.Chdir(other)
	if code := run(ctx, []string{"run", "-c", cfgPath}, &out, &errb); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "idbatch.db")); err != nil {
		t.Fatalf("store not beside the config: %v", err)
	}
	t.Chdir(dir)
	out.Reset()
	if code := run(ctx, []string{"status", "-c", "idbatch.yaml"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "command") {
		t.Fatalf("status from the config's directory: exit %d: %s%s", code, out.String(), errb.String())
	}

	// A new Store (another path) beside the export of the job's runs.
	errb.Reset()
	code := run(ctx, []string{"run", "-c", cfgPath, "-store", "sqlite://" + filepath.Join(other, "new.db")}, &out, &errb)
	if code != exitFatal || !strings.Contains(errb.String(), "has never seen job two, but the export destination holds 1 of its runs") ||
		!strings.Contains(errb.String(), "-new-store") {
		t.Errorf("new Store beside the job's runs: exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run(ctx, []string{"run", "-c", cfgPath, "-new-store", "-store", "sqlite://" + filepath.Join(other, "new.db")}, &out, &errb); code != exitOK {
		t.Errorf("-new-store: exit %d: %s", code, errb.String())
	}
}

func TestMisuseMessagesAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", base+"store: sqlite://"+filepath.Join(dir, "nonexistent", "x.db")+"\n")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"delete", "-c", good, "-job", "x/../../_deletions/job=other", "-older-than", "30d"}, exitUsage, `-job: "x/../../_deletions/job=other" is not a job name`},
		{[]string{"status", "-c", good, "-job", "a\nb"}, exitUsage, "is not a job name"},
		{[]string{"status", "-c", good}, exitFatal, "does not exist (no run has created it)"},
		{[]string{"export", "-c", good}, exitFatal, "does not exist"},
		{[]string{"delete", "-c", good, "-older-than", "30d", "-dry-run"}, exitFatal, "does not exist"},
		{[]string{"serve", "-c", write("serve.yaml", base+"store: sqlite://"+filepath.Join(dir, "nonexistent", "x.db")+"\nidenfy: {webhook_signing_key: k}\n"),
			"-listen", "127.0.0.1:0", "-poll=false"}, exitFatal, "does not exist"},
		{[]string{"status", "-c", write("lease.yaml", base+"limits: {lease: 1ns}\n")}, exitFatal, "limits.lease: must be between 1s and 24h, got 1ns"},
		{[]string{"status", "-c", write("typo.yaml", base+"limits: {max_failure_ration: 1}\n")}, exitFatal, "did you mean limits.max_failure_ratio?"},
		{[]string{"status", "-c", good, "-store", "mysql://u:pw@h/x"}, exitUsage, "postgresql://"},
		{[]string{"run", "-c", good, "-wait-for-results", "-5s"}, exitUsage, "-wait-for-results must be 0 (do not wait) or more"},
		{[]string{"serve", "-c", write("whk.yaml", base+"idenfy: {webhook_signing_key: ${IDB_T_UNSET_WHK}}\n"), "-poll=false"}, exitFatal,
			"idenfy.webhook_signing_key: ${IDB_T_UNSET_WHK} is not set in the environment"},
		{[]string{"delete", "-c", write("key.yaml", base+"idenfy: {api_key: ${IDB_T_UNSET_KEY}, api_secret: s}\n"), "-older-than", "30d"}, exitFatal,
			"idenfy.api_key: ${IDB_T_UNSET_KEY} is not set in the environment"},
		{[]string{"stats"}, exitUsage, "did you mean status?"},
		{[]string{"completion", "tcsh"}, exitUsage, "bash, zsh or fish"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d (want %d): %s", c.args, code, c.code, errb.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nonexistent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a command other than run created the Store's directory: %v", err)
	}
}

func TestExitCodeCountsOnlyWhatTheRunEnded(t *testing.T) {
	states := func(rej, fin int) map[pipeline.State]int {
		return map[pipeline.State]int{pipeline.StateRejected: rej, pipeline.StateFinal: fin}
	}
	// A run beside another one exported 3 REJECTED rows it did not end.
	sum := pipeline.Summary{States: states(3, 0), Export: pipeline.ExportReport{Rows: 3, ByOutcome: map[string]int{"REJECTED": 3}}}
	if e := countEnded(sum, states(3, 0), states(3, 0)); exitCode(sum, nil, 0.2, e) != exitOK {
		t.Errorf("a run that ended nothing: exit %d (%+v)", exitCode(sum, nil, 0.2, e), e)
	}
	// It rejected 1 image and got 1 final result: 50 % > 20 %.
	sum = pipeline.Summary{Rejected: 1, States: states(4, 1)}
	if e := countEnded(sum, states(3, 0), states(3, 0)); e != (endedInRun{Bad: 1, Final: 1}) || exitCode(sum, nil, 0.2, e) != exitTooManyFail {
		t.Errorf("1 bad of 2: %+v exit %d", e, exitCode(sum, nil, 0.2, e))
	}
	// Bad manifest rows it loaded count; results it did not wait for do not.
	sum = pipeline.Summary{States: states(2, 10)}
	if e := countEnded(sum, states(0, 10), states(2, 10)); e != (endedInRun{Bad: 2}) || exitCode(sum, nil, 0.5, e) != exitTooManyFail {
		t.Errorf("bad rows: %+v", e)
	}
	if exitCode(pipeline.Summary{Interrupted: true}, context.Canceled, 0.2, endedInRun{Bad: 9}) != exitInterrupted {
		t.Error("interrupted")
	}
}

func TestHelpVersionCompletion(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"help"}, &out, &errb); code != exitOK {
		t.Fatalf("help: exit %d", code)
	}
	for _, c := range []string{"run", "demo", "validate", "status", "export", "delete", "serve", "sandbox", "version", "completion"} {
		if !strings.Contains(out.String(), "\n  "+c+" ") {
			t.Errorf("global help lacks %s:\n%s", c, out.String())
		}
	}
	for _, c := range commands {
		out.Reset()
		if code := run(ctx, []string{"help", c.name}, &out, &errb); code != exitOK {
			t.Errorf("help %s: exit %d", c.name, code)
		}
		h := out.String()
		if !strings.Contains(h, "Examples:\n  ") || strings.Contains(h, "(default -1") || strings.Contains(h, "m0s)") || strings.Contains(h, "ns)") {
			t.Errorf("help %s:\n%s", c.name, h)
		}
	}
	out.Reset()
	errb.Reset()
	if code := run(ctx, []string{"sandbox", "-h"}, &out, &errb); code != exitOK || !strings.Contains(errb.String(), "(default 10s)") ||
		!strings.Contains(errb.String(), "-addr string") {
		t.Errorf("sandbox -h: exit %d:\n%s", code, errb.String())
	}
	out.Reset()
	if run(ctx, []string{"version"}, &out, &errb) != exitOK || !strings.Contains(out.String(), "go       go1.") {
		t.Errorf("version: %s", out.String())
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out.Reset()
		if code := run(ctx, []string{"completion", sh}, &out, &errb); code != exitOK {
			t.Errorf("completion %s: exit %d", sh, code)
		}
		for _, want := range []string{"delete", "-older-than", "-new-store", "-compact-threshold", "completion"} {
			w := want
			if sh == "fish" {
				w = strings.TrimPrefix(want, "-")
			}
			if !strings.Contains(out.String(), w) {
				t.Errorf("completion %s lacks %s", sh, want)
			}
		}
	}
}
