package objstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 upload tuning: parts are buffered in memory, PartSize × Concurrency at
// most per file (the part being filled counts); 10,000 parts of 16 MiB allow
// files up to 160 GiB.
const (
	// DefaultPartSize is the size of a multipart upload's parts.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (all but the last).
	MinPartSize = 5 << 20
	// Concurrency is how many part buffers a file has: parts in flight plus
	// the one being filled.
	Concurrency = 3
	// abortGrace bounds how long Abort waits for in-flight parts before
	// cancelling them (the multipart upload is aborted in either case,
	// unless the cancellation also kills that request).
	abortGrace = 30 * time.Second
)

// S3 is a Dest under s3://bucket/prefix. A file smaller than one part is
// sent with one PutObject at Commit; a larger one is streamed as a multipart
// upload, completed at Commit and aborted by Abort or on any error, so
// nothing is visible before Commit and nothing touches disk.
//
// The upload is written here rather than with the SDK's
// feature/s3/manager (deprecated) or feature/s3/transfermanager (its
// replacement, still v0.x: no stable API): a File needs only
// CreateMultipartUpload, UploadPart, CompleteMultipartUpload and
// AbortMultipartUpload, and owning them keeps the abort guarantees visible.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	// PartSize is the size of a multipart upload's parts: 0 means
	// DefaultPartSize; at least MinPartSize.
	PartSize int64
}

// NewS3 returns the destination under s3://bucket/prefix/ written through
// client.
func NewS3(client *s3.Client, bucket, prefix string) *S3 {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

// Root returns s3://bucket/prefix/.
func (d *S3) Root() string { return "s3://" + d.bucket + "/" + d.prefix }

// Location returns the s3:// URI of relPath.
func (d *S3) Location(relPath string) string { return d.Root() + relPath }

func (d *S3) key(relPath string) string { return d.prefix + path.Clean(relPath) }

// Create starts a file; nothing is sent before a part is full or Commit.
func (d *S3) Create(ctx context.Context, relPath string) (File, error) {
	if err := CheckRel(relPath); err != nil {
		return nil, err
	}
	// Requests outlive a cancelled ctx just long enough to abort the
	// multipart upload cleanly; Commit and Abort cancel them for good.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &s3File{
		d: d, ctx: ctx, uctx: uctx, cancel: cancel,
		key: d.key(relPath), uri: d.Location(relPath), ct: contentType(relPath),
		partSize: int(max(cmp.Or(d.PartSize, DefaultPartSize), MinPartSize)),
		sem:      make(chan struct{}, Concurrency),
	}, nil
}

func contentType(relPath string) string {
	switch path.Ext(relPath) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".csv":
		return "text/csv; charset=utf-8"
	}
	return ""
}

type s3File struct {
	d        *S3
	ctx      context.Context // Create's: ends the file
	uctx     context.Context // the requests'
	cancel   context.CancelFunc
	key, uri string
	ct       string
	partSize int

	// Used by Write, Commit and Abort only (one goroutine at a time, as for
	// any io.Writer).
	buf      []byte
	uploadID string        // "" until the first part is full
	next     int32         // number of the next part
	sem      chan struct{} // a slot per part buffer (f.buf and parts in flight)
	wg       sync.WaitGroup
	state    error // nil while open, then errFinished (committed) or ErrAborted

	mu    sync.Mutex // guards parts and err, written by part uploads
	parts []types.CompletedPart
	err   error // the first failed request
}

