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
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// TestRunEndToEnd runs the binary against a real S3-compatible server and the
// sandbox over HTTP and checks every record in the Store and in the
// sandbox's billing; then runs again and checks that nothing is charged or
// exported twice. Last, it reads the Parquet output back with DuckDB (the
// one part that needs the harness).
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

	// The money and the Store, read without DuckDB: every record ended as the
	// sandbox decided (a rejected one before any API call), none charged
	// twice, every one exported.
	charges := sb.Charges()
	dsn := "sqlite://" + filepath.Join(dir, "state.db")
	recs := storeRecords(t, dsn, "e2e")
	byClient := byClientID(recs)
	verified := 0
	for _, s := range set.Samples {
		r, ok := byClient[s.ClientID]
		if !ok {
			t.Errorf("record %q lost: not in the Store", s.ClientID)
			continue
		}
		if r.ExportedAt.IsZero() {
			t.Errorf("record %d (%s) not exported", r.ID, r.State)
		}
		c := charges.PerClient[s.ClientID]
		if s.ExpectReject != "" {
			if r.State != pipeline.StateRejected || r.RejectReason != s.ExpectReject {
				t.Errorf("record %d: state %s reason %q, want rejected %s", r.ID, r.State, r.RejectReason, s.ExpectReject)
			}
			if c.Tokens != 0 || c.Processes != 0 {
				t.Errorf("rejected record %d was charged %d tokens and %d processes", r.ID, c.Tokens, c.Processes)
			}
			continue
		}
		verified++
		want := idenfytest.Decide(s.ClientID, s.Country, s.DocumentType).Overall
		if r.State != pipeline.StateFinal || string(r.Outcome) != want || r.Result == nil || !r.Result.Final {
			t.Errorf("record %d: state %s outcome %s, sandbox decided %s (final)", r.ID, r.State, r.Outcome, want)
		}
		if c.Tokens != 1 || c.Processes != 1 {
			t.Errorf("record %d charged %d tokens and %d processes, want 1 and 1", r.ID, c.Tokens, c.Processes)
		}
	}
	if len(recs) != len(set.Samples) {
		t.Errorf("the Store holds %d records, the manifest %d", len(recs), len(set.Samples))
	}
	if verified == 0 || charges.ProcessesAccepted != verified {
		t.Errorf("sandbox accepted %d processes for %d verifiable records", charges.ProcessesAccepted, verified)
	}
	files := downloadExports(t, s3c, bucket, "exports/", filepath.Join(dir, "parquet"))
	if len(files) != 1 {
		t.Fatalf("want 1 Parquet file after the first run, got %v", files)
	}
	// The summary JSON and the HTML run report are beside the export.
	sumKeys := listKeys(t, s3c, bucket, "exports/_runs/")
	if len(sumKeys) != 2 || !strings.HasSuffix(sumKeys[0], ".html") || !strings.HasSuffix(sumKeys[1], ".json") ||
		strings.TrimSuffix(sumKeys[0], ".html") != strings.TrimSuffix(sumKeys[1], ".json") {
		t.Errorf("summary files: %v, want run-<id>.html and run-<id>.json", sumKeys)
	}

	// A second run on the same config submits nothing and exports nothing
	// twice: the sandbox's counters, the Store's export marks and the
	// Parquet files are as the first run left them.
	code, out = runBinary(t, "run", "-c", cfgPath)
	if code != 0 {
		t.Fatalf("second run exited %d:\n%s", code, out)
	}
	if c2 := sb.Charges(); c2.TokensCreated != charges.TokensCreated || c2.ProcessesAccepted != charges.ProcessesAccepted {
		t.Errorf("second run charged again: tokens %d → %d, processes %d → %d", charges.TokensCreated, c2.TokensCreated, charges.ProcessesAccepted, c2.ProcessesAccepted)
	}
	recs2 := storeRecords(t, dsn, "e2e")
	if len(recs2) != len(recs) {
		t.Errorf("the Store holds %d records after the second run, %d after the first", len(recs2), len(recs))
	}
	for i := range min(len(recs), len(recs2)) {
		if r, r2 := recs[i], recs2[i]; r2.ID != r.ID || !r2.ExportedAt.Equal(r.ExportedAt) || r2.State != r.State {
			t.Errorf("record %d: %s exported at %v after the first run; record %d: %s exported at %v after the second", r.ID, r.State, r.ExportedAt, r2.ID, r2.State, r2.ExportedAt)
		}
	}
	files2 := downloadExports(t, s3c, bucket, "exports/", filepath.Join(dir, "parquet2"))
	if len(files2) != len(files) {
		t.Errorf("second run wrote Parquet files: %v → %v", files, files2)
	}

	// status shows the job, as text and as JSON: every record ended and exported.
	code, out = runBinary(t, "status", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "final") {
		t.Errorf("status exited %d:\n%s", code, out)
	}
	if st := statusJSON(t, cfgPath); st.Total != len(set.Samples) || st.AwaitingExport != 0 ||
		st.States[string(pipeline.StateFinal)] != verified || st.States[string(pipeline.StateRejected)] != len(set.Samples)-verified {
		t.Errorf("status -json: %+v, want %d records, %d final, none awaiting export", st, len(set.Samples), verified)
	}

	// The Parquet output as an analyst reads it, with DuckDB: skipped when
	// the harness is missing (failed under CI); the checks above ran anyway.
	t.Run("parquet", func(t *testing.T) {
		exporttest.Available(t)
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
				continue
			}
			want := idenfytest.Decide(s.ClientID, s.Country, s.DocumentType).Overall
			if r["outcome"] != want || r["overall_status"] != want || r["final"] != true {
				t.Errorf("record %q: outcome %v (overall %v, final %v), sandbox decided %s", s.ClientID, r["outcome"], r["overall_status"], r["final"], want)
			}
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
		// After the second run, each record is still exactly once in the export.
		n := exporttest.Query(t, fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT client_id) AS d FROM read_parquet('%s')`, filepath.Join(dir, "parquet2")+"/**/*.parquet"))
		if fmt.Sprint(n[0]["n"]) != fmt.Sprint(len(set.Samples)) {
			t.Errorf("after the second run the export holds %v rows, want %d", n[0]["n"], len(set.Samples))
		}
	})
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
