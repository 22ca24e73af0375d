package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/setup"
)

// base is a config that passes Check; cases append one key.
const base = "job: x\nsource: {manifest: m.csv}\n"

// An end-to-end of config.TestStorePathRelativeToConfig through run(): a
// run from one directory, then status from another one, reads the same
// Store; and a fresh Store beside an export that holds the job's runs is
// refused.
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

// The same config run from two directories reads one manifest and writes
// one export, both beside the config file (cron starts in $HOME).
func TestManifestAndExportRelativeToConfig(t *testing.T) {
	t.Setenv("IDB_T_KEY", "k")
	t.Setenv("IDB_T_SECRET", "s")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	// One row without images: rejected at load, nothing is fetched or submitted.
	if err := os.WriteFile(filepath.Join(dir, "in", "m.csv"), []byte("client_id,front,face\nc1,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	yml := "job: rel\nsource: {manifest: in/m.csv}\nstore: sqlite://idbatch.db\n" +
		"idenfy: {api_key: ${IDB_T_KEY}, api_secret: ${IDB_T_SECRET}}\n" +
		"limits: {wait_for_results: 0, max_failure_ratio: 1}\nresults: {webhook_listen: \"\", poll_max_per_hour: 0}\n" +
		"export: {destination: out/}\n"
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, cwd := range []string{t.TempDir(), t.TempDir()} {
		t.Chdir(cwd)
		var out, errb bytes.Buffer
		if code := run(ctx, []string{"run", "-c", cfgPath}, &out, &errb); code != exitOK {
			t.Fatalf("run from %s: exit %d: %s", cwd, code, errb.String())
		}
		runs, _ := filepath.Glob(filepath.Join(dir, "out", "_runs", "job=rel", "run-*.json"))
		if len(runs) != i+1 {
			t.Errorf("after run %d from %s: %d run summaries under the config's out/, want %d", i+1, cwd, len(runs), i+1)
		}
		if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
			t.Errorf("run wrote into the working directory %s: %v", cwd, entries)
		}
	}
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "-c", cfgPath, "-json"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), `"rejected": 1`) {
		t.Errorf("status: exit %d: %s%s", code, out.String(), errb.String())
	}
}

func TestUsageAndExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code := run(context.Background(), []string{"run"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "-c config.yaml is required") {
		t.Errorf("run without -c: exit %d: %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"run", "-c", "/nonexistent.yaml"}, &out, &errb); code != exitFatal {
		t.Errorf("missing config: exit %d", code)
	}
}

// Every command's error reaches its exit code through exitCodeOf.
func TestExitCodeOf(t *testing.T) {
	fatal := errors.New("out of credits")
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{fmt.Errorf("run: %w", flag.ErrHelp), exitOK},
		{&usageError{msg: "-c config.yaml is required"}, exitUsage},
		{fmt.Errorf("config: %w", &usageError{msg: "x"}), exitUsage},
		{fatal, exitFatal},
		{withExitCode(exitOK, nil), exitOK},
		{withExitCode(exitOK, context.Canceled), exitFatal}, // an error the run did not end with an outcome
		{withExitCode(exitFatal, fatal), exitFatal},
		{withExitCode(exitTooManyFail, nil), exitTooManyFail},
		{withExitCode(exitInterrupted, context.Canceled), exitInterrupted},
	} {
		if got := exitCodeOf(c.err); got != c.want {
			t.Errorf("exitCodeOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if err := withExitCode(exitFatal, fatal); err != fatal {
		t.Errorf("a fatal error is returned as it is: %v", err)
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
		// After serve: a Store created by mistake would have let serve start.
		{[]string{"report", "-c", good}, exitFatal, "does not exist"},
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

// openStore opens the Store of dsn as run does (creating it), for tests
// that look into a run's Store.
func openStore(ctx context.Context, dsn string) (pipeline.Store, error) {
	return setup.OpenStore(ctx, dsn, setup.CreateStore)
}
