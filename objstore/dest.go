package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Dest is where exported files go: a local directory (*Local) or an S3
// prefix (*S3).
type Dest interface {
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

// FileInfo is a committed file at a destination.
type FileInfo struct {
	Rel  string // "/"-separated path relative to the root
	Size int64
}

// ErrNotExist is what Stat and ReadFile return for a missing file.
var ErrNotExist = errors.New("export: file does not exist")

// ErrAborted is what writes to an aborted File return.
var ErrAborted = errors.New("export: file aborted")

var errFinished = errors.New("export: file already committed or aborted")

// Open opens the destination named by uri: a plain local path or
// file://path (everything after file:// is a path, as in file:///abs or
// file://./rel), or s3://bucket/prefix/, written through s3c (required then).
// Nothing is created until a file is committed.
func Open(ctx context.Context, uri string, s3c *s3.Client) (Dest, error) {
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
		return NewS3(s3c, bucket, prefix), nil
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
	return &Local{root: abs}, nil
}

// CheckRel rejects a relPath that would escape the destination's root.
func CheckRel(relPath string) error {
	if relPath == "" || strings.HasPrefix(relPath, "/") || !filepath.IsLocal(filepath.FromSlash(relPath)) {
		return fmt.Errorf("export: invalid relative path %q", relPath)
	}
	return nil
}
