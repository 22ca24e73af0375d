package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Local is a Dest under a local directory. A file is written to a
// temporary file in its final directory, fsynced and renamed into place on
// commit.
type Local struct{ root string }

// NewLocal returns the destination under the directory root (made absolute;
// created, with parents, when a file is first committed).
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("export: destination %s: %w", root, err)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute path of the directory.
func (d *Local) Root() string { return d.root }

// Location returns the local path of relPath.
func (d *Local) Location(relPath string) string {
	return filepath.Join(d.root, filepath.FromSlash(relPath))
}

// Create starts a temporary file beside relPath's final name.
func (d *Local) Create(ctx context.Context, relPath string) (File, error) {
	if err := CheckRel(relPath); err != nil {
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
	SyncDir(filepath.Dir(f.final))
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

// SyncDir fsyncs a directory, to make a rename in it durable; best effort
// (not every platform can).
func SyncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}

// Stat returns the size of a committed file.
func (d *Local) Stat(ctx context.Context, relPath string) (FileInfo, error) {
	if err := CheckRel(relPath); err != nil {
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

// ReadFile returns a committed file's content.
func (d *Local) ReadFile(ctx context.Context, relPath string) ([]byte, error) {
	if err := CheckRel(relPath); err != nil {
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

// Delete removes files; a missing one is not an error.
func (d *Local) Delete(ctx context.Context, relPaths ...string) error {
	for _, rel := range relPaths {
		if err := CheckRel(rel); err != nil {
			return err
		}
		if err := os.Remove(d.Location(rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// RemoveAll removes the directory rel and everything under it; a missing
// one is not an error.
func (d *Local) RemoveAll(rel string) error {
	if err := CheckRel(rel); err != nil {
		return err
	}
	if err := os.RemoveAll(d.Location(rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// RemoveStale removes, under prefix, the temporary files of writes that
// were neither committed nor aborted: their process died. Call it only when
// no write under prefix is in progress (export holds the job's lock). It
// returns how many it removed.
func (d *Local) RemoveStale(ctx context.Context, prefix string) (int, error) {
	if err := CheckRel(prefix); err != nil {
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
func (d *Local) List(ctx context.Context, prefix string) ([]FileInfo, error) {
	if err := CheckRel(prefix); err != nil {
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
