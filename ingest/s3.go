package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/idbatch/idbatch/objstore"
)

// DefaultRegion is used when neither S3Config.Region nor the environment
// (AWS_REGION, shared config) names a region.
const DefaultRegion = objstore.DefaultRegion

// S3Config says how to reach an S3 or S3-compatible object store; see
// objstore.Config.
type S3Config = objstore.Config

// NewS3Client builds an S3 client from cfg with objstore.NewClient: an
// explicit retryer (bounded attempts and backoff, no retry quota), and
// checksums computed and validated only when an operation requires them,
// which S3-compatible servers need. It makes no request.
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	return objstore.NewClient(ctx, cfg)
}

// ParseS3URI splits "s3://bucket/key" into bucket and key. The key is taken
// literally (no percent-decoding), as the AWS CLI does; it may be empty.
func ParseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("ingest: %q is not an s3:// URI", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", errors.New("ingest: s3 URI has no bucket")
	}
	return bucket, key, nil
}

// isS3NotFound reports whether err says that the object (not the bucket) does
// not exist: objstore's one rule.
func isS3NotFound(err error) bool { return objstore.IsNotFound(err) }

// s3ErrorCode returns the API error code of err, or "".
func s3ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// s3Error wraps an S3 error for the caller without the object key in its
// text: keys often contain client ids, and error texts end up in logs. The
// original error stays in the chain for errors.Is / errors.As.
func s3Error(op, bucket, key string, err error) error {
	var msg string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
			msg = fmt.Sprintf("HTTP %d %s", re.HTTPStatusCode(), msg)
		}
	} else {
		msg = err.Error()
	}
	return &redactedError{
		msg: fmt.Sprintf("ingest: s3 %s in bucket %q: %s", op, bucket, redactKey(msg, key)),
		err: err,
	}
}

// redactedError has a text free of personal data and keeps the original
// error in its chain.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactKey removes key, in its raw and URL-escaped spellings, from msg.
func redactKey(msg, key string) string {
	if key == "" {
		return msg
	}
	for _, s := range []string{key, escapeKey(key), url.PathEscape(key), url.QueryEscape(key)} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<key>")
		}
	}
	return msg
}

// escapeKey escapes a key as the SDK puts it in a request path: every byte
// but the unreserved characters and '/' is percent-encoded.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
