package export

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/objstore"
)

func TestOpenDestination(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{Region: "us-east-1"})
	for uri, want := range map[string]string{
		dir:                           dir,
		"file://" + dir:               dir,
		"file://" + dir + "/sub/":     filepath.Join(dir, "sub"),
		"s3://bucket":                 "s3://bucket/",
		"s3://bucket/":                "s3://bucket/",
		"s3://bucket/exports/idenfy/": "s3://bucket/exports/idenfy/",
		"s3://bucket/exports/idenfy":  "s3://bucket/exports/idenfy/",
	} {
		d, err := OpenDestination(t.Context(), uri, s3c)
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		if d.Root() != want {
			t.Errorf("%s: Root() = %s, want %s", uri, d.Root(), want)
		}
	}
	d, _ := OpenDestination(t.Context(), "s3://bucket/p", s3c)
	if got := d.Location("job=j/x.parquet"); got != "s3://bucket/p/job=j/x.parquet" {
		t.Errorf("Location = %s", got)
	}
	for _, uri := range []string{"", "s3://", "s3:///prefix", "gs://bucket/x", "file://", notDir} {
		if _, err := OpenDestination(t.Context(), uri, s3c); err == nil {
			t.Errorf("%q: no error", uri)
		}
	}
	if _, err := OpenDestination(t.Context(), "s3://bucket/", nil); err == nil {
		t.Error("s3 without a client: no error")
	}
}

func TestLocalFile(t *testing.T) {
	root := t.TempDir()
	d, err := OpenDestination(t.Context(), "file://"+root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../../up"} {
		if _, err := d.Create(t.Context(), bad); err == nil {
			t.Errorf("Create(%q): no error", bad)
		}
	}

	f, err := d.Create(t.Context(), "a/b/c.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "hello"); err != nil {
		t.Fatal(err)
	}
	// Before the commit only a temporary file exists, beside the final one.
	got := files(t, root)
	if len(got) != 1 || !strings.HasPrefix(got[0], "a/b/.c.txt.tmp-") {
		t.Fatalf("before commit: %v, want one a/b/.c.txt.tmp-*", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, root); !slices.Equal(got, []string{"a/b/c.txt"}) {
		t.Fatalf("after commit: %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a", "b", "c.txt")); string(b) != "hello" {
		t.Errorf("content %q", b)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit: no error")
	}

	f, err = d.Create(t.Context(), "a/b/d.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "discard"); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrAborted) {
		t.Errorf("Write after Abort: %v", err)
	}
	if got := files(t, root); !slices.Equal(got, []string{"a/b/c.txt"}) {
		t.Errorf("after abort: %v", got)
	}
}

// fakeS3 starts an in-process S3 (gofakes3) with bucket "bucket" and
// returns a path-style client for it.
func fakeS3(t *testing.T) (*s3.Client, *gofakes3.GoFakeS3) {
	t.Helper()
	backend := s3mem.New()
	faker := gofakes3.New(backend)
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("bucket"); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:               aws.String(srv.URL),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), faker
}

func listKeys(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bucket")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func getObject(t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportToS3(t *testing.T) {
	t.Parallel()
	c, _ := fakeS3(t)
	dest, err := OpenDestination(t.Context(), "s3://bucket/exports/idenfy/", c)
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource(testRecords()...)
	rep, err := newTestExporter(dest).Export(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	key := "exports/idenfy/" + wantPart
	if !slices.Equal(rep.Files, []string{"s3://bucket/" + key}) || rep.Rows != 6 {
		t.Errorf("report %v %d", rep.Files, rep.Rows)
	}
	failures := "exports/idenfy/" + wantFailures
	if got := listKeys(t, c); !slices.Equal(got, []string{failures, key}) {
		t.Errorf("keys %v, want [%s %s]", got, failures, key)
	}
	b := getObject(t, c, key)
	if len(b) < 12 || string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
		t.Fatalf("object of %d bytes is not Parquet (magic %q...%q)", len(b), b[:min(4, len(b))], b[max(0, len(b)-4):])
	}
	if got := len(src.exported()); got != 7 { // 6 + the one exported before
		t.Errorf("%d marked exported", got)
	}
	local := filepath.Join(t.TempDir(), "part.parquet")
	if err := os.WriteFile(local, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rows := exporttest.Query(t, "SELECT count(*) AS n, count(doc_dob) AS dobs FROM read_parquet("+exporttest.Quote(local)+")")
	if rows[0]["n"] != 6.0 || rows[0]["dobs"] != 1.0 {
		t.Errorf("DuckDB on the S3 object: %v", rows[0])
	}
}

func TestS3File(t *testing.T) {
	t.Parallel()
	c, _ := fakeS3(t)
	dest, err := OpenDestination(t.Context(), "s3://bucket/x", c)
	if err != nil {
		t.Fatal(err)
	}
	dest.(*objstore.S3).PartSize = objstore.MinPartSize
	big := bytes.Repeat([]byte("0123456789abcdef"), int(objstore.MinPartSize/16+64)) // two parts: multipart

	t.Run("abort single part", func(t *testing.T) {
		f, err := dest.Create(t.Context(), "small.parquet")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("PAR1 partial")); err != nil {
			t.Fatal(err)
		}
		if err := f.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("x")); !errors.Is(err, ErrAborted) {
			t.Errorf("Write after Abort: %v, want ErrAborted", err)
		}
		if err := f.Commit(); err == nil {
			t.Error("Commit after Abort: no error")
		}
		if keys := listKeys(t, c); len(keys) != 0 {
			t.Errorf("keys after abort: %v", keys)
		}
	})

	t.Run("abort multipart", func(t *testing.T) {
		f, err := dest.Create(t.Context(), "big-aborted.bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(big); err != nil {
			t.Fatal(err)
		}
		if err := f.Abort(); err != nil {
			t.Fatal(err)
		}
		if keys := listKeys(t, c); len(keys) != 0 {
			t.Errorf("keys after abort: %v", keys)
		}
		out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("bucket")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) != 0 {
			t.Errorf("%d multipart uploads left open", len(out.Uploads))
		}
	})

	t.Run("commit multipart", func(t *testing.T) {
		f, err := dest.Create(t.Context(), "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(big); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := f.Abort(); err != nil {
			t.Errorf("Abort after Commit: %v", err)
		}
		if got := getObject(t, c, "x/big.bin"); !bytes.Equal(got, big) {
			t.Errorf("object of %d bytes, want %d", len(got), len(big))
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		d, err := OpenDestination(t.Context(), "s3://nobucket/", c)
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.Create(t.Context(), "a.parquet")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write([]byte("PAR1"))
		if err := f.Commit(); err == nil {
			t.Error("Commit into a missing bucket: no error")
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		f, err := dest.Create(ctx, "cancelled.bin")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := f.Write(big); err == nil {
			t.Error("Write after cancel: no error")
		}
		if err := f.Commit(); err == nil {
			t.Error("Commit after cancel: no error")
		}
		for _, k := range listKeys(t, c) {
			if strings.Contains(k, "cancelled") {
				t.Errorf("object %s appeared", k)
			}
		}
	})
}
