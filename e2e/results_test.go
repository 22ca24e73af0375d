package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/ingest/sample"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// The result-collection tests run `idbatch run` against the sandbox with a
// local manifest, local images and a local export, so they stay fast.

const resultsJob = "rx"

// resultsManifest writes a small set of records into dir — images and a CSV
// manifest with relative paths — and returns the records and the manifest's
// path. Drawing sample images is slow under -race, so 3 generated samples
// lend their images to resultsRecords records with their own client ids
// (the sandbox decides by client id, so the outcomes still vary).
func resultsManifest(t *testing.T, dir string) ([]sample.Sample, string) {
	t.Helper()
	start := time.Now()
	set := sample.Generate(sample.Options{N: 3, Seed: 61})
	t.Logf("sample images drawn in %s", time.Since(start).Round(time.Millisecond))
	for _, o := range set.Objects {
		p := filepath.Join(dir, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, o.Body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var recs []sample.Sample
	var csv bytes.Buffer
	csv.WriteString("client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face\n")
	for i := range resultsRecords {
		s := set.Samples[i%len(set.Samples)]
		s.ClientID = fmt.Sprintf("rx-%02d", i)
		recs = append(recs, s)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", s.ClientID, s.FirstName, s.LastName, s.DateOfBirth, s.Country, s.DocumentType, s.Front, s.Back, s.Face)
	}
	p := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(p, csv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return recs, p
}

// resultsRecords is the number of records of each run.
const resultsRecords = 10

// sandboxOptions is the iDenfy account of these tests: manual review, quick
// results, and iDenfy's few quick webhook retries.
// startSandbox starts an iDenfy sandbox with opts for the rest of t, and
// returns it with its base URL.
func startSandbox(t *testing.T, opts idenfytest.Options) (*idenfytest.Server, string) {
	t.Helper()
	sb := idenfytest.New(opts)
	base, err := sb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb, base
}

func sandboxOptions(webhookURL string) idenfytest.Options {
	return idenfytest.Options{APIKey: "k", APISecret: "s", SigningKey: "sign", WebhookURL: webhookURL,
		ManualReview: true, AutoDelay: 100 * time.Millisecond, ManualDelay: 500 * time.Millisecond,
		WebhookRetries: 2, WebhookRetryInterval: 100 * time.Millisecond, WebhookTimeout: 2 * time.Second, FaultSeed: 6}
}

type resultsCase struct {
	listen       string // results.webhook_listen ("" = no receiver in run)
	pollAfter    time.Duration
	pollPerHour  int
	sandboxBase  string
	waitForFinal time.Duration
}

// writeResultsConfig writes the config of one case and returns its path and
// the export directory.
func writeResultsConfig(t *testing.T, dir, manifest string, c resultsCase) (string, string) {
	t.Helper()
	exports := filepath.Join(dir, "exports")
	cfg := fmt.Sprintf(`job: %s
source: {manifest: %q}
store: sqlite://%s/state.db
idenfy: {base_url: %q, api_key: k, api_secret: s, webhook_signing_key: sign}
limits: {requests_per_hour: 72000, burst: 4, wait_for_results: %s}
results: {webhook_listen: %q, poll_after: %s, poll_max_per_hour: %d}
export: {destination: %q}
log: {format: json}
`, resultsJob, manifest, dir, c.sandboxBase, c.waitForFinal, c.listen, c.pollAfter, c.pollPerHour, exports)
	p := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, exports
}

// exportedRows reads the exports of every case with DuckDB in one query (a
// DuckDB start is slow) and returns their rows by case, ordered by client id,
// without the columns that differ from run to run by nature: run_id,
// scan_ref (a new verification), the timestamps, and raw_result (a webhook
// body or a /status+/data pair, depending on how the result arrived). In
// their place raw_ok says that scan_ref and raw_result are set and that
// raw_result holds no pre-signed URL.
func exportedRows(t *testing.T, exports map[string]string) map[string][]map[string]any {
	t.Helper()
	var parts []string
	for name, dir := range exports {
		parts = append(parts, fmt.Sprintf(`SELECT '%s' AS case_name,
			(scan_ref IS NOT NULL AND raw_result IS NOT NULL AND raw_result NOT LIKE '%%Signature=%%') AS raw_ok,
			* EXCLUDE (run_id, scan_ref, submitted_at, result_at, exported_at, raw_result)
			FROM read_parquet('%s', hive_partitioning = false)`, strings.ReplaceAll(name, "'", "''"), filepath.Join(dir, "**", "*.parquet")))
	}
	rows := exporttest.Query(t, strings.Join(parts, " UNION ALL BY NAME ")+" ORDER BY case_name, client_id")
	out := map[string][]map[string]any{}
	for _, r := range rows {
		name := fmt.Sprint(r["case_name"])
		delete(r, "case_name")
		out[name] = append(out[name], r)
	}
	return out
}

// checkOutcomes checks that every record ended final with the sandbox's decision.
func checkOutcomes(t *testing.T, recs []sample.Sample, rows []map[string]any) {
	t.Helper()
	if len(rows) != len(recs) {
		t.Fatalf("%d exported rows, %d records", len(rows), len(recs))
	}
	by := map[string]map[string]any{}
	for _, r := range rows {
		by[fmt.Sprint(r["client_id"])] = r
	}
	outcomes := map[any]bool{}
	for _, s := range recs {
		want := idenfytest.Decide(s.ClientID, s.Country, s.DocumentType).Overall
		r := by[s.ClientID]
		if r == nil || r["outcome"] != want || r["final"] != true || r["manual_face"] == nil || r["raw_ok"] != true {
			t.Errorf("record %s: exported %v, sandbox decided %s (final, with the manual review)", s.ClientID, r, want)
		}
		outcomes[r["outcome"]] = true
	}
	if len(outcomes) < 2 {
		t.Errorf("every record has the same outcome %v: the comparison would prove little", outcomes)
	}
}

// lostFinal counts the verifications whose both callbacks (so the final,
// manual one too) failed after iDenfy's retries.
func lostFinal(vs []idenfytest.Verification) int {
	n := 0
	for _, v := range vs {
		if v.WebhooksFailed >= 2 {
			n++
		}
	}
	return n
}

func sumOf(vs []idenfytest.Verification, f func(idenfytest.Verification) int) int {
	n := 0
	for _, v := range vs {
		n += f(v)
	}
	return n
}

// TestRunCollectsResults runs `idbatch run` with the results delivered in
// every way iDenfy may deliver them, checks each run in its Store and in the
// sandbox's billing (every record final, exported, charged once), and that
// the stored and (with DuckDB) the exported results are identical each time.
func TestRunCollectsResults(t *testing.T) {
	root := t.TempDir()
	recs, manifest := resultsManifest(t, root)
	// Each case works in a directory of root, so that its export outlives it
	// until the comparison at the end.
	caseDir := func(t *testing.T) string {
		d, err := os.MkdirTemp(root, "case")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var mu sync.Mutex
	exportDirs := map[string]string{}
	stored := map[string][]pipeline.Result{}
	// keep checks a case's Store and the sandbox's billing (without DuckDB)
	// and keeps its export and its stored results for the comparison at the end.
	keep := func(t *testing.T, sb *idenfytest.Server, dir, exports string) {
		t.Helper()
		res := checkStoreAndCharges(t, recs, sb, dir)
		mu.Lock()
		exportDirs[t.Name()] = exports
		stored[t.Name()] = res
		mu.Unlock()
	}
	n := len(recs)

	t.Run("cases", func(t *testing.T) {
		t.Run("webhooks only", func(t *testing.T) {
			t.Parallel()
			hook := freeAddr(t)
			sb, base := startSandbox(t, sandboxOptions("http://"+hook+"/webhooks/idenfy"))
			dir := caseDir(t)
			cfg, exports := writeResultsConfig(t, dir, manifest, resultsCase{listen: hook, pollAfter: time.Minute, pollPerHour: 0, sandboxBase: base, waitForFinal: 30 * time.Second})
			code, out := runBinary(t, "run", "-c", cfg)
			if code != 0 {
				t.Fatalf("run exited %d:\n%s", code, out)
			}
			req := sb.Requests()
			if req[idenfy.PathStatus]+req[idenfy.PathData] != 0 {
				t.Errorf("polling is off, yet %d /status and %d /data calls", req[idenfy.PathStatus], req[idenfy.PathData])
			}
			vs := sb.Verifications()
			if got := sumOf(vs, func(v idenfytest.Verification) int { return v.WebhooksDelivered }); got != 2*n {
				t.Errorf("%d webhooks delivered, want %d (automatic and manual)", got, 2*n)
			}
			keep(t, sb, dir, exports)
		})

		t.Run("no webhooks, polling only", func(t *testing.T) {
			t.Parallel()
			hook := freeAddr(t)
			opts := sandboxOptions("http://" + hook + "/webhooks/idenfy")
			opts.WebhookDropRate = 1
			sb, base := startSandbox(t, opts)
			const perHour = 36000 // 10 calls a second
			dir := caseDir(t)
			cfg, exports := writeResultsConfig(t, dir, manifest, resultsCase{listen: hook, pollAfter: time.Second, pollPerHour: perHour, sandboxBase: base, waitForFinal: 30 * time.Second})
			start := time.Now()
			code, out := runBinary(t, "run", "-c", cfg)
			elapsed := time.Since(start)
			if code != 0 {
				t.Fatalf("run exited %d:\n%s", code, out)
			}
			if st := sb.Stats(); st.WebhooksDropped != 2*n {
				t.Errorf("the sandbox dropped %d webhooks, want all %d", st.WebhooksDropped, 2*n)
			}
			req := sb.Requests()
			status, data := req[idenfy.PathStatus], req[idenfy.PathData]
			// Sparse: one /data per record (only once final), /status at most
			// twice per record (once more if polled before the manual review).
			if data != n || status < n || status > 2*n {
				t.Errorf("%d /status and %d /data calls for %d records; want %d data and %d..%d status", status, data, n, n, n, 2*n)
			}
			if budget := perHour*elapsed.Hours() + 1; float64(status+data) > budget {
				t.Errorf("%d poll calls in %s exceed poll_max_per_hour %d (%.0f)", status+data, elapsed, perHour, budget)
			}
			keep(t, sb, dir, exports)
		})

		t.Run("duplicated and reordered webhooks, with polling", func(t *testing.T) {
			t.Parallel()
			hook := freeAddr(t)
			opts := sandboxOptions("http://" + hook + "/webhooks/idenfy")
			opts.WebhookDuplicateRate, opts.WebhookReorderRate = 0.6, 0.6
			sb, base := startSandbox(t, opts)
			dir := caseDir(t)
			cfg, exports := writeResultsConfig(t, dir, manifest, resultsCase{listen: hook, pollAfter: 2 * time.Second, pollPerHour: 36000, sandboxBase: base, waitForFinal: 30 * time.Second})
			if code, out := runBinary(t, "run", "-c", cfg); code != 0 {
				t.Fatalf("run exited %d:\n%s", code, out)
			}
			if st := sb.Stats(); st.WebhooksDuplicated == 0 || st.WebhooksReordered == 0 {
				t.Errorf("the sandbox duplicated %d and reordered %d webhooks; the case needs both", st.WebhooksDuplicated, st.WebhooksReordered)
			}
			keep(t, sb, dir, exports)
		})

		t.Run("receiver down for a while", func(t *testing.T) {
			t.Parallel()
			// iDenfy posts to a proxy that is not listening at first: its
			// quick retries fail. Once a verification has lost both its
			// callbacks (the final one too) the proxy comes up and the later
			// webhooks get through; the poller must collect the lost results.
			hook, public := freeAddr(t), freeAddr(t)
			sb, base := startSandbox(t, sandboxOptions("http://"+public+"/webhooks/idenfy"))
			proxyUp := make(chan *http.Server, 1)
			stopWatch := make(chan struct{})
			go func() {
				defer close(proxyUp)
				for {
					select {
					case <-stopWatch:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if lostFinal(sb.Verifications()) > 0 {
						break
					}
				}
				ln, err := net.Listen("tcp", public)
				if err != nil {
					return
				}
				target, _ := url.Parse("http://" + hook)
				srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target), ReadHeaderTimeout: 5 * time.Second}
				go srv.Serve(ln)
				proxyUp <- srv
			}()
			dir := caseDir(t)
			cfg, exports := writeResultsConfig(t, dir, manifest, resultsCase{listen: hook, pollAfter: time.Second, pollPerHour: 36000, sandboxBase: base, waitForFinal: 30 * time.Second})
			code, out := runBinary(t, "run", "-c", cfg)
			close(stopWatch)
			if srv := <-proxyUp; srv != nil {
				srv.Close()
			} else {
				t.Errorf("the proxy never came up (no webhook delivery failed)")
			}
			if code != 0 {
				t.Fatalf("run exited %d:\n%s", code, out)
			}
			vs := sb.Verifications()
			lost := lostFinal(vs)
			if lost == 0 {
				t.Errorf("no final webhook was lost: the case tests nothing")
			}
			if delivered := sumOf(vs, func(v idenfytest.Verification) int { return v.WebhooksDelivered }); delivered == 0 {
				t.Errorf("no webhook was delivered after the receiver came back")
			}
			if req := sb.Requests(); req[idenfy.PathStatus] < lost || req[idenfy.PathData] < lost {
				t.Errorf("%d final webhooks were lost but the poller made %d /status and %d /data calls", lost, req[idenfy.PathStatus], req[idenfy.PathData])
			}
			keep(t, sb, dir, exports)
		})

		t.Run("receiver in idbatch serve", func(t *testing.T) {
			t.Parallel()
			// The run has no receiver and does not poll; a long-running
			// `idbatch serve` on the same Store receives every webhook.
			hook := freeAddr(t)
			sb, base := startSandbox(t, sandboxOptions("http://"+hook+"/webhooks/idenfy"))
			dir := caseDir(t)
			cfg, exports := writeResultsConfig(t, dir, manifest, resultsCase{listen: "", pollAfter: time.Minute, pollPerHour: 0, sandboxBase: base, waitForFinal: 30 * time.Second})
			// serve opens an existing Store only (a mistyped path must not
			// acknowledge webhooks into a new, empty one): create it first.
			if st, err := openStore(context.Background(), "sqlite://"+filepath.Join(dir, "state.db")); err != nil {
				t.Fatal(err)
			} else {
				st.Close()
			}
			srv := startServe(t, cfg, hook)
			if code, out := runBinary(t, "run", "-c", cfg); code != 0 {
				t.Fatalf("run exited %d:\n%s\nserve:\n%s", code, out, srv.out.String())
			}
			// A forged webhook is refused and counted.
			body := []byte(`{"final":true,"scanRef":"forged","status":{"overall":"APPROVED"}}`)
			req, _ := http.NewRequest(http.MethodPost, "http://"+hook+"/webhooks/idenfy", bytes.NewReader(body))
			req.Header.Set(idenfy.SignatureHeader, idenfy.Sign([]byte("not the key"), body))
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("forged webhook to serve: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			metrics := get(t, "http://"+hook+"/metrics")
			for _, want := range []string{
				fmt.Sprintf(`idbatch_records{idbatch_job=%q,state="final"} %d`, resultsJob, n),
				fmt.Sprintf(`idbatch_records{idbatch_job=%q,state="submitted"} 0`, resultsJob),
				`idbatch_webhooks_total{outcome="applied"} ` + fmt.Sprint(2*n),
				`idbatch_webhooks_total{outcome="bad_signature"} 1`,
				`idbatch_limiter_waits_total 0`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			code, out := srv.stop(t)
			if code != 0 || !strings.Contains(out, "webhook receiver stopped") {
				t.Errorf("serve after SIGTERM exited %d:\n%s", code, out)
			}
			keep(t, sb, dir, exports)
		})
	})

	if len(exportDirs) != 5 {
		t.Fatalf("%d cases exported, want 5", len(exportDirs))
	}
	const refCase = "TestRunCollectsResults/cases/webhooks_only"
	// The results the Store holds are the same each time (without what
	// differs by nature: the scan_ref, how and when the result arrived).
	refStored := stored[refCase]
	if len(refStored) != len(recs) {
		t.Fatalf("the reference case stored %d results for %d records", len(refStored), len(recs))
	}
	for name, res := range stored {
		for i := range res {
			if !reflect.DeepEqual(res[i], refStored[i]) {
				t.Errorf("%s: client %s: stored result %+v, webhooks only: %+v", name, recs[i].ClientID, res[i], refStored[i])
			}
		}
	}

	// The exported rows are the same each time, as DuckDB reads them:
	// skipped without the harness (failed under CI).
	t.Run("parquet", func(t *testing.T) {
		exporttest.Available(t)
		exported := exportedRows(t, exportDirs)
		ref := exported[refCase]
		if ref == nil {
			t.Fatal("the reference case did not export")
		}
		checkOutcomes(t, recs, ref)
		for name, rows := range exported {
			if len(rows) != len(ref) {
				t.Errorf("%s: %d rows, webhooks only: %d", name, len(rows), len(ref))
				continue
			}
			for i := range rows {
				if !reflect.DeepEqual(rows[i], ref[i]) {
					for k, v := range ref[i] {
						if !reflect.DeepEqual(rows[i][k], v) {
							t.Errorf("%s: client %v column %s = %v, webhooks only: %v", name, ref[i]["client_id"], k, rows[i][k], v)
						}
					}
				}
			}
		}
	})
}

// checkStoreAndCharges checks a case's run in its Store and in the sandbox's
// billing: every record final with the sandbox's decision and the manual
// review, exported, charged one token and one /process. It returns the
// records' results in the order of recs, without the fields that differ from
// run to run by nature (scan_ref, source, raw payload, arrival time).
func checkStoreAndCharges(t *testing.T, recs []sample.Sample, sb *idenfytest.Server, dir string) []pipeline.Result {
	t.Helper()
	stored := storeRecords(t, "sqlite://"+filepath.Join(dir, "state.db"), resultsJob)
	byClient := byClientID(stored)
	charges := sb.Charges()
	if len(stored) != len(recs) || charges.ProcessesAccepted != len(recs) {
		t.Errorf("the Store holds %d records, the sandbox accepted %d processes; the manifest has %d records", len(stored), charges.ProcessesAccepted, len(recs))
	}
	var out []pipeline.Result
	for _, s := range recs {
		r, ok := byClient[s.ClientID]
		c := charges.PerClient[s.ClientID]
		if c.Tokens != 1 || c.Processes != 1 {
			t.Errorf("record %s charged %d tokens and %d processes, want 1 and 1", s.ClientID, c.Tokens, c.Processes)
		}
		want := idenfytest.Decide(s.ClientID, s.Country, s.DocumentType).Overall
		if !ok || r.State != pipeline.StateFinal || string(r.Outcome) != want || r.Result == nil || !r.Result.Final || r.Result.ManualFace == "" || r.ExportedAt.IsZero() {
			t.Errorf("record %s: in the Store %v, state %s, outcome %s, exported at %v; sandbox decided %s (final, with the manual review, exported)",
				s.ClientID, ok, r.State, r.Outcome, r.ExportedAt, want)
			out = append(out, pipeline.Result{})
			continue
		}
		res := *r.Result
		res.ScanRef, res.Source, res.Raw, res.ReceivedAt = "", "", nil, time.Time{}
		out = append(out, res)
	}
	return out
}

// serveProc is a running `idbatch serve`.
type serveProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts `idbatch serve` on addr and waits for /healthz.
func startServe(t *testing.T, cfg, addr string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: exec.Command(binPath, "serve", "-c", cfg, "-listen", addr), out: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == "ok\n" {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve exited: %v\n%s", err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not healthy after 15s:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit code and output.
func (p *serveProc) stop(t *testing.T) (int, string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("serve did not stop within 15s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode(), p.out.String()
}

func get(t *testing.T, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}
