package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// binPath is the idbatch binary TestMain built for every test of the package.
var binPath string

// uninstrumentedPkgs are the packages (go build patterns) of the binary that
// TestMain compiles without the race detector's instrumentation.
var uninstrumentedPkgs = []string{"image/...", "golang.org/x/image/...", "compress/...", "hash/..."}

// TestMain builds idbatch once, with the race detector (a data race in a
// process the tests drive fails its run: the race runtime exits 66) and with
// the crash points compiled in. With -bench it builds without -race: the
// benchmarks measure the CPU and the throughput of what is released.
//
// Every package of idbatch and its dependencies is instrumented except the
// standard library's and x/image's image codecs and compressors
// (uninstrumentedPkgs): byte and pixel loops that one goroutine runs per
// call, where the instrumentation tripled the CPU time of every run (drawing
// the sample images and normalizing them: 86 s of CPU for the demo's 60
// records, 28 s without, 10 s without -race) and found nothing to find. Our
// own code that hands images between goroutines stays instrumented.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "idbatch-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "idbatch")
	flag.Parse()
	if b := flag.Lookup("test.bench"); b != nil && b.Value.String() != "" {
		race = false // the benchmarks measure CPU and throughput: a release build, crash points aside
	}
	if out, err := goBuild(context.Background(), binPath, "crashpoints"); err != nil {
		fmt.Fprintf(os.Stderr, "build idbatch: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// race is whether goBuild builds with the race detector: always, unless
// benchmarks are run (-bench).
var race = true

// goBuild builds cmd/idbatch to out with the build tags and, if race, with
// -race (but uninstrumentedPkgs), and returns go build's output.
func goBuild(ctx context.Context, out string, tags ...string) ([]byte, error) {
	args := []string{"build", "-tags", strings.Join(tags, ","), "-o", out}
	if race {
		args = append(args, "-race")
		for _, p := range uninstrumentedPkgs {
			args = append(args, "-gcflags="+p+"=-race=false")
		}
	}
	return exec.CommandContext(ctx, "go", append(args, "github.com/idbatch/idbatch/cmd/idbatch")...).CombinedOutput()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	// Not a port the kernel picks (127.0.0.1:0): between this function
	// closing it and the binary binding it, an outgoing connection of a
	// parallel test (HTTP, S3, PostgreSQL clients) may take the same
	// ephemeral port as its local port. Ports 10000-19999 are below the
	// ephemeral range (32768+) and the CI's PostgreSQL port (20000+), and
	// none is handed out twice in this process.
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 1000 {
		port := 10000 + rand.IntN(10000)
		if freePorts.used[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		freePorts.used[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port in 10000-19999")
	return ""
}

var freePorts = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

// runBinary runs the built idbatch and returns its exit code and stderr.
func runBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run idbatch: %v", err)
	}
	return code, stdout.String() + stderr.String()
}

// The exit codes of DESIGN.md that the tests expect (cmd/idbatch's
// constants, which a test outside package main cannot name).
const (
	exitOK          = 0
	exitFatal       = 1
	exitTooManyFail = 3
)

// openStore opens the Store a DSN of the tests names (sqlite://PATH, or a
// PostgreSQL DSN), as the binary does, to read what a run left in it.
func openStore(ctx context.Context, dsn string) (pipeline.Store, error) {
	if pgstore.IsDSN(dsn) {
		st, err := pgstore.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlitestore.OpenDSN(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// jsonLines returns the JSON lines of a log output, each decoded.
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

// storeRecords reads a job's records from the Store a run left.
func storeRecords(t testing.TB, dsn, job string) []pipeline.Record {
	t.Helper()
	st, err := openStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.List(context.Background(), pipeline.ListQuery{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// byClientID indexes records by client id (records without a usable one,
// rejected before any API call, share the key "").
func byClientID(recs []pipeline.Record) map[string]pipeline.Record {
	by := make(map[string]pipeline.Record, len(recs))
	for _, r := range recs {
		by[r.Input.ClientID] = r
	}
	return by
}

// jobStatus is the part of `idbatch status -json` the tests read.
type jobStatus struct {
	Total          int            `json:"total"`
	States         map[string]int `json:"states"`
	AwaitingExport int            `json:"awaiting_export"`
}

// statusJSON runs `idbatch status -json` on a config.
func statusJSON(t *testing.T, cfgPath string) jobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "status", "-c", cfgPath, "-json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("status -json: %v\n%s", err, stderr.String())
	}
	var s jobStatus
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("status -json: %v\n%s", err, b)
	}
	return s
}

// duckDB reports whether the DuckDB harness can read the Parquet output back,
// for checks that cannot be a subtest (a testing.TB of a benchmark): without
// it the Parquet checks are skipped with a log line, the charge and Store
// checks before them having run; under CI a missing harness fails t.
func duckDB(t testing.TB) bool {
	t.Helper()
	if _, _, err := exporttest.Find(); err != nil && os.Getenv("CI") == "" {
		t.Logf("Parquet check skipped: DuckDB harness not available (%v); run `%s`", err, exporttest.InstallHint)
		return false
	}
	exporttest.Available(t) // under CI, fails t when the harness is missing
	return true
}
