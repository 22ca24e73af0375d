package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/ingest/sample"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// crashLease is the lease the crash runs use (limits.lease): a killed run's
// records are taken over by the next run once it has passed.
const crashLease = 1500 * time.Millisecond

var (
	samplesMu sync.Mutex
	samples   = map[[2]int64]sample.Set{}
)

// crashSamples generates (once per size and seed) the sample records.
func crashSamples(n int, seed int64) sample.Set {
	samplesMu.Lock()
	defer samplesMu.Unlock()
	k := [2]int64{int64(n), seed}
	if s, ok := samples[k]; ok {
		return s
	}
	s := sample.Generate(sample.Options{N: n, Seed: seed, Broken: false})
	samples[k] = s
	return s
}

// crashEnv is one job on its own store, sandbox, manifest and export
// directory, run and killed again and again by one scenario.
type crashEnv struct {
	t       *testing.T
	dir     string
	cfgPath string
	storeDS string
	sb      *idenfytest.Server
	set     sample.Set
}

func newCrashEnv(t *testing.T, n int, seed int64, storeDSN string) *crashEnv {
	t.Helper()
	dir := t.TempDir()
	set := crashSamples(n, seed)
	src := filepath.Join(dir, "src")
	for _, o := range set.Objects {
		p := filepath.Join(src, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, o.Body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "manifest.csv"), set.ManifestCSV(), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := freeAddr(t)
	sb := idenfytest.New(idenfytest.Options{APIKey: "k", APISecret: "s", SigningKey: "sign", WebhookURL: "http://" + hook + "/webhooks/idenfy",
		AutoDelay: 20 * time.Millisecond, WebhookRetries: 2, WebhookRetryInterval: 200 * time.Millisecond})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if storeDSN == "" {
		storeDSN = "sqlite://" + filepath.Join(dir, "state.db")
	}
	cfg := fmt.Sprintf(`job: crash
source: {manifest: %s}
store: %q
idenfy: {base_url: %s, api_key: k, api_secret: s, webhook_signing_key: sign}
limits: {requests_per_hour: 360000, burst: 20, wait_for_results: 15s, lease: %s}
results: {webhook_listen: %q, poll_after: 1s, poll_max_per_hour: 36000, expect_manual_review: false}
export: {destination: %s}
log: {format: json, level: warn}
`, filepath.Join(src, "manifest.csv"), storeDSN, base, crashLease, hook, filepath.Join(dir, "export"))
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &crashEnv{t: t, dir: dir, cfgPath: cfgPath, storeDS: storeDSN, sb: sb, set: set}
}

// start starts `idbatch run` with env added to the environment.
func (e *crashEnv) start(ctx context.Context, env ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, binPath, "run", "-c", e.cfgPath)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &out
}

// killed reports whether a finished command was ended by SIGKILL.
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// crashAt runs idbatch with the crash point armed and requires that it
// killed itself there.
func (e *crashEnv) crashAt(point string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, out := e.start(ctx, pipeline.CrashEnv+"="+point)
	if err := cmd.Wait(); !killed(err) {
		e.t.Fatalf("run armed at %s was not killed there (%v):\n%s", point, err, out)
	}
}

// killAfter starts a run and SIGKILLs it after d (unless it finished before).
func (e *crashEnv) killAfter(d time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, out := e.start(ctx)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			e.t.Fatalf("run exited before its kill: %v\n%s", err, out)
		}
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}

