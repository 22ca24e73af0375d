package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/ingest/s3test"
	"github.com/idbatch/idbatch/pipeline"
)

// These tests run against versitygw, a real S3-compatible server, on
// loopback (ingest/s3test), through a proxy that counts requests and
// injects the faults versitygw does not produce by itself.

// versityClient is a client as NewS3Client builds it for the endpoint, with
// the SDK's standard retryer (3 attempts) but a short backoff, so that
// retries are exercised without waiting seconds.
func versityClient(t *testing.T, endpoint, accessKey, secretKey string) *s3.Client {
	t.Helper()
	c, err := NewS3Client(context.Background(), S3Config{
		Endpoint: endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: accessKey, SecretAccessKey: secretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s3.New(c.Options(), func(o *s3.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), 20*time.Millisecond)
	})
}

func TestVersityListMoreThan1000Keys(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.MkBucket(t, "legacy")
	const clients = 700 // × 2 sides = 1,400 keys: two ListObjectsV2 pages
	for i := 0; i < clients; i++ {
		id := fmt.Sprintf("cust-%05d", i)
		srv.Put(t, "legacy", "customers/"+id+"/front.jpg", []byte("f"))
		if i != 42 {
			srv.Put(t, "legacy", "customers/"+id+"/face.jpg", []byte("x"))
		}
	}
	srv.Put(t, "legacy", "customers/notes.txt", []byte("not matching the template"))

	px := srv.Proxy(t)
	var lists, slowDowns atomic.Int64
	px.Fault = func(r *http.Request) (int, string) {
		if r.URL.Query().Get("list-type") != "2" {
			return 0, ""
		}
		// The first request for the second page is throttled: the SDK
		// retries it and the listing goes on.
		if lists.Add(1) == 2 && r.URL.Query().Get("continuation-token") != "" {
			slowDowns.Add(1)
			return http.StatusServiceUnavailable, "SlowDown"
		}
		return 0, ""
	}
	c := versityClient(t, px.Endpoint, srv.AccessKey, srv.SecretKey)
	opts := ListOptions{Prefix: "s3://legacy/customers/", Template: "{client_id}/{side}.{ext}", Country: "LT", DocumentType: "PASSPORT"}
	recs := collect(t, func(fn func(pipeline.Record) error) error { return List(context.Background(), c, opts, "j", fn) })
	if len(recs) != clients {
		t.Fatalf("%d records, want %d", len(recs), clients)
	}
	if slowDowns.Load() != 1 || lists.Load() < 3 {
		t.Errorf("%d list requests, %d SlowDown: want a second page, throttled once and retried", lists.Load(), slowDowns.Load())
	}
	for i, r := range recs {
		id := fmt.Sprintf("cust-%05d", i)
		if r.Key != id {
			t.Fatalf("record %d is %q, want %q (order or grouping lost)", i, r.Key, id)
		}
		want := pipeline.StatePending
		if i == 42 {
			want = pipeline.StateRejected
			if r.RejectReason != pipeline.RejectMissingRequiredSide {
				t.Errorf("%s: reason %q", id, r.RejectReason)
			}
		}
		if r.State != want {
			t.Errorf("%s: state %s, want %s", id, r.State, want)
		}
		if i != 42 && r.Input.Sources[pipeline.SideFace] != "s3://legacy/customers/"+id+"/face.jpg" {
			t.Errorf("%s: face %q", id, r.Input.Sources[pipeline.SideFace])
		}
	}
}

