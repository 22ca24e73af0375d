package objstore

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func TestNewClientConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Endpoint: "ftp://host"},
		{Endpoint: "localhost:9000"},
		{AccessKeyID: "only-the-id"},
		{SecretAccessKey: "only-the-secret"},
	} {
		if _, err := NewClient(t.Context(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	c, err := NewClient(t.Context(), Config{Endpoint: "http://127.0.0.1:9", Region: "eu-west-1", PathStyle: true, AccessKeyID: "a", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Region != "eu-west-1" || !o.UsePathStyle || o.Retryer.MaxAttempts() != MaxAttempts {
		t.Errorf("region %q, path style %v, %d attempts", o.Region, o.UsePathStyle, o.Retryer.MaxAttempts())
	}
}

// The SDK's default retryer stops retrying once 100 retries have failed in a
// row (its quota of 500 tokens, 5 per retry, refilled only by successes);
// ours retries every request however long the outage lasts.
func TestRetryerHasNoQuota(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your request rate"}
	def := retry.NewStandard()
	quotaErr := error(nil)
	for range 1000 {
		if _, err := def.GetRetryToken(context.Background(), throttled); err != nil {
			quotaErr = err
			break
		}
	}
	if quotaErr == nil {
		t.Fatal("the SDK's default retryer no longer runs out of retry tokens: revisit newRetryer's comment")
	}
	r := newRetryer()
	for i := range 1000 {
		if _, err := r.GetRetryToken(context.Background(), throttled); err != nil {
			t.Fatalf("retry %d refused: %v", i, err)
		}
	}
	if !r.IsErrorRetryable(throttled) || r.MaxAttempts() != MaxAttempts {
		t.Errorf("retryable %v, %d attempts", r.IsErrorRetryable(throttled), r.MaxAttempts())
	}
	if d, _ := r.RetryDelay(20, throttled); d > MaxBackoff {
		t.Errorf("backoff %v over %v", d, MaxBackoff)
	}
}

func TestIsNotFound(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&types.NoSuchKey{}, true},
		{&types.NotFound{}, true},
		{&smithy.GenericAPIError{Code: "NoSuchKey"}, true},
		{&smithy.GenericAPIError{Code: "NotFound"}, true},
		{&types.NoSuchBucket{}, false},
		{&smithy.GenericAPIError{Code: "NoSuchBucket"}, false},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := IsNotFound(tc.err); got != tc.want {
			t.Errorf("IsNotFound(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