// complete reruns idbatch, after the killed run's leases expired, until
// nothing is left to submit or wait for (at most 3 runs), each exiting 0.
func (e *crashEnv) complete() {
	e.t.Helper()
	for i := range 3 {
		time.Sleep(crashLease + 100*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t0 := time.Now()
		cmd, out := e.start(ctx)
		err := cmd.Wait()
		cancel()
		e.t.Logf("rerun %d: %v", i+1, time.Since(t0).Round(time.Millisecond))
		if err != nil {
			e.t.Fatalf("rerun %d: %v\n%s", i+1, err, out)
		}
		c := e.counts()
		if c[pipeline.StatePending]+c[pipeline.StateTokening]+c[pipeline.StateTokened]+c[pipeline.StateSubmitted] == 0 &&
			e.unexported() == 0 {
			return
		}
	}
	e.t.Errorf("not complete after 3 reruns: %v", e.counts())
}

func (e *crashEnv) openStore() pipeline.Store {
	e.t.Helper()
	st, err := openStore(e.t.Context(), e.storeDS)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *crashEnv) counts() map[pipeline.State]int {
	st := e.openStore()
	defer st.Close()
	c, err := st.Counts(e.t.Context(), "crash")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *crashEnv) unexported() int {
	st := e.openStore()
	defer st.Close()
	recs, err := st.List(e.t.Context(), pipeline.ListQuery{Job: "crash", States: []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed}, NotExported: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(recs)
}

// verify checks what the issue promises after any sequence of kills and a
// rerun to completion: zero records charged twice (the sandbox's billing),
// zero records lost, every record in an end state or carried over (an
// orphan, only where allowOrphans), and the Parquet output holding each
// ended record exactly once.
func (e *crashEnv) verify(allowOrphans bool) {
	t := e.t
	t.Helper()
	st := e.openStore()
	recs, err := st.List(t.Context(), pipeline.ListQuery{Job: "crash"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	byClient := map[string]pipeline.Record{}
	for _, r := range recs {
		byClient[r.Input.ClientID] = r
	}
	charges := e.sb.Charges()
	ended := map[string]bool{}
	for _, s := range e.set.Samples {
		r, ok := byClient[s.ClientID]
		if !ok {
			t.Errorf("record %s lost: not in the store", s.ClientID)
			continue
		}
		c := charges.PerClient[s.ClientID]
		if c.Tokens > 1 || c.Processes > 1 {
			t.Errorf("record %d charged twice: %d tokens, %d processes (scanRefs %v)", r.ID, c.Tokens, c.Processes, c.ScanRefs)
		}
		switch {
		case r.State.End():
			ended[s.ClientID] = true
			if r.State == pipeline.StateFinal && r.Outcome != pipeline.OutcomeExpired && c.Processes != 1 {
				t.Errorf("record %d is final (%s) with %d processes at the sandbox", r.ID, r.Outcome, c.Processes)
			}
		case r.State == pipeline.StateOrphan && allowOrphans:
			if c.Processes != 0 {
				t.Errorf("orphan record %d has %d processes at the sandbox", r.ID, c.Processes)
			}
		default:
			t.Errorf("record %d left in state %s (error %s)", r.ID, r.State, r.ErrorCode)
		}
	}
	if len(recs) != len(e.set.Samples) {
		t.Errorf("store holds %d records, the manifest %d", len(recs), len(e.set.Samples))
	}
	if charges.ProcessesAccepted > len(e.set.Samples) {
		t.Errorf("sandbox accepted %d processes for %d records", charges.ProcessesAccepted, len(e.set.Samples))
	}

	glob := filepath.Join(e.dir, "export") + "/**/*.parquet"
	if m, _ := filepath.Glob(filepath.Join(e.dir, "export", "*", "*", "*.parquet")); len(m) == 0 {
		if len(ended) > 0 {
			t.Errorf("%d records ended and no Parquet file was written", len(ended))
		}
		return
	}
	rows := exporttest.Query(t, fmt.Sprintf(`SELECT client_id, count(*) AS n FROM read_parquet('%s', hive_partitioning = true) GROUP BY client_id`, glob))
	inParquet := map[string]bool{}
	for _, r := range rows {
		id := fmt.Sprint(r["client_id"])
		inParquet[id] = true
		if n := fmt.Sprint(r["n"]); n != "1" {
			t.Errorf("record %d is %s times in the Parquet output", byClient[id].ID, n)
		}
		if !ended[id] {
			t.Errorf("record %d is in the Parquet output but in state %s", byClient[id].ID, byClient[id].State)
		}
	}
	for id := range ended {
		if !inParquet[id] {
			t.Errorf("ended record %d (%s) is not in the Parquet output", byClient[id].ID, byClient[id].State)
		}
	}
}

// TestCrashAtEveryPoint kills `idbatch run` with SIGKILL at each crash
// point of the submit and export paths, reruns it to completion and checks
// that nothing was charged twice, lost or exported twice.
func TestCrashAtEveryPoint(t *testing.T) {
	exporttest.Available(t)
	for _, point := range []string{
		pipeline.CrashBeforeToken, pipeline.CrashAfterToken, pipeline.CrashAfterTokenStored,
		pipeline.CrashAfterProcess, pipeline.CrashBeforeExport, pipeline.CrashExportCommitted,
	} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			e := newCrashEnv(t, 6, 100, "")
			t.Logf("env: %v", time.Since(t0).Round(time.Millisecond))
			// Third time the point is reached: some records are through, one
			// dies there, others are in flight.
			arm := point + ":3"
			if point == pipeline.CrashBeforeExport || point == pipeline.CrashExportCommitted {
				arm = point
			}
			t0 = time.Now()
			e.crashAt(arm)
			t.Logf("crash run: %v", time.Since(t0).Round(time.Millisecond))
			e.complete()
			// A record killed between its intent and its stored token (the
			// one armed, or another in flight at the kill) is an orphan: it
			// may hold a token at iDenfy and is never given a second one.
			t0 = time.Now()
			e.verify(true)
			t.Logf("verify: %v", time.Since(t0).Round(time.Millisecond))
			c := e.counts()
			if (point == pipeline.CrashBeforeToken || point == pipeline.CrashAfterToken) && c[pipeline.StateOrphan] == 0 {
				t.Errorf("killed between intent and stored token: no orphan (%v)", c)
			}
			if point == pipeline.CrashBeforeExport || point == pipeline.CrashExportCommitted {
				// Killed after every record was through: nothing in flight.
				if c[pipeline.StateOrphan] != 0 || c[pipeline.StateFinal] != len(e.set.Samples) {
					t.Errorf("killed at export: %v, want every record final", c)
				}
			}
		})
	}
}

// TestCrashAtRandomMoments kills runs at random instants, several times in
// a row on one job, then reruns it to completion; on SQLite, and on
// PostgreSQL when the test cluster is there.
func TestCrashAtRandomMoments(t *testing.T) {
	exporttest.Available(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return pgtest.DSN(t, 4) },
	}
	for name, dsn := range stores {
		kills := make([]time.Duration, 5)
		for i := range kills {
			kills[i] = time.Duration(50+rng.IntN(1200)) * time.Millisecond
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newCrashEnv(t, 10, seed%1000, dsn(t))
			for _, d := range kills {
				e.killAfter(d)
			}
			e.complete()
			e.verify(true)
		})
	}
}

