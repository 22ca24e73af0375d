package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/ingest/s3test"
	"github.com/idbatch/idbatch/ingest/sample"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// TestRunEndToEnd runs the binary against a real S3-compatible server and the
// sandbox over HTTP, reads the Parquet output back with DuckDB and checks
// every record; then runs again and checks that nothing is charged or
// exported twice.
func TestRunEndToEnd(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s3c, err := ingest.NewS3Client(ctx, ingest.S3Config{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	const bucket = "legacy"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	set := sample.Generate(sample.Options{N: 48, Seed: 7, Broken: true})
	for _, o := range set.Objects {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key), Body: bytes.NewReader(o.Body)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("manifests/batch.csv"), Body: bytes.NewReader(set.ManifestCSV())}); err != nil {
		t.Fatal(err)
	}

	hook := freeAddr(t)
	sb := idenfytest.New(idenfytest.Options{APIKey: "k", APISecret: "s", SigningKey: "sign", WebhookURL: "http://" + hook + "/webhooks/idenfy",
		ManualReview: true, AutoDelay: 100 * time.Millisecond, ManualDelay: 400 * time.Millisecond})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "idbatch.yaml")
	cfg := fmt.Sprintf(`job: e2e
source:
  manifest: s3://%s/manifests/batch.csv
  s3: {endpoint: %q, region: us-east-1, path_style: true, access_key_id: ${E2E_S3_KEY}, secret_access_key: ${E2E_S3_SECRET}}
store: sqlite://%s/state.db
idenfy:
  base_url: %s
  api_key: k
  api_secret: ${E2E_IDENFY_SECRET}
  webhook_signing_key: sign
limits: {requests_per_hour: 72000, burst: 4, wait_for_results: 30s}
results: {webhook_listen: %q, poll_after: 3s, poll_max_per_hour: 3600}
export: {destination: s3://%s/exports/}
log: {format: json}
`, bucket, srv.Endpoint, dir, base, hook, bucket)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_S3_KEY", srv.AccessKey)
	t.Setenv("E2E_S3_SECRET", srv.SecretKey)
	t.Setenv("E2E_IDENFY_SECRET", "s")

	code, out := runBinary(t, "run", "-c", cfgPath)
	if code != 0 {
		t.Fatalf("idbatch run exited %d:\n%s", code, out)
	}
	// No personal data and no secret in the output.
	for _, s := range set.Samples {
		for _, pii := range []string{s.FirstName, s.LastName, s.DateOfBirth} {
			if pii != "" && strings.Contains(out, pii) {
				t.Errorf("output contains personal data %q", pii)
			}
		}
	}
	if strings.Contains(out, srv.SecretKey) {
		t.Error("output contains the S3 secret")
	}

	charges := sb.Charges()
	files := downloadExports(t, s3c, bucket, "exports/", filepath.Join(dir, "parquet"))
	if len(files) != 1 {
		t.Fatalf("want 1 Parquet file after the first run, got %v", files)
	}
	glob := filepath.Join(dir, "parquet") + "/**/*.parquet"
	rows := exporttest.Query(t, fmt.Sprintf(`SELECT coalesce(client_id, '') AS client_id, outcome, coalesce(reject_reason, '') AS reject_reason, coalesce(overall_status, '') AS overall_status,
		job, CAST(dt AS VARCHAR) AS dt, final FROM read_parquet('%s', hive_partitioning = true)`, glob))
	if len(rows) != len(set.Samples) {
		t.Fatalf("DuckDB reads %d rows, the manifest has %d records", len(rows), len(set.Samples))
	}
	byClient := map[string]map[string]any{}
	for _, r := range rows {
		byClient[fmt.Sprint(r["client_id"])] = r
		if r["job"] != "e2e" || r["dt"] != time.Now().UTC().Format("2006-01-02") {
			t.Errorf("hive partition columns: job=%v dt=%v", r["job"], r["dt"])
		}
	}
	verified := 0
	for _, s := range set.Samples {
		r, ok := byClient[s.ClientID]
		if !ok {
			t.Errorf("record %q missing from the export", s.ClientID)
			continue
		}
		if s.ExpectReject != "" {
			if r["outcome"] != "REJECTED" || r["reject_reason"] != s.ExpectReject {
				t.Errorf("record %q: outcome %v reason %v, want REJECTED %s", s.ClientID, r["outcome"], r["reject_reason"], s.ExpectReject)
			}
			if n := charges.PerClient[s.ClientID].Tokens; n != 0 {
				t.Errorf("rejected record %q was charged %d tokens", s.ClientID, n)
			}
			continue
		}
		verified++
		want := idenfytest.Decide(s.ClientID, s.Country, s.DocumentType).Overall
		if r["outcome"] != want || r["overall_status"] != want || r["final"] != true {
			t.Errorf("record %q: outcome %v (overall %v, final %v), sandbox decided %s", s.ClientID, r["outcome"], r["overall_status"], r["final"], want)
		}
		if c := charges.PerClient[s.ClientID]; c.Tokens != 1 || c.Processes != 1 {
			t.Errorf("record %q charged %d tokens and %d processes, want 1 and 1", s.ClientID, c.Tokens, c.Processes)
		}
	}
	if verified == 0 || charges.ProcessesAccepted != verified {
		t.Errorf("sandbox accepted %d processes for %d verifiable records", charges.ProcessesAccepted, verified)
	}

	// Column types as analysts see them.
	types := map[string]string{}
	for _, r := range exporttest.Query(t, fmt.Sprintf(`DESCRIBE SELECT * FROM read_parquet('%s')`, glob)) {
		types[fmt.Sprint(r["column_name"])] = fmt.Sprint(r["column_type"])
	}
	for col, want := range map[string]string{
		"doc_dob": "DATE", "doc_expiry": "DATE", "doc_date_of_issue": "DATE",
		"submitted_at": "TIMESTAMP WITH TIME ZONE", "result_at": "TIMESTAMP WITH TIME ZONE", "exported_at": "TIMESTAMP WITH TIME ZONE",
		"fraud_tags": "VARCHAR[]", "mismatch_tags": "VARCHAR[]", "suspicion_reasons": "VARCHAR[]",
		"final": "BOOLEAN", "client_id": "VARCHAR",
	} {
		if types[col] != want {
			t.Errorf("column %s: DuckDB type %q, want %q", col, types[col], want)
		}
	}
	// Dates are real dates, timestamps are set for submitted records.
	chk := exporttest.Query(t, fmt.Sprintf(`SELECT count(*) FILTER (WHERE doc_dob BETWEEN DATE '1900-01-01' AND DATE '2030-01-01') AS dobs,
		count(*) FILTER (WHERE submitted_at IS NOT NULL AND result_at >= submitted_at) AS timed
		FROM read_parquet('%s') WHERE outcome <> 'REJECTED'`, glob))
	if fmt.Sprint(chk[0]["dobs"]) != fmt.Sprint(verified) || fmt.Sprint(chk[0]["timed"]) != fmt.Sprint(verified) {
		t.Errorf("dates and timestamps of verified records: %v (want %d each)", chk[0], verified)
	}
	// The summary JSON and the HTML run report are beside the export.
	sumKeys := listKeys(t, s3c, bucket, "exports/_runs/")
	if len(sumKeys) != 2 || !strings.HasSuffix(sumKeys[0], ".html") || !strings.HasSuffix(sumKeys[1], ".json") ||
		strings.TrimSuffix(sumKeys[0], ".html") != strings.TrimSuffix(sumKeys[1], ".json") {
		t.Errorf("summary files: %v, want run-<id>.html and run-<id>.json", sumKeys)
	}

	// A second run on the same config submits nothing and exports nothing twice.
	code, out = runBinary(t, "run", "-c", cfgPath)
	if code != 0 {
		t.Fatalf("second run exited %d:\n%s", code, out)
	}
	if c2 := sb.Charges(); c2.TokensCreated != charges.TokensCreated || c2.ProcessesAccepted != charges.ProcessesAccepted {
		t.Errorf("second run charged again: tokens %d → %d, processes %d → %d", charges.TokensCreated, c2.TokensCreated, charges.ProcessesAccepted, c2.ProcessesAccepted)
	}
	files2 := downloadExports(t, s3c, bucket, "exports/", filepath.Join(dir, "parquet2"))
	if len(files2) != len(files) {
		t.Errorf("second run wrote Parquet files: %v → %v", files, files2)
	}
	n := exporttest.Query(t, fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT client_id) AS d FROM read_parquet('%s')`, filepath.Join(dir, "parquet2")+"/**/*.parquet"))
	if fmt.Sprint(n[0]["n"]) != fmt.Sprint(len(set.Samples)) {
		t.Errorf("after the second run the export holds %v rows, want %d", n[0]["n"], len(set.Samples))
	}

	// status shows the job.
	code, out = runBinary(t, "status", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "final") {
		t.Errorf("status exited %d:\n%s", code, out)
	}
}

func listKeys(t *testing.T, s3c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// downloadExports copies the Parquet files under prefix to dir (keeping the
// Hive layout) and returns their keys.
func downloadExports(t *testing.T, s3c *s3.Client, bucket, prefix, dir string) []string {
	t.Helper()
	var out []string
	for _, k := range listKeys(t, s3c, bucket, prefix) {
		if !strings.HasSuffix(k, ".parquet") {
			continue
		}
		obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.TrimPrefix(k, prefix))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}
