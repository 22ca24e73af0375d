package demo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// Start clears only what a demo writes, and its config reads the generated
// manifest from its S3 server.
func TestStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, p := range []string{"exports/old.parquet", "idbatch.db", "keep.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env, err := Start(ctx, Options{Dir: dir, N: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	for p, want := range map[string]bool{"exports": false, "idbatch.db": false, "keep.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, p)); (err == nil) != want {
			t.Errorf("%s there: %v, want %v", p, err == nil, want)
		}
	}
	cfg := env.Config
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	s := cfg.Source.S3
	s3c, err := ingest.NewS3Client(ctx, ingest.S3Config{Endpoint: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle, AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), s3c)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	if err := src.Read(cfg.Job, func(pipeline.Record) error { n++; return nil }); err != nil || n != 5 {
		t.Errorf("manifest: %d records, %v", n, err)
	}
	if c := env.Charges(); c.TokensCreated != 0 {
		t.Errorf("charged before any run: %+v", c)
	}
}
