package export

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Destination is where exported files go: a local directory or an S3 prefix.
type Destination interface {
	// Create starts a new file at relPath ("/"-separated, relative to the
	// root). Nothing is visible at its final name until File.Commit returns
	// nil; an existing file of that name is replaced then.
	Create(ctx context.Context, relPath string) (File, error)
	// Root is the destination as a user would write it (an absolute local
	// path, or s3://bucket/prefix/), for messages.
	Root() string
	// Location is where relPath is (or would be) once committed: a local path
	// or an s3:// URI.
	Location(relPath string) string

	// Stat returns a committed file's size, or an error wrapping
	// ErrNotExist. A file being written is not there until its commit.
	Stat(ctx context.Context, relPath string) (FileInfo, error)
	// ReadFile returns a committed file's content (for small files:
	// sidecars, journals, files to compact); ErrNotExist if missing.
	ReadFile(ctx context.Context, relPath string) ([]byte, error)
	// Delete removes files; a missing one is not an error (idempotent).
	Delete(ctx context.Context, relPaths ...string) error
	// List returns the committed files under the directory prefix (no
	// trailing slash), recursively, sorted by path; none if it is missing.
	List(ctx context.Context, prefix string) ([]FileInfo, error)
}

// File is a file being written. Exactly one of Commit or Abort should be
// called; Abort after Commit is a no-op, so `defer f.Abort()` is safe. A File
// is bound to the context given to Create: once it ends, Write and Commit
// fail and the file is discarded.
type File interface {
	io.Writer
	// Commit makes the file visible at its final name, durably: a local file
	// is fsynced and renamed, an S3 upload is completed. A nil error means
	// the whole file is there; a non-nil one means it is not there.
	Commit() error
	// Abort discards the file: nothing appears at its final name.
	Abort() error
}

// ErrAborted is what writes to an aborted File return.
var ErrAborted = errors.New("export: file aborted")

var errFinished = errors.New("export: file already committed or aborted")

// OpenDestination opens the destination named by uri: a plain local path or
// file://path (everything after file:// is a path, as in file:///abs or
// file://./rel), or s3://bucket/prefix/, written through s3c (required then).
// Nothing is created until a file is committed.
func OpenDestination(ctx context.Context, uri string, s3c *s3.Client) (Destination, error) {
	switch {
	case uri == "":
		return nil, errors.New("export: empty destination")
	case strings.HasPrefix(uri, "s3://"):
		if s3c == nil {
			return nil, fmt.Errorf("export: destination %s needs an S3 client", uri)
		}
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("export: destination %s has no bucket", uri)
		}
		prefix = strings.Trim(prefix, "/")
		if prefix != "" {
			prefix += "/"
		}
		return &s3Dest{client: s3c, bucket: bucket, prefix: prefix}, nil
	case strings.Contains(uri, "://") && !strings.HasPrefix(uri, "file://"):
		return nil, fmt.Errorf("export: destination %s: unsupported scheme (want a path, file:// or s3://)", uri)
	}
	p := strings.TrimPrefix(uri, "file://")
	if p == "" {
		return nil, fmt.Errorf("export: destination %s has no path", uri)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("export: destination %s: %w", uri, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("export: destination %s is not a directory", uri)
	}
	return &localDest{root: abs}, nil
}

// checkRel rejects a relPath that would escape the destination's root.
func checkRel(relPath string) error {
	if relPath == "" || strings.HasPrefix(relPath, "/") || !filepath.IsLocal(filepath.FromSlash(relPath)) {
		return fmt.Errorf("export: invalid relative path %q", relPath)
	}
	return nil
}

// localDest writes under a local directory, through a temporary file in the
// same directory renamed into place on commit.
type localDest struct{ root string }

func (d *localDest) Root() string { return d.root }

func (d *localDest) Location(relPath string) string {
	return filepath.Join(d.root, filepath.FromSlash(relPath))
}

func (d *localDest) Create(ctx context.Context, relPath string) (File, error) {
	if err := checkRel(relPath); err != nil {
		return nil, err
	}
	final := d.Location(relPath)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	// Hidden (leading dot) and not ending in .parquet, so that no reader
	// (DuckDB's *.parquet glob, Spark, Hive) picks up a file a crash left.
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &localFile{ctx: ctx, f: f, final: final}, nil
}

