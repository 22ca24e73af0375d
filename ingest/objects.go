package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/pipeline"
)

// DefaultMaxObjectBytes bounds an object fetched when Objects.MaxBytes is 0.
const DefaultMaxObjectBytes int64 = 64 << 20

// Objects fetches the bytes of the objects that manifest cells name. It is
// safe for concurrent use; its fields must not change once it is in use.
type Objects struct {
	// S3 is the client for s3:// references and keys relative to BaseBucket;
	// nil when only local files are used.
	S3 *s3.Client
	// BaseBucket is the bucket of the manifest: a reference that is neither
	// an s3:// nor a file:// URI is a key in it when BaseBucket is set.
	BaseBucket string
	// BaseDir is the directory of a local manifest: relative local paths are
	// resolved against it (against the working directory when empty).
	BaseDir string
	// MaxBytes refuses larger objects before downloading them (from the
	// object's Content-Length or file size). 0 means DefaultMaxObjectBytes;
	// negative means no limit.
	MaxBytes int64
	// MaxConcurrent bounds the GETs (and local reads) in flight at once
	// across all callers; 0 means DefaultMaxConcurrentGets.
	MaxConcurrent int

	once  sync.Once
	slots chan struct{}
}

// DefaultMaxConcurrentGets bounds Objects.Get calls in flight when
// Objects.MaxConcurrent is 0.
const DefaultMaxConcurrentGets = 8

// acquire takes a GET slot, or fails with ctx's error.
func (o *Objects) acquire(ctx context.Context) error {
	o.once.Do(func() {
		n := o.MaxConcurrent
		if n <= 0 {
			n = DefaultMaxConcurrentGets
		}
		o.slots = make(chan struct{}, n)
	})
	select {
	case o.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Objects) release() { <-o.slots }

// Get returns the bytes of the object that ref names:
//
//   - "s3://bucket/key" (key taken literally, no percent-decoding);
//   - "file:///abs/path" or "file://localhost/abs/path" (taken literally);
//   - a key in BaseBucket, when BaseBucket is set;
//   - otherwise a local path, relative to BaseDir unless absolute.
//
// Errors that are the input's fault are *pipeline.RejectError: a missing
// object or file (or an archived S3 object) is missing_object, zero bytes is
// empty_object, more than MaxBytes is cannot_fit_size_limit, and a reference
// that cannot be parsed is missing_object. Any other error (403, 5xx,
// network, a missing bucket, permissions of a local file, a cancelled ctx)
// is an infrastructure error that may succeed when retried. No error text
// contains the object key or path: keys often hold client ids.
func (o *Objects) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	loc, err := o.resolve(ref)
	if err != nil {
		return nil, err
	}
	if err := o.acquire(ctx); err != nil {
		return nil, err
	}
	defer o.release()
	if loc.bucket != "" {
		return o.getS3(ctx, loc.bucket, loc.key)
	}
	return o.getFile(loc.path)
}

type location struct {
	bucket, key string // S3 object
	path        string // local file
}

func (o *Objects) resolve(ref string) (location, error) {
	switch {
	case ref == "":
		return location{}, pipeline.Reject(pipeline.RejectMissingObject, "empty object reference")
	case strings.HasPrefix(ref, "s3://"):
		b, k, err := ParseS3URI(ref)
		if err != nil || k == "" {
			return location{}, pipeline.Reject(pipeline.RejectMissingObject, "s3 URI without bucket or key")
		}
		return location{bucket: b, key: k}, nil
	case strings.HasPrefix(ref, "file://"):
		p, err := fileURIPath(ref)
		if err != nil {
			return location{}, pipeline.Reject(pipeline.RejectMissingObject, err.Error())
		}
		return location{path: p}, nil
	case o.BaseBucket != "":
		return location{bucket: o.BaseBucket, key: ref}, nil
	}
	p := ref
	if !filepath.IsAbs(p) && o.BaseDir != "" {
		p = filepath.Join(o.BaseDir, p)
	}
	return location{path: p}, nil
}

// fileURIPath returns the local path of a file:// URI, taken literally.
func fileURIPath(uri string) (string, error) {
	rest := strings.TrimPrefix(uri, "file://")
	rest = strings.TrimPrefix(rest, "localhost")
	if !strings.HasPrefix(rest, "/") {
		return "", errors.New("file URI must hold an absolute path (file:///path)")
	}
	return filepath.FromSlash(rest), nil
}

func (o *Objects) maxBytes() int64 {
	switch {
	case o.MaxBytes == 0:
		return DefaultMaxObjectBytes
	case o.MaxBytes < 0:
		return -1
	}
	return o.MaxBytes
}

func tooLarge(size, limit int64) error {
	return pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
		fmt.Sprintf("object is %d bytes, more than the %d allowed", size, limit))
}

func (o *Objects) getS3(ctx context.Context, bucket, key string) ([]byte, error) {
	if o.S3 == nil {
		return nil, errors.New("ingest: an S3 object is referenced but no S3 client is configured")
	}
	out, err := o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		switch {
		case isS3NotFound(err):
			return nil, pipeline.Reject(pipeline.RejectMissingObject, "object not found")
		case s3ErrorCode(err) == "InvalidObjectState":
			return nil, pipeline.Reject(pipeline.RejectMissingObject, "object is archived (restore it first)")
		}
		return nil, s3Error("GetObject", bucket, key, err)
	}
	defer out.Body.Close()
	limit := o.maxBytes()
	var size int64 = -1
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	if limit >= 0 && size > limit {
		return nil, tooLarge(size, limit)
	}
	data, err := readLimited(out.Body, size, limit)
	if err != nil {
		if pipeline.RejectCode(err) != "" {
			return nil, err
		}
		return nil, s3Error("GetObject (reading body)", bucket, key, err)
	}
	return data, nil
}

func (o *Objects) getFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(err)
	}
	if fi.IsDir() {
		return nil, pipeline.Reject(pipeline.RejectMissingObject, "path is a directory")
	}
	limit := o.maxBytes()
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	if limit >= 0 && size > limit {
		return nil, tooLarge(size, limit)
	}
	data, err := readLimited(f, size, limit)
	if err != nil {
		if pipeline.RejectCode(err) != "" {
			return nil, err
		}
		return nil, fileError(err)
	}
	return data, nil
}

// fileError turns a local file error into a reject (missing) or an
// infrastructure error whose text holds no path.
func fileError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return pipeline.Reject(pipeline.RejectMissingObject, "file not found")
	}
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Op + ": " + pe.Err.Error()
	}
	return &redactedError{msg: "ingest: local object: " + msg, err: err}
}

// readLimited reads r to its end, refusing more than limit bytes (limit < 0:
// no limit) and zero bytes. size is the announced size, or -1.
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size == 0 {
		return nil, pipeline.Reject(pipeline.RejectEmptyObject, "object is empty")
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size) + 1)
	}
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	if limit >= 0 && int64(buf.Len()) > limit {
		return nil, pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
			fmt.Sprintf("object is more than the %d bytes allowed", limit))
	}
	if buf.Len() == 0 {
		return nil, pipeline.Reject(pipeline.RejectEmptyObject, "object is empty")
	}
	return buf.Bytes(), nil
}
