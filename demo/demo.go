// Package demo builds the world `idbatch demo` runs in: generated records
// (document photos and selfies, a few deliberately broken) in an in-process
// S3-compatible server, the iDenfy sandbox in process with its webhooks,
// and a config whose SQLite Store and Parquet files are in one directory.
// The run itself is the same code path as `idbatch run`.
package demo

import (
	"bytes"
	"context"
	"fmt"
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

// Bucket is the demo's bucket in its S3 server.
const Bucket = "idbatch-demo"

// Options are the demo's parameters.
type Options struct {
	Dir  string // where the Store and the exports go; emptied of them first
	N    int    // generated records
	Seed int64  // seed of the generated records
}

// Env is a running demo world. Close stops its servers.
type Env struct {
	// Config runs the demo: job demo, the Store and exports under Dir, the
	// S3 server and the sandbox as endpoints, fast polling and rate.
	Config config.Config
	// S3URL and SandboxURL are the servers' addresses, WebhookAddr where
	// the sandbox delivers webhooks (results.webhook_listen).
	S3URL, SandboxURL, WebhookAddr string

	s3srv *httptest.Server
	sb    *idenfytest.Server
}

// Start clears what an earlier demo wrote in o.Dir (only that), generates
// o.N records into a new S3 server and starts the sandbox.
func Start(ctx context.Context, o Options) (*Env, error) {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"idbatch.db", "idbatch.db-wal", "idbatch.db-shm", "exports"} {
		if err := os.RemoveAll(filepath.Join(abs, p)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	set := sample.Generate(sample.Options{N: o.N, Seed: o.Seed, Broken: true})

	// An S3-compatible server in process, filled through aws-sdk-go-v2.
	e := &Env{s3srv: httptest.NewServer(gofakes3.New(s3mem.New()).Server())}
	e.S3URL = e.s3srv.URL
	s3cfg := config.S3Config{Endpoint: e.S3URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "demo", SecretAccessKey: "demo-secret", MaxObjectBytes: 50 << 20}
	s3c, err := ingest.NewS3Client(ctx, ingest.S3Config{Endpoint: s3cfg.Endpoint, Region: s3cfg.Region, PathStyle: true, AccessKeyID: s3cfg.AccessKeyID, SecretAccessKey: s3cfg.SecretAccessKey})
	if err != nil {
		e.Close()
		return nil, err
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(Bucket)}); err != nil {
		e.Close()
		return nil, fmt.Errorf("demo S3: %w", err)
	}
	put := func(key string, body []byte, ct string) error {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(ct)})
		return err
	}
	for _, obj := range set.Objects {
		if err := put(obj.Key, obj.Body, obj.ContentType); err != nil {
			e.Close()
			return nil, fmt.Errorf("demo S3: %w", err)
		}
	}
	if err := put("manifests/customers.csv", set.ManifestCSV(), "text/csv"); err != nil {
		e.Close()
		return nil, fmt.Errorf("demo S3: %w", err)
	}

	// The webhook receiver's port is chosen first, so the sandbox knows where to deliver.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.Close()
		return nil, err
	}
	e.WebhookAddr = ln.Addr().String()
	_ = ln.Close()

	cfg := config.Defaults()
	cfg.Job = "demo"
	cfg.Store = "sqlite://" + filepath.Join(abs, "idbatch.db")
	cfg.Source.Manifest = "s3://" + Bucket + "/manifests/customers.csv"
	cfg.Source.S3 = s3cfg
	cfg.Results.WebhookListen = e.WebhookAddr
	cfg.Results.PollAfter = 5 * time.Second
	cfg.Results.PollMaxPerHour = 3600
	cfg.Limits.RequestsPerHour = 36000 // the sandbox is local: 10 requests per second
	cfg.Limits.Burst = 4
	cfg.Limits.WaitForResults = 45 * time.Second
	cfg.Export.Destination = filepath.Join(abs, "exports") + "/"
	cfg.Idenfy.APIKey, cfg.Idenfy.APISecret, cfg.Idenfy.WebhookSigningKey = "demo-key", "demo-secret", "demo-signing-key"

	e.sb = idenfytest.New(idenfytest.Options{APIKey: cfg.Idenfy.APIKey, APISecret: cfg.Idenfy.APISecret, SigningKey: cfg.Idenfy.WebhookSigningKey,
		WebhookURL: "http://" + e.WebhookAddr + cfg.Results.WebhookPath, ManualReview: true, AutoDelay: 300 * time.Millisecond, ManualDelay: 1500 * time.Millisecond})
	if e.SandboxURL, err = e.sb.Start("127.0.0.1:0"); err != nil {
		e.sb = nil
		e.Close()
		return nil, err
	}
	cfg.Idenfy.BaseURL = e.SandboxURL
	e.Config = cfg
	return e, nil
}

// Charges are what the sandbox billed so far.
func (e *Env) Charges() idenfytest.Charges { return e.sb.Charges() }

// Close stops the sandbox and the S3 server.
func (e *Env) Close() {
	if e.sb != nil {
		_ = e.sb.Close()
	}
	e.s3srv.Close()
}