type localFile struct {
	ctx   context.Context
	f     *os.File
	final string
	state error // nil while open, then errFinished (committed) or ErrAborted
}

func (f *localFile) Write(p []byte) (int, error) {
	if f.state != nil {
		return 0, f.state
	}
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	return f.f.Write(p)
}

func (f *localFile) Commit() error {
	if f.state != nil {
		return errFinished
	}
	if err := f.ctx.Err(); err != nil {
		_ = f.Abort()
		return err
	}
	f.state = errFinished
	tmp := f.f.Name()
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// Make the rename itself durable. Not every platform can fsync a
	// directory; the file's data is already synced either way.
	if dir, err := os.Open(filepath.Dir(f.final)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}

func (f *localFile) Abort() error {
	if f.state != nil {
		return nil
	}
	f.state = ErrAborted
	_ = f.f.Close()
	if err := os.Remove(f.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export: abort: %w", err)
	}
	return nil
}

// S3 upload tuning: parts are buffered in memory (partSize × concurrency at
// most); 10,000 parts of 16 MiB allow files up to 160 GiB.
const (
	s3PartSize    = 16 << 20
	s3Concurrency = 3
	// s3AbortGrace bounds how long Abort waits for in-flight parts before
	// cancelling them (the multipart upload is aborted in either case,
	// unless the cancellation also kills that request).
	s3AbortGrace = 30 * time.Second
)

// s3Dest writes under s3://bucket/prefix by streaming each file through a
// pipe into a multipart upload: nothing is buffered whole or touches disk.
type s3Dest struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64  // 0: s3PartSize; tests make it small
}

func (d *s3Dest) Root() string { return "s3://" + d.bucket + "/" + d.prefix }

func (d *s3Dest) Location(relPath string) string { return d.Root() + relPath }

func (d *s3Dest) Create(ctx context.Context, relPath string) (File, error) {
	if err := checkRel(relPath); err != nil {
		return nil, err
	}
	key := d.prefix + path.Clean(relPath)
	pr, pw := io.Pipe()
	// The upload outlives a cancelled ctx just long enough to abort the
	// multipart upload cleanly; Abort cancels it for good.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &s3File{ctx: ctx, pw: pw, cancel: cancel, done: make(chan struct{}), uri: d.Location(relPath)}
	in := &s3.PutObjectInput{
		Bucket: aws.String(d.bucket),
		Key:    aws.String(key),
		Body:   pr,
	}
	if ct := contentType(relPath); ct != "" {
		in.ContentType = aws.String(ct)
	}
	up := manager.NewUploader(d.client, func(u *manager.Uploader) {
		u.PartSize = cmp.Or(d.partSize, s3PartSize)
		u.Concurrency = s3Concurrency
		u.LeavePartsOnError = false
	})
	go func() {
		defer close(f.done)
		_, err := up.Upload(uctx, in)
		if err != nil {
			f.err = fmt.Errorf("upload %s: %w", f.uri, err)
		}
		// Unblock a writer still writing into a failed upload.
		_ = pr.CloseWithError(cmp.Or(f.err, io.ErrClosedPipe))
	}()
	// Abort the upload if the context ends before the file is finished, so
	// a blocked Write cannot hang a cancelled export.
	stop := context.AfterFunc(ctx, func() { _ = pw.CloseWithError(ctx.Err()) })
	f.stop = stop
	return f, nil
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
	ctx    context.Context
	pw     *io.PipeWriter
	cancel context.CancelFunc
	stop   func() bool
	done   chan struct{}
	err    error // set by the upload goroutine before done is closed
	uri    string

	mu    sync.Mutex
	state error // nil while open, then errFinished (committed) or ErrAborted
}

func (f *s3File) Write(p []byte) (int, error) {
	f.mu.Lock()
	state := f.state
	f.mu.Unlock()
	if state != nil {
		return 0, state
	}
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	return f.pw.Write(p)
}

// finish moves the file out of the open state; false if it already was.
func (f *s3File) finish(to error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != nil {
		return false
	}
	f.state = to
	f.stop()
	return true
}

func (f *s3File) Commit() error {
	if err := f.ctx.Err(); err != nil {
		_ = f.Abort()
		return err
	}
	if !f.finish(errFinished) {
		return errFinished
	}
	defer f.cancel()
	_ = f.pw.Close() // EOF: the uploader sends the last part and completes
	<-f.done
	return f.err
}