func (f *s3File) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *s3File) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *s3File) Write(p []byte) (int, error) {
	if f.state != nil {
		return 0, f.state
	}
	n := 0
	for len(p) > 0 {
		if err := f.ctx.Err(); err != nil {
			return n, err
		}
		if err := f.failed(); err != nil {
			return n, err
		}
		if f.buf == nil {
			select { // wait for a free buffer
			case f.sem <- struct{}{}:
			case <-f.ctx.Done():
				return n, f.ctx.Err()
			}
			f.buf = make([]byte, 0, f.partSize)
		}
		c := min(len(p), f.partSize-len(f.buf))
		f.buf = append(f.buf, p[:c]...)
		n += c
		p = p[c:]
		if len(f.buf) == f.partSize {
			if err := f.sendPart(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// sendPart starts the upload of the buffered part, starting the multipart
// upload first if this is the first part. The part's buffer slot is
// released when its upload ends.
func (f *s3File) sendPart() error {
	if f.uploadID == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(f.d.bucket), Key: aws.String(f.key)}
		if f.ct != "" {
			in.ContentType = aws.String(f.ct)
		}
		out, err := f.d.client.CreateMultipartUpload(f.uctx, in)
		if err != nil {
			err = fmt.Errorf("upload %s: %w", f.uri, err)
			f.fail(err)
			return err
		}
		f.uploadID = aws.ToString(out.UploadId)
	}
	f.next++
	num, body := f.next, f.buf
	f.buf = nil
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		out, err := f.d.client.UploadPart(f.uctx, &s3.UploadPartInput{
			Bucket: aws.String(f.d.bucket), Key: aws.String(f.key), UploadId: aws.String(f.uploadID),
			PartNumber: aws.Int32(num), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		})
		if err != nil {
			f.fail(fmt.Errorf("upload %s: part %d: %w", f.uri, num, err))
			return
		}
		f.mu.Lock()
		f.parts = append(f.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		f.mu.Unlock()
	}()
	return nil
}

func (f *s3File) Commit() error {
	if f.state != nil {
		return errFinished
	}
	if err := f.ctx.Err(); err != nil {
		_ = f.Abort()
		return err
	}
	// A failed request (a part, or starting the multipart upload) means
	// data is missing: never commit what is left.
	if err := f.failed(); err != nil {
		_ = f.Abort()
		return err
	}
	f.state = errFinished
	defer f.cancel()
	if f.uploadID == "" {
		in := &s3.PutObjectInput{
			Bucket: aws.String(f.d.bucket), Key: aws.String(f.key),
			Body: bytes.NewReader(f.buf), ContentLength: aws.Int64(int64(len(f.buf))),
		}
		if f.ct != "" {
			in.ContentType = aws.String(f.ct)
		}
		defer f.dropBuf()
		if _, err := f.d.client.PutObject(f.uctx, in); err != nil {
			return fmt.Errorf("upload %s: %w", f.uri, err)
		}
		return nil
	}
	if len(f.buf) > 0 {
		_ = f.sendPart() // cannot fail: the multipart upload exists
	}
	f.wg.Wait()
	if err := f.failed(); err != nil {
		f.abortUpload()
		return err
	}
	slices.SortFunc(f.parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	_, err := f.d.client.CompleteMultipartUpload(f.uctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(f.d.bucket), Key: aws.String(f.key), UploadId: aws.String(f.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: f.parts},
	})
	if err != nil {
		f.abortUpload()
		return fmt.Errorf("upload %s: %w", f.uri, err)
	}
	return nil
}

func (f *s3File) Abort() error {
	if f.state != nil {
		return nil
	}
	f.state = ErrAborted
	defer f.cancel()
	f.dropBuf()
	if f.uploadID == "" {
		return nil // nothing was sent
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(abortGrace):
		f.cancel()
		<-done
	}
	f.abortUpload()
	return nil
}

// dropBuf discards the part being filled, if any, and frees its slot.
func (f *s3File) dropBuf() {
	if f.buf != nil {
		f.buf = nil
		<-f.sem
	}
}

// abortUpload aborts the multipart upload, best effort: a bucket lifecycle
// rule removes the parts of one that could not be aborted.
func (f *s3File) abortUpload() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(f.uctx), abortGrace)
	defer cancel()
	_, _ = f.d.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(f.d.bucket), Key: aws.String(f.key), UploadId: aws.String(f.uploadID),
	})
}

// Stat returns the size of a committed object.
func (d *S3) Stat(ctx context.Context, relPath string) (FileInfo, error) {
	if err := CheckRel(relPath); err != nil {
		return FileInfo{}, err
	}
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key(relPath))})
	if err != nil {
		if IsNotFound(err) {
			return FileInfo{}, fmt.Errorf("%w: %s", ErrNotExist, relPath)
		}
		return FileInfo{}, fmt.Errorf("export: stat %s: %w", d.Location(relPath), err)
	}
	return FileInfo{Rel: relPath, Size: aws.ToInt64(out.ContentLength)}, nil
}

// ReadFile returns a committed object's content.
func (d *S3) ReadFile(ctx context.Context, relPath string) ([]byte, error) {
	if err := CheckRel(relPath); err != nil {
		return nil, err
	}
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key(relPath))})
	if err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, relPath)
		}
		return nil, fmt.Errorf("export: read %s: %w", d.Location(relPath), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("export: read %s: %w", d.Location(relPath), err)
	}
	return b, nil
}

// Delete removes the objects with DeleteObjects, 1000 keys per request.
// A missing key is not an error.
func (d *S3) Delete(ctx context.Context, relPaths ...string) error {
	for len(relPaths) > 0 {
		n := min(len(relPaths), 1000)
		ids := make([]types.ObjectIdentifier, 0, n)
		for _, rel := range relPaths[:n] {
			if err := CheckRel(rel); err != nil {
				return err
			}
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(d.key(rel))})
		}
		out, err := d.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(d.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("export: delete under %s: %w", d.Root(), err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("export: delete %s: %s %s", d.Root()+strings.TrimPrefix(aws.ToString(e.Key), d.prefix), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		relPaths = relPaths[n:]
	}
	return nil
}

// List lists the objects under prefix/, page by page.
func (d *S3) List(ctx context.Context, prefix string) ([]FileInfo, error) {
	if err := CheckRel(prefix); err != nil {
		return nil, err
	}
	p := d.key(prefix) + "/"
	var out []FileInfo
	pg := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(p)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("export: list %s: %w", d.Location(prefix), err)
		}
		for _, o := range page.Contents {
			out = append(out, FileInfo{Rel: strings.TrimPrefix(aws.ToString(o.Key), d.prefix), Size: aws.ToInt64(o.Size)})
		}
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Rel, b.Rel) })
	return out, nil
}

var _ Dest = (*S3)(nil)
var _ Dest = (*Local)(nil)
