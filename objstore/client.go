package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// DefaultRegion is used when neither Config.Region nor the environment
// (AWS_REGION, shared config) names a region.
const DefaultRegion = "us-east-1"

// Config says how to reach an S3 or S3-compatible object store.
type Config struct {
	// Endpoint is the base URL of an S3-compatible server (MinIO, Ceph, R2,
	// a test server); empty means AWS.
	Endpoint string
	// Region; empty means the region of the default config chain
	// (AWS_REGION, ~/.aws/config), else DefaultRegion.
	Region string
	// PathStyle addresses buckets as http://host/bucket/key instead of
	// http://bucket.host/key; most S3-compatible servers need it.
	PathStyle bool
	// AccessKeyID and SecretAccessKey are optional static credentials (with
	// an optional SessionToken). When both are empty the default credential
	// chain is used (environment, shared files, web identity, IMDS).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Retry bounds of the client's transport retries (seconds). Record retries
// (minutes) are the Store's business, not the client's.
const (
	// MaxAttempts is the number of attempts of one request, the first
	// included.
	MaxAttempts = 5
	// MaxBackoff caps the (jittered, exponential) wait between attempts.
	MaxBackoff = 10 * time.Second
)

// NewClient builds an S3 client from cfg. Checksums are computed and
// validated only when an operation requires them, which S3-compatible servers
// need. It makes no request.
func NewClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(newRetryer),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return nil, errors.New("objstore: s3: static credentials need both an access key id and a secret access key")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("objstore: s3: endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: load aws config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// newRetryer is the client's retryer: the SDK's standard one (throttling,
// 5xx, connection resets, timeouts are retryable) with bounded attempts and
// backoff and no retry quota.
//
// Why not the SDK's default: its standard retryer draws every retry from a
// client-wide token bucket of 500 tokens (5 per retry, 10 per timeout) that
// only successes refill. During an outage of the object store — or of the
// network to it — the bucket runs dry within a few dozen failed requests,
// and from then on every request of the process fails at its first error
// ("retry quota exceeded") with no retry at all, even after the store is
// back, until enough successes have refilled it. A batch job that fetches
// thousands of images in parallel hits exactly that: one blip turned into
// a wave of records rejected or runs aborted for a transient error.
// ratelimit.None removes the quota; MaxAttempts and MaxBackoff bound what
// one request may cost instead (5 attempts, at most ~25 s of waiting).
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// IsNotFound reports whether err says that the object does not exist:
// NoSuchKey (GetObject), or NotFound (the bare 404 of HeadObject, which has
// no body to say more). A missing bucket (NoSuchBucket) is not a missing
// object: it means the configuration is wrong, and callers must not treat
// it as "nothing there yet".
func IsNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}
