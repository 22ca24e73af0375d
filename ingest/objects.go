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
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/pipeline"
)

// DefaultMaxObjectBytes bounds an object fetched when Objects.MaxBytes is
// not positive.
const DefaultMaxObjectBytes int64 = 50 << 20

// MaxObjectBytesLimit is the largest Objects.MaxBytes that
// ObjectOptions.Validate accepts: a fetched object is held in memory whole.
const MaxObjectBytesLimit int64 = 1 << 30

// ObjectOptions are the settings of Objects that come from the
// configuration; Manifest.Objects and ListOptions.Objects add the scope of
// the source. Call Validate when the configuration is loaded.
type ObjectOptions struct {
	// MaxBytes is source.s3.max_object_bytes: see Objects.MaxBytes.
	MaxBytes int64
	// AllowedBuckets is source.allowed_buckets: see Objects.AllowedBuckets.
	AllowedBuckets []string
	// LocalRoot is source.local_root: see Objects.LocalRoot.
	LocalRoot string
}

// Validate reports the first bad option, naming it as the configuration
// does: max_object_bytes must be in 1..MaxObjectBytesLimit (a non-positive
// value is an error, never "no limit"), allowed_buckets must be bare bucket
// names, and local_root, when set, must be an existing directory.
func (o ObjectOptions) Validate() error {
	if o.MaxBytes <= 0 || o.MaxBytes > MaxObjectBytesLimit {
		return fmt.Errorf("max_object_bytes: %d is not in 1..%d", o.MaxBytes, MaxObjectBytesLimit)
	}
	for _, b := range o.AllowedBuckets {
		if b == "" || strings.ContainsAny(b, "/\\ ") || strings.Contains(b, ":") {
			return fmt.Errorf("allowed_buckets: %q is not a bucket name (give names, not s3:// URIs)", b)
		}
	}
	if o.LocalRoot != "" {
		fi, err := os.Stat(o.LocalRoot)
		if err != nil {
			return fmt.Errorf("local_root: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("local_root: %q is not a directory", o.LocalRoot)
		}
	}
	return nil
}

// Objects fetches the bytes of the objects that manifest cells name, inside
// the scope of the manifest (see Get). It is safe for concurrent use; its
// fields must not change once it is in use.
type Objects struct {
	// S3 is the client for s3:// references and keys relative to BaseBucket;
	// nil when only local files are used.
	S3 *s3.Client
	// BaseBucket is the bucket of an s3:// manifest (or listing): a
	// reference that is not an s3:// URI is a key in it, and s3:// URIs
	// may name it. An Objects with a BaseBucket never reads a local file.
	BaseBucket string
	// AllowedBuckets are further buckets that s3:// references may name
	// (source.allowed_buckets); any other bucket is out_of_scope.
	AllowedBuckets []string
	// BaseDir is the directory of a local manifest: relative references are
	// resolved against it, and must stay inside it (or inside LocalRoot).
	BaseDir string
	// LocalRoot, when set, is the directory local references must stay
	// inside instead of BaseDir (source.local_root); absolute paths and
	// file:// URIs are then accepted when they lie inside it. Ignored when
	// BaseBucket is set.
	LocalRoot string
	// MaxBytes refuses larger objects (cannot_fit_size_limit): before the
	// download from the object's Content-Length or file size, and while
	// reading. Zero or negative means DefaultMaxObjectBytes; there is no
	// "unlimited".
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

// Get returns the bytes of the object that ref names, which must lie inside
// the scope of the manifest:
//
//   - with a BaseBucket (an s3:// manifest or listing): "s3://bucket/key"
//     naming BaseBucket or one of AllowedBuckets, or a key in BaseBucket;
//     never a local file;
//   - otherwise (a local manifest): "s3://bucket/key" naming one of
//     AllowedBuckets, or a path relative to BaseDir that stays inside
//     BaseDir (LocalRoot when set); absolute paths and file:// URIs only
//     when LocalRoot is set and they lie inside it. Local files are opened
//     through an os.Root on that directory, so no symlink leads out of it.
//
// Keys are taken literally (no percent-decoding), but a key that starts
// with "/" or has a "." or ".." segment is refused.
//
// Errors that are the input's fault are *pipeline.RejectError: a reference
// outside the scope is out_of_scope; a local path that is not a regular file
// (directory, FIFO, device, socket) is not_a_regular_file, decided on the
// opened descriptor (opened non-blocking, so a FIFO never blocks); a missing
// object or file (or an archived S3 object) is missing_object, zero bytes is
// empty_object, more than MaxBytes is cannot_fit_size_limit, and a reference
// that cannot be parsed is missing_object. Any other error (403, 5xx,
// network, a missing bucket, permissions of a local file, a cancelled ctx,
// which also stops a read in progress) is an infrastructure error that may
// succeed when retried. No error text contains the object key or path: keys
// often hold client ids.
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
	return o.getFile(ctx, loc.root, loc.rel)
}

type location struct {
	bucket, key string // S3 object
	root, rel   string // local file: rel inside the directory root
}

func outOfScope(detail string) error { return pipeline.Reject(pipeline.RejectOutOfScope, detail) }

// keyProblem says why an object key is refused, or "".
func keyProblem(key string) string {
	if strings.HasPrefix(key, "/") {
		return "object key starts with /"
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return "object key has a . or .. segment"
		}
	}
	return ""
}

