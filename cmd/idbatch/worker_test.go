package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

func TestWorkerIndex(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		flag      string
		env       map[string]string
		index     int
		name      string
		errSource string // non-empty: an error naming this source
	}{
		{desc: "nothing set", index: 0, name: "w0"},
		{desc: "flag", flag: "3", index: 3, name: "w3"},
		{desc: "flag beats both envs", flag: "2", env: map[string]string{envK8sIndex: "5", envBatchIndex: "7"}, index: 2, name: "w2"},
		{desc: "kubernetes", env: map[string]string{envK8sIndex: "5"}, index: 5, name: "w5"},
		{desc: "kubernetes beats batch", env: map[string]string{envK8sIndex: "5", envBatchIndex: "7"}, index: 5, name: "w5"},
		{desc: "batch", env: map[string]string{envBatchIndex: "7"}, index: 7, name: "w7"},
		{desc: "zero is a real index", env: map[string]string{envK8sIndex: "0", envBatchIndex: "7"}, index: 0, name: "w0"},
		{desc: "spaces around are trimmed", env: map[string]string{envBatchIndex: " 12\n"}, index: 12, name: "w12"},
		{desc: "large", flag: "9999", index: 9999, name: "w9999"},
		{desc: "negative flag", flag: "-1", errSource: "-worker"},
		{desc: "word flag", flag: "one", errSource: "-worker"},
		{desc: "float flag", flag: "1.5", errSource: "-worker"},
		{desc: "bad kubernetes index does not fall through to batch", env: map[string]string{envK8sIndex: "x", envBatchIndex: "7"}, errSource: envK8sIndex},
		{desc: "bad batch index", env: map[string]string{envBatchIndex: "-3"}, errSource: envBatchIndex},
		{desc: "overflow", flag: "99999999999999999999", errSource: "-worker"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			index, name, err := workerIndex(tc.flag, getenv)
			if tc.errSource != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSource) {
					t.Fatalf("workerIndex(%q, %v) = %d, %q, %v; want an error naming %s", tc.flag, tc.env, index, name, err, tc.errSource)
				}
				return
			}
			if err != nil || index != tc.index || name != tc.name {
				t.Fatalf("workerIndex(%q, %v) = %d, %q, %v; want %d, %q", tc.flag, tc.env, index, name, err, tc.index, tc.name)
			}
		})
	}
}

func TestWorkerFlagResolvedByParseFlags(t *testing.T) {
	t.Setenv(envK8sIndex, "4")
	t.Setenv(envBatchIndex, "")
	var cf commonFlags
	fs := newFlagSet("export", &bytes.Buffer{}, &cf)
	w := addWorkerFlag(fs)
	if err := parseFlags(fs, []string{"-c", "x.yaml"}); err != nil {
		t.Fatal(err)
	}
	if w.label() != "w4" || w.index != 4 {
		t.Errorf("from %s=4: got %q (%d), want w4", envK8sIndex, w.label(), w.index)
	}
	w = addWorkerFlag(newFlagSet("export", &bytes.Buffer{}, &cf))
	if (*workerFlag)(nil).label() != "w0" || w.label() != "w0" {
		t.Errorf("unresolved or nil worker: want w0")
	}
}

func TestBadWorkerIsAUsageError(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		env    string
		source string
	}{
		{args: []string{"run", "-c", "none.yaml", "-worker", "abc"}, source: "-worker"},
		{args: []string{"export", "-c", "none.yaml", "-worker", "-2"}, source: "-worker"},
		{args: []string{"run", "-c", "none.yaml"}, env: "x1", source: envK8sIndex},
	} {
		t.Setenv(envK8sIndex, tc.env)
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.source) {
			t.Errorf("%v with %s=%q: exit %d, stderr %q; want exit %d naming %s", tc.args, envK8sIndex, tc.env, code, errb.String(), exitUsage, tc.source)
		}
	}
}

// TestExportPartFileNamedByWorker: `export -worker 3` (and a Batch array
// index) write part-<run_id>-w<N>.parquet.
func TestExportPartFileNamedByWorker(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"-worker", "3"}, env: "9", want: "-w3.parquet"},
		{env: "6", want: "-w6.parquet"},
	} {
		t.Setenv(envK8sIndex, "")
		t.Setenv(envBatchIndex, tc.env)
		dir := t.TempDir()
		dsn := "sqlite://" + filepath.Join(dir, "s.db")
		st, err := sqlitestore.OpenDSN(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		rec := pipeline.Record{Key: "c1", Ref: "ref-c1", Line: 2, Input: pipeline.Input{ClientID: "c1"},
			State: pipeline.StateRejected, RejectReason: "bad_country"}
		if _, err := st.Load(context.Background(), "wjob", []pipeline.Record{rec}, time.Now()); err != nil {
			t.Fatal(err)
		}
		st.Close()
		cfgPath := filepath.Join(dir, "c.yaml")
		cfg := "job: wjob\nsource: {manifest: m.csv}\nstore: " + dsn + "\nexport: {destination: " + filepath.Join(dir, "out") + "}\nlog: {format: json}\n"
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"export", "-c", cfgPath}, tc.args...), &out, &errb); code != exitOK {
			t.Fatalf("export %v: exit %d: %s", tc.args, code, errb.String())
		}
		files, _ := filepath.Glob(filepath.Join(dir, "out", "job=wjob", "dt=*", "part-*.parquet"))
		if len(files) != 1 || !strings.HasSuffix(files[0], tc.want) {
			t.Errorf("export %v with %s=%s: part files %v, want one ending in %s", tc.args, envBatchIndex, tc.env, files, tc.want)
		}
	}
}

// TestRunRegistersAndLabelsTheWorker: `run -worker 5` registers w5 in the
// Store's worker registry and writes part-<run_id>-w5.parquet. The manifest's
// one row is rejected before any API call, so no API is needed.
func TestRunRegistersAndLabelsTheWorker(t *testing.T) {
	t.Setenv(envK8sIndex, "2") // the flag wins
	t.Setenv("IDENFY_API_KEY", "k")
	t.Setenv("IDENFY_API_SECRET", "s")
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte("client_id,country,document_type,front,face\nc1,XX,ID_CARD,f.jpg,s.jpg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(dir, "s.db")
	cfgPath := filepath.Join(dir, "c.yaml")
	cfg := "job: wrun\nsource: {manifest: " + manifest + "}\nstore: " + dsn + "\nidenfy: {api_key: '${IDENFY_API_KEY}', api_secret: '${IDENFY_API_SECRET}', base_url: 'http://127.0.0.1:1'}\n" +
		"results: {webhook_listen: '', poll_max_per_hour: 0}\nlimits: {wait_for_results: 1s}\nexport: {destination: " + filepath.Join(dir, "out") + "}\nlog: {format: json}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "-c", cfgPath, "-worker", "5"}, &out, &errb)
	if code != exitOK && code != exitTooManyFail {
		t.Fatalf("run -worker 5: exit %d: %s", code, errb.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "job=wrun", "dt=*", "part-*.parquet"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "-w5.parquet") {
		t.Errorf("part files %v, want one ending in -w5.parquet", files)
	}
	if !strings.Contains(errb.String(), `"worker":"w5"`) {
		t.Errorf("log lines carry no \"worker\":\"w5\":\n%s", errb.String())
	}
	st, err := sqlitestore.OpenDSN(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ws, err := st.Workers(context.Background(), "wrun", 0)
	if err != nil || len(ws) != 1 || ws[0].Name != "w5" {
		t.Errorf("worker registry: %+v, %v; want one worker named w5", ws, err)
	}
}
