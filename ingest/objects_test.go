package ingest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/idbatch/idbatch/pipeline"
)

func TestNewS3Client(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := NewS3Client(ctx, S3Config{Endpoint: "http://127.0.0.1:9000", PathStyle: true, AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:9000" ||
		o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired ||
		o.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired || o.Region == "" {
		t.Errorf("options: path style %v endpoint %v checksums %v/%v region %q",
			o.UsePathStyle, aws.ToString(o.BaseEndpoint), o.RequestChecksumCalculation, o.ResponseChecksumValidation, o.Region)
	}
	c, err = NewS3Client(ctx, S3Config{Region: "eu-central-1", AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Options(); o.Region != "eu-central-1" || o.BaseEndpoint != nil || o.UsePathStyle {
		t.Errorf("aws options: %q %v %v", o.Region, o.BaseEndpoint, o.UsePathStyle)
	}
	for _, bad := range []S3Config{
		{AccessKeyID: "only-id"},
		{Endpoint: "localhost:9000"},
		{Endpoint: "ftp://x"},
	} {
		if _, err := NewS3Client(ctx, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestParseS3URI(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string][2]string{
		"s3://b/k":             {"b", "k"},
		"s3://b/a/b c?d#e%20f": {"b", "a/b c?d#e%20f"},
		"s3://b":               {"b", ""},
		"s3://b/":              {"b", ""},
	} {
		b, k, err := ParseS3URI(uri)
		if err != nil || b != want[0] || k != want[1] {
			t.Errorf("%s: %q %q %v", uri, b, k, err)
		}
	}
	for _, bad := range []string{"s3:///k", "http://b/k", "b/k"} {
		if _, _, err := ParseS3URI(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestObjectsGetS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeS3(t, "bkt", "other")
	img := []byte("image bytes")
	f.put(t, "bkt", "customers/client-42/front.jpg", img)
	f.put(t, "bkt", "odd key/ü+ä?.jpg", img)
	f.put(t, "other", "x/face.jpg", []byte("face"))
	f.put(t, "bkt", "empty.jpg", nil)
	f.put(t, "bkt", "big.jpg", bytes.Repeat([]byte{1}, 2000))
	f.put(t, "bkt", "forbidden/client-42.jpg", img)
	f.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "forbidden") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return true
		}
		return false
	}
	o := &Objects{S3: f.client, BaseBucket: "bkt", AllowedBuckets: []string{"other", "no-such-bucket"}, MaxBytes: 1000}

	for _, ref := range []string{"s3://bkt/customers/client-42/front.jpg", "customers/client-42/front.jpg", "odd key/ü+ä?.jpg"} {
		got, err := o.Get(ctx, ref)
		if err != nil || !bytes.Equal(got, img) {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	if got, err := o.Get(ctx, "s3://other/x/face.jpg"); err != nil || string(got) != "face" {
		t.Errorf("other bucket: %q %v", got, err)
	}

	for ref, code := range map[string]string{
		"customers/client-42/back.jpg":      pipeline.RejectMissingObject,
		"s3://bkt/customers/client-42/nope": pipeline.RejectMissingObject,
		"s3://bkt/":                         pipeline.RejectMissingObject,
		"":                                  pipeline.RejectMissingObject,
		"empty.jpg":                         pipeline.RejectEmptyObject,
		"big.jpg":                           pipeline.RejectCannotFitSizeLimit,
	} {
		_, err := o.Get(ctx, ref)
		if got := pipeline.RejectCode(err); got != code {
			t.Errorf("%q: %v (code %q), want %q", ref, err, got, code)
		}
		if err != nil && strings.Contains(err.Error(), "client-42") {
			t.Errorf("%q: error %q names the key", ref, err)
		}
	}

	// Infrastructure errors are not rejects, and do not name the key.
	for _, ref := range []string{"forbidden/client-42.jpg", "s3://no-such-bucket/client-42.jpg"} {
		_, err := o.Get(ctx, ref)
		if err == nil || pipeline.RejectCode(err) != "" {
			t.Errorf("%s: %v, want an infrastructure error", ref, err)
		}
		if err != nil && strings.Contains(err.Error(), "client-42") {
			t.Errorf("%s: error %q names the key", ref, err)
		}
	}
	_, err := o.Get(ctx, "forbidden/client-42.jpg")
	if !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "403") {
		t.Errorf("403: %v", err)
	}
	// The error chain keeps the SDK error.
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("403: chain lost the response error")
	}

	// A network error (server gone) neither.
	dead := newFakeS3(t)
	dead.server.Close()
	_, err = (&Objects{S3: dead.client, BaseBucket: "bkt"}).Get(ctx, "s3://bkt/customers/client-42/front.jpg")
	if err == nil || pipeline.RejectCode(err) != "" || strings.Contains(err.Error(), "client-42") {
		t.Errorf("dead server: %v", err)
	}

	// A non-positive limit is the default limit, never "no limit".
	if _, err := (&Objects{S3: f.client, BaseBucket: "bkt", MaxBytes: -1}).Get(ctx, "s3://bkt/big.jpg"); err != nil {
		t.Errorf("limit -1: %v", err)
	}
	if _, err := (&Objects{S3: f.client, BaseBucket: "bkt"}).Get(ctx, "s3://bkt/big.jpg"); err != nil {
		t.Errorf("default limit: %v", err)
	}
	// No client configured.
	if _, err := (&Objects{BaseBucket: "bkt"}).Get(ctx, "s3://bkt/big.jpg"); err == nil || pipeline.RejectCode(err) != "" {
		t.Errorf("no client: %v", err)
	}
	// Cancelled context: not a reject.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.Get(cctx, "big.jpg"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestObjectsGetS3LimitWithoutContentLength(t *testing.T) {
	t.Parallel()
	// A server that streams without Content-Length: the limit holds while
	// reading.
	f := newFakeS3(t, "bkt")
	f.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Transfer-Encoding", "chunked")
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 10; i++ {
			w.Write(bytes.Repeat([]byte{7}, 500))
			w.(http.Flusher).Flush()
		}
		return true
	}
	_, err := (&Objects{S3: f.client, BaseBucket: "bkt", MaxBytes: 1000}).Get(context.Background(), "s3://bkt/k")
	if code := pipeline.RejectCode(err); code != pipeline.RejectCannotFitSizeLimit {
		t.Errorf("got %v", err)
	}
	got, err := (&Objects{S3: f.client, BaseBucket: "bkt", MaxBytes: 5000}).Get(context.Background(), "s3://bkt/k")
	if err != nil || len(got) != 5000 {
		t.Errorf("got %d bytes, %v", len(got), err)
	}
}

func TestObjectsGetLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "c1"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "c1", "front.jpg"), []byte("front"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "empty.jpg"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "big.jpg"), make([]byte, 101), 0o600))
	abs := filepath.Join(dir, "c1", "front.jpg")

	o := &Objects{BaseDir: dir, MaxBytes: 100}
	if got, err := o.Get(ctx, "c1/front.jpg"); err != nil || string(got) != "front" {
		t.Errorf("relative: %q %v", got, err)
	}
	// Absolute paths and file:// URIs need a local root, and then lie in it.
	rooted := &Objects{BaseDir: dir, LocalRoot: dir, MaxBytes: 100}
	for _, ref := range []string{"c1/front.jpg", abs, "file://" + abs, "file://localhost" + abs} {
		got, err := rooted.Get(ctx, ref)
		if err != nil || string(got) != "front" {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	if _, err := rooted.Get(ctx, "file://relative/x.jpg"); pipeline.RejectCode(err) != pipeline.RejectMissingObject {
		t.Errorf("relative file URI: %v", err)
	}
	for ref, code := range map[string]string{
		"c1/back.jpg":           pipeline.RejectMissingObject,
		"c1/front.jpg/x":        pipeline.RejectMissingObject, // a file as a directory
		"c1":                    pipeline.RejectNotRegularFile,
		abs:                     pipeline.RejectOutOfScope,
		"file://" + abs:         pipeline.RejectOutOfScope,
		"file://relative/x.jpg": pipeline.RejectOutOfScope,
		"empty.jpg":             pipeline.RejectEmptyObject,
		"big.jpg":               pipeline.RejectCannotFitSizeLimit,
	} {
		_, err := o.Get(ctx, ref)
		if got := pipeline.RejectCode(err); got != code {
			t.Errorf("%s: %v (code %q), want %q", ref, err, got, code)
		}
		if err != nil && strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %q names the path", ref, err)
		}
	}
	// Unreadable file: infrastructure, no path in the text (skipped as root,
	// who reads everything).
	if os.Geteuid() != 0 {
		p := filepath.Join(dir, "locked.jpg")
		must(os.WriteFile(p, []byte("x"), 0o000))
		_, err := o.Get(ctx, "locked.jpg")
		if err == nil || pipeline.RejectCode(err) != "" || strings.Contains(err.Error(), dir) {
			t.Errorf("unreadable: %v", err)
		}
	}
	// With a BaseBucket, a plain reference is a key, not a path.
	f := newFakeS3(t, "bkt")
	f.put(t, "bkt", "c1/front.jpg", []byte("from s3"))
	got, err := (&Objects{S3: f.client, BaseBucket: "bkt", BaseDir: dir}).Get(ctx, "c1/front.jpg")
	if err != nil || string(got) != "from s3" {
		t.Errorf("base bucket: %q %v", got, err)
	}
}
