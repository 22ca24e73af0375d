package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/ingest/s3test"
	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/objstore/objstoretest"
)

// versity starts versitygw with bucket "suite" and returns a client as
// NewClient builds it.
func versity(t *testing.T) *s3.Client {
	t.Helper()
	srv := s3test.Start(t)
	srv.MkBucket(t, "suite")
	c, err := objstore.NewClient(t.Context(), objstore.Config{
		Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestS3Destination(t *testing.T) {
	t.Parallel()
	c := versity(t)
	var n atomic.Int64
	objstoretest.TestDestination(t, func(t *testing.T) objstore.Dest {
		d, err := objstore.Open(t.Context(), fmt.Sprintf("s3://suite/exports/%d/", n.Add(1)), c)
		if err != nil {
			t.Fatal(err)
		}
		d.(*objstore.S3).PartSize = objstore.MinPartSize // the big file is a multipart upload
		return d
	})
	// Every aborted or failed multipart upload was aborted at the server.
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("suite")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(out.Uploads))
	}
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	c := versity(t)
	d := objstore.NewS3(c, "nobucket", "x")
	f, err := d.Create(t.Context(), "a.parquet")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("PAR1"))
	if err := f.Commit(); err == nil {
		t.Error("Commit into a missing bucket: no error")
	}
	// A missing bucket is a configuration error, not a missing file.
	if _, err := d.ReadFile(t.Context(), "a.parquet"); err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("ReadFile in a missing bucket: %v, want an error that is not ErrNotExist", err)
	}
	_, err = c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("a")})
	if err == nil || objstore.IsNotFound(err) {
		t.Errorf("GetObject in a missing bucket: IsNotFound(%v) = true", err)
	}
	_, err = c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("suite"), Key: aws.String("missing")})
	if !objstore.IsNotFound(err) {
		t.Errorf("GetObject of a missing key: IsNotFound(%v) = false", err)
	}
	_, err = c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("suite"), Key: aws.String("missing")})
	if !objstore.IsNotFound(err) {
		t.Errorf("HeadObject of a missing key: IsNotFound(%v) = false", err)
	}
}

// A file whose multipart upload could not start is never committed with
// what is left in its buffer.
func TestS3FailedPartIsNotCommitted(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.MkBucket(t, "suite")
	px := srv.Proxy(t)
	px.Fault = func(r *http.Request) (int, string) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			return http.StatusForbidden, "AccessDenied"
		}
		return 0, ""
	}
	c, err := objstore.NewClient(t.Context(), objstore.Config{
		Endpoint: px.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := objstore.NewS3(c, "suite", "x")
	d.PartSize = objstore.MinPartSize
	f, err := d.Create(t.Context(), "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, objstore.MinPartSize+10)); err == nil {
		t.Fatal("Write past a part whose upload cannot start: no error")
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after a failed part: no error")
	}
	if _, err := d.Stat(t.Context(), "a.bin"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Stat: %v, want ErrNotExist", err)
	}
}
