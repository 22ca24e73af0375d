package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// TestValidateCorpus runs `idbatch validate -c` over the ingest corpus
// (a file for every format and every reject reason) and checks the report a
// user reads: rejections by reason, API calls, the time at the configured
// rate; and that no API call was made and no Store was written.
func TestValidateCorpus(t *testing.T) {
	t.Parallel()
	var apiCalls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiCalls.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer api.Close()
	manifest, err := filepath.Abs("../../ingest/testdata/corpus/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	cfg := "job: corpus\n" +
		"source: {manifest: " + manifest + "}\n" +
		"store: sqlite://" + filepath.Join(dir, "state.db") + "\n" +
		"idenfy: {base_url: " + api.URL + "}\n" +
		"limits: {requests_per_hour: 3600}\n" +
		"normalize: {min_side: 100, max_image_bytes: 10000, workers: 3}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-c", cfgPath}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"records: 29; ready to submit: 14; rejected: 15; fetch errors: 0\n",
		"  bad_client_id            1\n",
		"  bad_country              1\n",
		"  bad_document_type        1\n",
		"  bad_manifest_row         2\n",
		"  cannot_fit_size_limit    1\n",
		"  corrupt_image            1\n",
		"  empty_object             1\n",
		"  missing_object           1\n",
		"  missing_required_side    2\n",
		"  not_an_image             1\n",
		"  too_large_pixels         1\n",
		"  too_small                1\n",
		"  unsupported_format       1\n",
		"API calls a run needs: 28 (token + process per ready record)\n",
		"time at 3600 requests/hour: 28s (1800 records/hour)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if n := apiCalls.Load(); n != 0 {
		t.Errorf("%d API calls", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.db")); !os.IsNotExist(err) {
		t.Errorf("validate created the store: %v", err)
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb.String())
	}
}