func TestVersityObjectsGet(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.MkBucket(t, "legacy")
	img := encJPEG(t, gradient(400, 320), 90)
	srv.Put(t, "legacy", "cust-1/front.jpg", img)
	srv.Put(t, "legacy", "cust-1/empty.jpg", nil)
	big := make([]byte, 32<<20) // well above what socket buffers hold
	srv.Put(t, "legacy", "cust-1/big.jpg", big)

	px := srv.Proxy(t)
	var throttle atomic.Int64 // GETs still to answer with 503 SlowDown
	px.Fault = func(r *http.Request) (int, string) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/front.jpg") && throttle.Add(-1) >= 0 {
			return http.StatusServiceUnavailable, "SlowDown"
		}
		return 0, ""
	}
	objs := &Objects{S3: versityClient(t, px.Endpoint, srv.AccessKey, srv.SecretKey), BaseBucket: "legacy", MaxBytes: 1 << 20}
	ctx := context.Background()

	t.Run("get", func(t *testing.T) {
		got, err := objs.Get(ctx, "cust-1/front.jpg")
		if err != nil || string(got) != string(img) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
		got, err = objs.Get(ctx, "s3://legacy/cust-1/front.jpg")
		if err != nil || len(got) != len(img) {
			t.Fatalf("s3 URI: %d bytes, %v", len(got), err)
		}
	})
	t.Run("404 is missing_object", func(t *testing.T) {
		_, err := objs.Get(ctx, "cust-1/back.jpg")
		wantReject(t, err, pipeline.RejectMissingObject)
	})
	t.Run("empty object", func(t *testing.T) {
		_, err := objs.Get(ctx, "cust-1/empty.jpg")
		wantReject(t, err, pipeline.RejectEmptyObject)
	})
	t.Run("over the size cap, refused before download", func(t *testing.T) {
		before := px.BodyBytes()
		_, err := objs.Get(ctx, "cust-1/big.jpg")
		wantReject(t, err, pipeline.RejectCannotFitSizeLimit)
		if n := px.BodyBytes() - before; n > int64(len(big))/2 {
			t.Errorf("%d of %d bytes downloaded to refuse an object", n, len(big))
		}
	})
	t.Run("503 SlowDown is retried", func(t *testing.T) {
		throttle.Store(2) // the SDK makes 3 attempts
		before := px.Faults()
		got, err := objs.Get(ctx, "cust-1/front.jpg")
		if err != nil || len(got) != len(img) {
			t.Fatalf("after two SlowDowns: %d bytes, %v", len(got), err)
		}
		if n := px.Faults() - before; n != 2 {
			t.Errorf("%d SlowDowns answered, want 2", n)
		}
	})
	t.Run("persistent 503 SlowDown is an infrastructure error", func(t *testing.T) {
		throttle.Store(100)
		defer throttle.Store(0)
		_, err := objs.Get(ctx, "cust-1/front.jpg")
		if err == nil || pipeline.RejectCode(err) != "" {
			t.Fatalf("got %v, want an infrastructure error", err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable || s3ErrorCode(err) != "SlowDown" {
			t.Errorf("chain lost the 503 SlowDown: %v", err)
		}
		if strings.Contains(err.Error(), "cust-1") {
			t.Errorf("error text holds the key: %v", err)
		}
	})
	t.Run("403 is an infrastructure error", func(t *testing.T) {
		bad := &Objects{S3: versityClient(t, px.Endpoint, srv.AccessKey, "wrong-secret"), BaseBucket: "legacy"}
		_, err := bad.Get(ctx, "cust-1/front.jpg")
		if err == nil || pipeline.RejectCode(err) != "" {
			t.Fatalf("got %v, want an infrastructure error", err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
			t.Errorf("chain lost the 403: %v", err)
		}
		if strings.Contains(err.Error(), "cust-1") {
			t.Errorf("error text holds the key: %v", err)
		}
	})
	t.Run("a prepared record from versitygw", func(t *testing.T) {
		p := &Preparer{Objects: objs}
		rec := pipeline.Record{Input: pipeline.Input{ClientID: "cust-1", Country: "LT", DocumentType: "PASSPORT",
			Sources: map[pipeline.Side]string{pipeline.SideFront: "cust-1/front.jpg", pipeline.SideFace: "s3://legacy/cust-1/front.jpg"}}}
		got, err := p.Prepare(ctx, rec)
		if err != nil || len(got.Images) != 2 {
			t.Fatalf("%v, %d images", err, len(got.Images))
		}
	})
}
