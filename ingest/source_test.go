package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// OpenSource reads a manifest or a listing and fetches their images inside
// the source's scope; a reference outside it is refused.
func TestOpenSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("src/c1/front.jpg", "front-bytes")
	write("src/c1/face.jpg", "face-bytes")
	write("outside.jpg", "secret")
	write("src/manifest.csv", "client_id,country,document_type,front,face\nc1,LT,PASSPORT,c1/front.jpg,c1/face.jpg\n")

	for _, opts := range []ingest.SourceOptions{
		{Manifest: filepath.Join(dir, "src", "manifest.csv")},
		{List: &ingest.ListOptions{Prefix: filepath.Join(dir, "src"), Template: "{client_id}/{side}.{ext}", Country: "LT", DocumentType: "PASSPORT"}},
	} {
		src, err := ingest.OpenSource(ctx, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		var recs []pipeline.Record
		if err := src.Read("j", func(r pipeline.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].State != pipeline.StatePending {
			t.Fatalf("%+v: records %+v", opts, recs)
		}
		b, err := src.Objects.Get(ctx, recs[0].Input.Sources[pipeline.SideFront])
		if err != nil || string(b) != "front-bytes" {
			t.Errorf("%+v: front %q %v", opts, b, err)
		}
		if _, err := src.Objects.Get(ctx, "../outside.jpg"); pipeline.RejectCode(err) != pipeline.RejectOutOfScope {
			t.Errorf("%+v: a reference outside the source's scope: %v, want out_of_scope", opts, err)
		}
		src.Close()
	}
	if _, err := ingest.OpenSource(ctx, ingest.SourceOptions{}, nil); err == nil {
		t.Error("no source: no error")
	}
}

// CountSource counts a source's records, bad rows included, without
// fetching an image; a source that cannot be read is an error.
func TestCountSource(t *testing.T) {
	ctx := context.Background()
	manifest := filepath.Join("testdata", "corpus", "manifest.csv")
	n, err := ingest.CountSource(ctx, ingest.SourceOptions{Manifest: manifest}, nil, "j")
	if err != nil || n != 29 {
		t.Errorf("corpus: %d records, %v; want 29", n, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.csv"), []byte("client_id,country,document_type,front,face\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := ingest.CountSource(ctx, ingest.SourceOptions{Manifest: filepath.Join(dir, "manifest.csv")}, nil, "j"); err != nil || n != 0 {
		t.Errorf("a header only: %d records, %v", n, err)
	}
	if _, err := ingest.CountSource(ctx, ingest.SourceOptions{Manifest: filepath.Join(dir, "missing.csv")}, nil, "j"); err == nil {
		t.Error("a missing manifest: no error")
	}
}
