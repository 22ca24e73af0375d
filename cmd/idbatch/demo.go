package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/ingest/sample"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

const demoBucket = "idbatch-demo"

// runDemo runs the whole pipeline on embedded defaults: generated records in
// an in-process S3-compatible server, the iDenfy sandbox in process, a SQLite
// Store and Parquet files under ./idbatch-demo/. The same code path as `run`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr, nil)
	n := fs.Int("n", 60, "number of generated records")
	dir := fs.String("dir", "./idbatch-demo", "where the demo writes its Store and Parquet files (emptied first)")
	seed := fs.Int64("seed", 1, "seed of the generated records")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return &usageError{msg: "-n must be at least 1"}
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	// Start from a clean slate: only what the demo itself writes there.
	for _, p := range []string{"idbatch.db", "idbatch.db-wal", "idbatch.db-shm", "exports"} {
		if err := os.RemoveAll(filepath.Join(abs, p)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}

	fmt.Fprintf(stderr, "idbatch demo: generating %d sample records (document photos and selfies, a few deliberately broken)…\n", *n)
	set := sample.Generate(sample.Options{N: *n, Seed: *seed, Broken: true})

	// An S3-compatible server in process, filled through aws-sdk-go-v2.
	faker := gofakes3.New(s3mem.New())
	s3srv := httptest.NewServer(faker.Server())
	defer s3srv.Close()
	s3cfg := config.S3Config{Endpoint: s3srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "demo", SecretAccessKey: "demo-secret", MaxObjectBytes: 50 << 20}
	s3c, err := ingest.NewS3Client(ctx, ingest.S3Config{Endpoint: s3cfg.Endpoint, Region: s3cfg.Region, PathStyle: true, AccessKeyID: s3cfg.AccessKeyID, SecretAccessKey: s3cfg.SecretAccessKey})
	if err != nil {
		return err
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(demoBucket)}); err != nil {
		return fmt.Errorf("demo S3: %w", err)
	}
	put := func(key string, body []byte, ct string) error {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(demoBucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(ct)})
		return err
	}
	for _, o := range set.Objects {
		if err := put(o.Key, o.Body, o.ContentType); err != nil {
			return fmt.Errorf("demo S3: %w", err)
		}
	}
	if err := put("manifests/customers.csv", set.ManifestCSV(), "text/csv"); err != nil {
		return fmt.Errorf("demo S3: %w", err)
	}

	// The webhook receiver's port is chosen first, so the sandbox knows where to deliver.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hookAddr := ln.Addr().String()
	_ = ln.Close()

	cfg := config.Defaults()
	cfg.Job = "demo"
	cfg.Store = "sqlite://" + filepath.Join(abs, "idbatch.db")
	cfg.Source.Manifest = "s3://" + demoBucket + "/manifests/customers.csv"
	cfg.Source.S3 = s3cfg
	cfg.Results.WebhookListen = hookAddr
	cfg.Results.PollAfter = 5 * time.Second
	cfg.Results.PollMaxPerHour = 3600
	cfg.Limits.RequestsPerHour = 36000 // the sandbox is local: 10 requests per second
	cfg.Limits.Burst = 4
	cfg.Limits.WaitForResults = 45 * time.Second
	cfg.Export.Destination = filepath.Join(abs, "exports") + "/"
	cfg.Idenfy.APIKey, cfg.Idenfy.APISecret, cfg.Idenfy.WebhookSigningKey = "demo-key", "demo-secret", "demo-signing-key"

	sb := idenfytest.New(idenfytest.Options{APIKey: cfg.Idenfy.APIKey, APISecret: cfg.Idenfy.APISecret, SigningKey: cfg.Idenfy.WebhookSigningKey,
		WebhookURL: "http://" + hookAddr + cfg.Results.WebhookPath, ManualReview: true, AutoDelay: 300 * time.Millisecond, ManualDelay: 1500 * time.Millisecond})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sb.Close()
	cfg.Idenfy.BaseURL = base
	if err := cfg.Validate(true); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "idbatch demo: S3 at %s, iDenfy sandbox at %s, webhooks on %s; running…\n", s3srv.URL, base, hookAddr)
	sum, err := execute(ctx, cfg, execOptions{stderr: stderr, command: "demo"})
	c := sb.Charges()
	fmt.Fprintf(stdout, "\nThe sandbox charged %d tokens and %d verifications for %d clients.\n", c.TokensCreated, c.ProcessesAccepted, len(c.PerClient))
	if sum.Export.Rows > 0 {
		rel, _ := filepath.Rel(".", filepath.Join(abs, "exports"))
		if rel == "" || len(rel) > len(abs) {
			rel = filepath.Join(abs, "exports")
		}
		fmt.Fprintf(stdout, "Parquet files are under %s/job=demo/. Read them with DuckDB:\n\n", rel)
		fmt.Fprintf(stdout, "  duckdb -c \"SELECT outcome, count(*) AS records FROM read_parquet('%s/job=*/dt=*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY records DESC\"\n", rel)
	}
	return withExitCode(sum.ExitCode, err)
}