func (f *s3File) Abort() error {
	if !f.finish(ErrAborted) {
		return nil
	}
	defer f.cancel()
	// A read error makes the uploader fail: a single-part upload never
	// sends its PutObject, a multipart one is aborted.
	_ = f.pw.CloseWithError(ErrAborted)
	select {
	case <-f.done:
	case <-time.After(s3AbortGrace):
		f.cancel()
		<-f.done
	}
	return nil
}

// FileInfo is a committed file at a destination.
type FileInfo struct {
	Rel  string // "/"-separated path relative to the root
	Size int64
}

// ErrNotExist is what Stat and ReadFile return for a missing file.
var ErrNotExist = errors.New("export: file does not exist")

// statFile etc. are implemented by both destinations; see Destination.

func (d *localDest) Stat(ctx context.Context, relPath string) (FileInfo, error) {
	if err := checkRel(relPath); err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(d.Location(relPath))
	if errors.Is(err, os.ErrNotExist) {
		return FileInfo{}, fmt.Errorf("%w: %s", ErrNotExist, relPath)
	}
	if err != nil {
		return FileInfo{}, fmt.Errorf("export: %w", err)
	}
	return FileInfo{Rel: relPath, Size: fi.Size()}, nil
}

func (d *localDest) ReadFile(ctx context.Context, relPath string) ([]byte, error) {
	if err := checkRel(relPath); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.Location(relPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, relPath)
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return b, nil
}

func (d *localDest) Delete(ctx context.Context, relPaths ...string) error {
	for _, rel := range relPaths {
		if err := checkRel(rel); err != nil {
			return err
		}
		if err := os.Remove(d.Location(rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// removeStale removes, under prefix, the temporary files of writes that
// were neither committed nor aborted: their process died. Only called while
// the job's lock is held, when no write under prefix is in progress. It
// returns how many it removed.
func (d *localDest) removeStale(ctx context.Context, prefix string) (int, error) {
	if err := checkRel(prefix); err != nil {
		return 0, err
	}
	n := 0
	err := filepath.WalkDir(d.Location(prefix), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), ".tmp-") {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// List walks prefix; temporary files of uncommitted writes (*.tmp-*) are
// not listed.
func (d *localDest) List(ctx context.Context, prefix string) ([]FileInfo, error) {
	if err := checkRel(prefix); err != nil {
		return nil, err
	}
	root := d.Location(prefix)
	var out []FileInfo
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.Contains(e.Name(), ".tmp-") {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		out = append(out, FileInfo{Rel: filepath.ToSlash(rel), Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: list %s: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Rel, b.Rel) })
	return out, nil
}

func (d *s3Dest) key(relPath string) string { return d.prefix + path.Clean(relPath) }

func (d *s3Dest) Stat(ctx context.Context, relPath string) (FileInfo, error) {
	if err := checkRel(relPath); err != nil {
		return FileInfo{}, err
	}
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key(relPath))})
	if err != nil {
		if isS3NotFound(err) {
			return FileInfo{}, fmt.Errorf("%w: %s", ErrNotExist, relPath)
		}
		return FileInfo{}, fmt.Errorf("export: stat %s: %w", d.Location(relPath), err)
	}
	return FileInfo{Rel: relPath, Size: aws.ToInt64(out.ContentLength)}, nil
}

func (d *s3Dest) ReadFile(ctx context.Context, relPath string) ([]byte, error) {
	if err := checkRel(relPath); err != nil {
		return nil, err
	}
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key(relPath))})
	if err != nil {
		if isS3NotFound(err) {
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
func (d *s3Dest) Delete(ctx context.Context, relPaths ...string) error {
	for len(relPaths) > 0 {
		n := min(len(relPaths), 1000)
		ids := make([]types.ObjectIdentifier, 0, n)
		for _, rel := range relPaths[:n] {
			if err := checkRel(rel); err != nil {
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

func (d *s3Dest) List(ctx context.Context, prefix string) ([]FileInfo, error) {
	if err := checkRel(prefix); err != nil {
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

// isS3NotFound reports a missing object (HeadObject answers a bare 404).
func isS3NotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}