// validate writes the rejected rows as a CSV in the failures.csv shape
// (manifest columns, line, reason) that loads again as a manifest; it
// estimates the runs of max_duration and the cost; -sample validates a
// seeded random sample.
func TestValidateRejectsCSVAndEstimates(t *testing.T) {
	t.Parallel()
	manifest, err := filepath.Abs("../../ingest/testdata/corpus/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	cfg := "job: corpus\nsource: {manifest: " + manifest + "}\nstore: sqlite://" + filepath.Join(dir, "state.db") + "\n" +
		"limits: {requests_per_hour: 10, max_duration: 1h}\nnormalize: {min_side: 100, max_image_bytes: 10000, workers: 2}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-c", cfgPath, "-price-per-verification", "1.5"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	rejects := filepath.Join(dir, "corpus-rejects.csv")
	for _, want := range []string{
		"rejected rows (manifest columns, line, reason; fix them and load the file as a manifest): " + rejects,
		"time at 10 requests/hour: 2h48m0s", "runs of limits.max_duration 1h: 3\n",
		"cost at 1.50 per verification: 21.00 for 14 verifications",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face,utility_bill,") ||
		!strings.Contains(string(b), ",rejected,too_small,") || !strings.Contains(string(b), ",rejected,bad_country,") {
		t.Errorf("rejects CSV:\n%s", b)
	}
	// Loaded again as a manifest, every row reads (the same rows, rejected
	// again for the same reasons until they are fixed).
	n := 0
	if err := ingest.ReadManifest(bytes.NewReader(b), ingest.FormatCSV, "again", func(pipeline.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 15 {
		t.Errorf("the rejects CSV read as a manifest gave %d records, want the 15 rejected rows", n)
	}

	out.Reset()
	if code := run(context.Background(), []string{"validate", "-c", cfgPath, "-sample", "5", "-rejects", "-"}, &out, &errb); code != exitOK {
		t.Fatalf("-sample: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "a random sample of 5 records") || !strings.Contains(out.String(), "records: 5;") {
		t.Errorf("-sample 5:\n%s", out.String())
	}
}

// checkSandbox is the iDenfy sandbox over HTTP; authed counts the requests
// that carry its credentials.
func checkSandbox(t *testing.T) (baseURL string, sb *idenfytest.Server, authed *atomic.Int64) {
	t.Helper()
	sb = idenfytest.New(idenfytest.Options{})
	authed = new(atomic.Int64)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, s, ok := r.BasicAuth(); ok && k == idenfytest.DefaultAPIKey && s == idenfytest.DefaultAPISecret {
			authed.Add(1)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.Close(); sb.Close() })
	return ts.URL, sb, authed
}

// checkConfig writes a config for `validate -check` against the sandbox at
// baseURL, with the corpus manifest, a Store and a local destination in
// dir that do not exist yet.
func checkConfig(t *testing.T, dir, baseURL, secret, destination string) string {
	t.Helper()
	manifest, err := filepath.Abs("../../ingest/testdata/corpus/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "job: corpus\nsource: {manifest: " + manifest + "}\nstore: sqlite://" + filepath.Join(dir, "state", "idbatch.db") + "\n" +
		"idenfy: {base_url: " + baseURL + ", api_key: " + idenfytest.DefaultAPIKey + ", api_secret: " + secret + ", webhook_signing_key: wh-key}\n" +
		"results: {webhook_listen: \"127.0.0.1:0\"}\nexport: {destination: " + destination + "}\n" +
		"limits: {requests_per_hour: 3600}\nnormalize: {min_side: 100, max_image_bytes: 10000, workers: 2}\n"
	path := filepath.Join(dir, "idbatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lastLine is the last line of s that is not empty.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// validate -check adds the pre-flight to the report: one authenticated
// /status call (no /token, no /process, nothing charged), the Store
// inspected and the destination probed without creating either, the
// webhook settings; without -check no request reaches the API.
func TestValidateCheck(t *testing.T) {
	t.Parallel()
	baseURL, sb, authed := checkSandbox(t)
	dir := t.TempDir()
	cfgPath := checkConfig(t, dir, baseURL, idenfytest.DefaultAPISecret, filepath.Join(dir, "exports")+"/")

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-c", cfgPath, "-rejects", "-"}, &out, &errb); code != exitOK {
		t.Fatalf("without -check: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if n := len(sb.Requests()); n != 0 || authed.Load() != 0 || lastLine(out.String()) != "no API call was made" {
		t.Fatalf("without -check: requests %v\n%s", sb.Requests(), out.String())
	}

	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"validate", "-c", cfgPath, "-rejects", "-", "-check"}, &out, &errb); code != exitOK {
		t.Fatalf("-check: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"records: 29; ready to submit: 14; rejected: 15; fetch errors: 0\n",
		"\npre-flight:\n✓ credentials  iDenfy accepted the API key and secret (POST " + baseURL + "/api/v2/status, ",
		"\n✓ store        sqlite " + filepath.Join(dir, "state", "idbatch.db") + ": does not exist yet, will be created by run (with directory " + filepath.Join(dir, "state") + ")\n",
		"\n✓ destination  wrote, read back and deleted " + filepath.Join(dir, "exports", "_probe") + "/",
		"\n✓ webhook      receiver on 127.0.0.1:0/webhooks/idenfy (bindable), signing key set; iDenfy calls the callback URL set in iDenfy's Dashboard",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("-check output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "no API call was made") || strings.Contains(lastLine(got), "no API call") {
		t.Errorf("-check output says no API call was made:\n%s", got)
	}
	if req := sb.Requests(); authed.Load() != 1 || len(req) != 1 || req["/api/v2/status"] != 1 {
		t.Errorf("the sandbox saw %d authenticated calls, requests %v; want one /api/v2/status", authed.Load(), req)
	}
	if ch := sb.Charges(); ch.TokensCreated != 0 || ch.ProcessesAccepted != 0 {
		t.Errorf("charges %+v", ch)
	}
	for _, p := range []string{"state", "exports"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("validate -check created %s: %v", p, err)
		}
	}
}

// A failed check exits 1 and names itself, on stdout (✗) and in the error;
// the other checks still run, and no secret is shown.
func TestValidateCheckFails(t *testing.T) {
	t.Parallel()
	baseURL, sb, _ := checkSandbox(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, secret, dest string
		line, err          string
	}{
		{"wrong api_secret", "wrong-secret-42", filepath.Join(dir, "exports") + "/",
			"\n✗ credentials  iDenfy rejected the API key/secret (HTTP 401", "pre-flight checks failed (see above): credentials\n"},
		{"unwritable destination", idenfytest.DefaultAPISecret, filepath.Join(file, "exports") + "/",
			"\n✗ destination  cannot write " + filepath.Join(file, "exports", "_probe") + "/", "pre-flight checks failed (see above): destination\n"},
		{"invalid destination", idenfytest.DefaultAPISecret, "ftp://host/exports/",
			"\n✗ destination  export.destination: ", "pre-flight checks failed (see above): destination\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			cfgPath := checkConfig(t, d, baseURL, tc.secret, tc.dest)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"validate", "-c", cfgPath, "-rejects", "-", "-check"}, &out, &errb)
			if code != exitFatal || !strings.Contains(out.String(), tc.line) || !strings.HasSuffix(errb.String(), tc.err) {
				t.Errorf("exit %d, want 1 with %q and %q\nstdout:\n%s\nstderr:\n%s", code, tc.line, tc.err, out.String(), errb.String())
			}
			if n := strings.Count(out.String(), "\n✓ ") + strings.Count(out.String(), "\n✗ "); n != 4 {
				t.Errorf("%d checks shown, want 4:\n%s", n, out.String())
			}
			if strings.Contains(out.String()+errb.String(), "wrong-secret-42") {
				t.Error("the secret is shown")
			}
		})
	}
	if ch := sb.Charges(); ch.TokensCreated != 0 || ch.ProcessesAccepted != 0 {
		t.Errorf("charges %+v", ch)
	}
}

// validate -check with the defaults a user gets: only what a user must
// write (job, manifest, the API's address, the secrets through ${VAR}),
// everything else as Defaults has it (Store ./idbatch.db and destination
// ./exports/ beside the config, the receiver on :8080, 9000 requests/hour,
// min_side 300); and the help that shows -check.
func TestValidateCheckDefaults(t *testing.T) {
	baseURL, sb, authed := checkSandbox(t)
	t.Setenv("IDENFY_API_KEY", idenfytest.DefaultAPIKey)
	t.Setenv("IDENFY_API_SECRET", idenfytest.DefaultAPISecret)
	t.Setenv("IDENFY_WEBHOOK_KEY", "wh-key")
	manifest, err := filepath.Abs("../../ingest/testdata/corpus/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	cfg := "job: corpus\nsource:\n  manifest: " + manifest + "\nidenfy:\n  base_url: " + baseURL + "\n" +
		"  api_key: ${IDENFY_API_KEY}\n  api_secret: ${IDENFY_API_SECRET}\n  webhook_signing_key: ${IDENFY_WEBHOOK_KEY}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The receiver's default port may be taken on this machine: the check
	// must then say so.
	webhook, wantCode := "\n✓ webhook      receiver on :8080/webhooks/idenfy (bindable), signing key set; iDenfy calls the callback URL set in iDenfy's Dashboard (not visible here)\n", exitOK
	if ln, err := net.Listen("tcp", ":8080"); err != nil {
		webhook, wantCode = "\n✗ webhook      results.webhook_listen: cannot listen on :8080", exitFatal
	} else {
		ln.Close()
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"validate", "-c", cfgPath, "-check"}, &out, &errb); code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, out.String(), errb.String())
	}
	for _, want := range []string{
		"records: 29; ready to submit: 0; rejected: 29; ", // the corpus's images are under normalize.min_side 300
		"time at 9000 requests/hour: 0s (4500 records/hour)\n",
		"\n✓ credentials  iDenfy accepted the API key and secret (POST " + baseURL + "/api/v2/status, ",
		"\n✓ store        sqlite " + filepath.Join(dir, "idbatch.db") + ": does not exist yet, will be created by run\n",
		"\n✓ destination  wrote, read back and deleted " + filepath.Join(dir, "exports", "_probe") + "/",
		webhook,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if req := sb.Requests(); authed.Load() != 1 || len(req) != 1 {
		t.Errorf("%d authenticated calls, requests %v; want one /status", authed.Load(), req)
	}
	for _, p := range []string{"idbatch.db", "exports"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("validate -check created %s: %v", p, err)
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"help", "validate"}, &out, &errb); code != exitOK {
		t.Fatalf("help validate: exit %d", code)
	}
	for _, want := range []string{
		"-check then also checks what a run needs: the credentials (one /status call, nothing spent)",
		"  idbatch validate -c idbatch.yaml -check -sample 100\n",
		"  -check\n      also check the credentials (one /status call, nothing spent), the Store, the export destination",
		"  -seed uint\n      the sample's seed: the same seed picks the same records (default 1)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}