// TestWorkersShareOnePostgresJob runs the scale-out of DESIGN.md: several
// `idbatch run` processes on one job in one PostgreSQL Store, started
// together (each with its own webhook receiver; the sandbox calls the
// first's). They split the records, and each ends with an export of what
// it finds ended: nothing is charged twice and each record is in exactly
// one Parquet file.
func TestWorkersShareOnePostgresJob(t *testing.T) {
	exporttest.Available(t)
	t.Parallel()
	e := newCrashEnv(t, 16, 300, pgtest.DSN(t, 4))
	base, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type worker struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	var workers []worker
	for i := range 3 {
		cfg := e.cfgPath
		if i > 0 { // its own receiver, unused by the sandbox
			hook := freeAddr(t)
			cfg = filepath.Join(e.dir, fmt.Sprintf("worker%d.yaml", i))
			b := regexp.MustCompile(`webhook_listen: "[^"]*"`).ReplaceAll(base, []byte(`webhook_listen: "`+hook+`"`))
			if err := os.WriteFile(cfg, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.CommandContext(ctx, binPath, "run", "-c", cfg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, worker{cmd, &out})
	}
	for i, w := range workers {
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, w.out)
		}
	}
	e.complete()
	e.verify(false)
	if c := e.sb.Charges(); c.ProcessesAccepted != len(e.set.Samples) {
		t.Errorf("%d processes accepted for %d records", c.ProcessesAccepted, len(e.set.Samples))
	}
}
