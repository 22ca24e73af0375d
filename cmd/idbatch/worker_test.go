package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

func TestWorkerFlagResolvedByParseFlags(t *testing.T) {
	t.Setenv(config.EnvK8sIndex, "4")
	t.Setenv(config.EnvBatchIndex, "")
	var cf commonFlags
	fs := newFlagSet("export", &bytes.Buffer{}, &cf)
	w := addWorkerFlag(fs)
	if err := parseFlags(fs, []string{"-c", "x.yaml"}); err != nil {
		t.Fatal(err)
	}
	if w.label() != "w4" || w.index != 4 {
		t.Errorf("from %s=4: got %q (%d), want w4", config.EnvK8sIndex, w.label(), w.index)
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
		{args: []string{"run", "-c", "none.yaml"}, env: "x1", source: config.EnvK8sIndex},
	} {
		t.Setenv(config.EnvK8sIndex, tc.env)
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.source) {
			t.Errorf("%v with %s=%q: exit %d, stderr %q; want exit %d naming %s", tc.args, config.EnvK8sIndex, tc.env, code, errb.String(), exitUsage, tc.source)
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
		t.Setenv(config.EnvK8sIndex, "")
		t.Setenv(config.EnvBatchIndex, tc.env)
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
			t.Errorf("export %v with %s=%s: part files %v, want one ending in %s", tc.args, config.EnvBatchIndex, tc.env, files, tc.want)
		}
	}
}

// TestRunRegistersAndLabelsTheWorker: `run -worker 5` registers w5 in the
// Store's worker registry and writes part-<run_id>-w5.parquet. The manifest's
// one row is rejected before any API call, so no API is needed.
func TestRunRegistersAndLabelsTheWorker(t *testing.T) {
	t.Setenv(config.EnvK8sIndex, "2") // the flag wins
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