func (o *Objects) bucketAllowed(b string) bool {
	return b == o.BaseBucket && b != "" || slices.Contains(o.AllowedBuckets, b)
}

func (o *Objects) resolve(ref string) (location, error) {
	switch {
	case ref == "":
		return location{}, pipeline.Reject(pipeline.RejectMissingObject, "empty object reference")
	case strings.IndexByte(ref, 0) >= 0:
		return location{}, pipeline.Reject(pipeline.RejectMissingObject, "object reference with a NUL byte")
	case strings.HasPrefix(ref, "s3://"):
		b, k, err := ParseS3URI(ref)
		if err != nil || k == "" {
			return location{}, pipeline.Reject(pipeline.RejectMissingObject, "s3 URI without bucket or key")
		}
		if !o.bucketAllowed(b) {
			return location{}, outOfScope(fmt.Sprintf("bucket %s is neither the manifest's nor in allowed_buckets", quoteShort(b)))
		}
		if p := keyProblem(k); p != "" {
			return location{}, outOfScope(p)
		}
		return location{bucket: b, key: k}, nil
	case o.BaseBucket != "":
		if strings.HasPrefix(ref, "file:") {
			return location{}, outOfScope("an s3:// manifest cannot name local files")
		}
		if p := keyProblem(ref); p != "" {
			return location{}, outOfScope(p)
		}
		return location{bucket: o.BaseBucket, key: ref}, nil
	}
	root := o.LocalRoot
	if root == "" {
		root = o.BaseDir
	}
	if root == "" {
		return location{}, outOfScope("a local reference without a local manifest or local_root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return location{}, &redactedError{msg: "ingest: local root: " + err.Error(), err: err}
	}
	p := ref
	switch {
	case strings.HasPrefix(ref, "file:"):
		if o.LocalRoot == "" {
			return location{}, outOfScope("file:// references need local_root")
		}
		if p, err = fileURIPath(ref); err != nil {
			return location{}, pipeline.Reject(pipeline.RejectMissingObject, err.Error())
		}
	case filepath.IsAbs(ref) || filepath.VolumeName(ref) != "":
		if o.LocalRoot == "" {
			return location{}, outOfScope("absolute paths need local_root")
		}
	default:
		base := root
		if o.BaseDir != "" {
			if base, err = filepath.Abs(o.BaseDir); err != nil {
				return location{}, &redactedError{msg: "ingest: local base directory: " + err.Error(), err: err}
			}
		}
		p = filepath.Join(base, ref)
	}
	rel, err := filepath.Rel(root, filepath.Clean(p))
	if err != nil || !filepath.IsLocal(rel) {
		if o.LocalRoot != "" {
			return location{}, outOfScope("path outside local_root")
		}
		return location{}, outOfScope("path outside the manifest's directory")
	}
	return location{root: root, rel: rel}, nil
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
	if o.MaxBytes <= 0 {
		return DefaultMaxObjectBytes
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
	if size > limit {
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

func (o *Objects) getFile(ctx context.Context, root, rel string) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fileError(err)
	}
	defer r.Close()
	// O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
	// The mode is checked on the opened descriptor, so nothing can swap the
	// file between the check and the read.
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fileError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, pipeline.Reject(pipeline.RejectNotRegularFile, "path is a "+fileKind(fi.Mode()))
	}
	limit := o.maxBytes()
	if size := fi.Size(); size > limit {
		return nil, tooLarge(size, limit)
	}
	data, err := readLimited(ctxReader{ctx, f}, fi.Size(), limit)
	if err != nil {
		if pipeline.RejectCode(err) != "" || ctx.Err() != nil {
			return nil, err
		}
		return nil, fileError(err)
	}
	return data, nil
}

// fileKind names a file mode that is not a regular file.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p[:min(len(p), 1<<20)])
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
		// os.Root's error for a symlink or .. that leads out of the root
		// is not exported; its text is stable.
		if pe.Err.Error() == "path escapes from parent" {
			return outOfScope("path leads outside the manifest's directory (symlink)")
		}
		msg = pe.Op + ": " + pe.Err.Error()
	}
	return &redactedError{msg: "ingest: local object: " + msg, err: err}
}

// readLimited reads r to its end, refusing more than limit bytes (limit > 0)
// and zero bytes. size is the announced size, or -1.
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size == 0 {
		return nil, pipeline.Reject(pipeline.RejectEmptyObject, "object is empty")
	}
	var buf bytes.Buffer
	if limit <= 0 {
		limit = DefaultMaxObjectBytes
	}
	if size > 0 && size <= limit {
		buf.Grow(int(size) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
			fmt.Sprintf("object is more than the %d bytes allowed", limit))
	}
	if buf.Len() == 0 {
		return nil, pipeline.Reject(pipeline.RejectEmptyObject, "object is empty")
	}
	return buf.Bytes(), nil
}
