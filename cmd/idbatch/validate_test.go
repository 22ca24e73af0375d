package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
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
