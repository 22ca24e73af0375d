package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// base is a config that passes Check(); cases append one key.
const base = "job: x\nsource: {manifest: m.csv}\n"

func checkYAML(t *testing.T, yml string) (Config, error) {
	t.Helper()
	cfg, err := parse(Defaults(), []byte(yml), "t.yaml")
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Check()
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
		if err := CheckJobName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".x", "_deletions", "x/../../_deletions/job=other", "a\nb", "a b", "x=y", strings.Repeat("x", 65), "é"} {
		if err := CheckJobName(bad); err == nil {
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
		got := RedactDSN(c.in)
		if got != c.want || (c.secret != "" && strings.Contains(got, c.secret)) {
			t.Errorf("RedactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	dsn := "postgres://u:s%40cret-1@db/x"
	err := RedactError(fmt.Errorf("cannot parse `%s`: failed for s@cret-1: %w", dsn, context.DeadlineExceeded), dsn)
	if strings.Contains(err.Error(), "cret-1") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RedactError: %v", err)
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
		cfg, err := Load(rel)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store != want {
			t.Errorf("from %s: store %s, want %s", cwd, cfg.Store, want)
		}
	}
	if got := ResolveStoreDSN("sqlite:///abs/x.db", dir); got != "sqlite:///abs/x.db" {
		t.Errorf("absolute path moved: %s", got)
	}
	if got := ResolveStoreDSN("postgres://db/x", dir); got != "postgres://db/x" {
		t.Errorf("postgres DSN changed: %s", got)
	}
}

// A relative local manifest and export destination are read from the
// config file's directory too; URIs and absolute paths are kept.
func TestLocalPathsRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conf", "idbatch.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(yml string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("job: x\nsource: {manifest: in/m.csv, local_root: images}\nexport: {destination: ./out/}\n")
	for _, cwd := range []string{dir, filepath.Join(dir, "conf"), t.TempDir()} {
		t.Chdir(cwd)
		rel, _ := filepath.Rel(cwd, cfgPath)
		cfg, err := Load(rel)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "conf", "in", "m.csv"); cfg.Source.Manifest != want {
			t.Errorf("from %s: manifest %s, want %s", cwd, cfg.Source.Manifest, want)
		}
		if want := filepath.Join(dir, "conf", "out") + "/"; cfg.Export.Destination != want {
			t.Errorf("from %s: destination %s, want %s", cwd, cfg.Export.Destination, want)
		}
		if want := filepath.Join(dir, "conf", "images"); cfg.Source.LocalRoot != want {
			t.Errorf("from %s: local_root %s, want %s", cwd, cfg.Source.LocalRoot, want)
		}
	}
	// The default destination (./exports/) is the config's too.
	write("job: x\nsource: {manifest: s3://b/m.csv}\n")
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "conf", "exports") + "/"; cfg.Export.Destination != want || cfg.Source.Manifest != "s3://b/m.csv" {
		t.Errorf("default destination %s (want %s), manifest %s", cfg.Export.Destination, want, cfg.Source.Manifest)
	}
	for _, p := range []string{"s3://b/exports/", "file:///srv/x", "/abs/exports", ""} {
		if got := resolveLocalPath(p, dir); got != p {
			t.Errorf("%q moved to %q", p, got)
		}
	}
}
