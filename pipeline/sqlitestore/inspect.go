package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/idbatch/idbatch/pipeline"
)

// Inspect reports on the database at path without creating or changing
// anything (unlike Open, it applies no migration and creates no file or
// directory), for a pre-flight check:
//
//   - no file: Exists false, once it has made sure that run could create
//     it: the nearest existing directory above path must be a directory
//     where a file can be created (tried with a temporary file, removed at
//     once); CreateDir names the directories run would have to create;
//   - a file: it must be writable, be a SQLite database, and be empty or
//     an idbatch Store (a schema_migrations table) of a schema version this
//     binary knows; Records counts job's records.
//
// The file is opened read-write (as run would) but in query-only mode.
// Errors name path and what is wrong with it.
func Inspect(ctx context.Context, path, job string) (pipeline.StoreInfo, error) {
	ms, err := migrations()
	if err != nil {
		return pipeline.StoreInfo{}, err
	}
	info := pipeline.StoreInfo{Where: path, LatestVersion: ms[len(ms)-1].Version}
	if path == "" {
		return info, errors.New("sqlitestore: empty database path")
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return inspectMissing(info, path)
	case err != nil:
		return info, fmt.Errorf("store %s: %w", path, err)
	case fi.IsDir():
		return info, fmt.Errorf("store %s is a directory, not a SQLite file", path)
	}
	info.Exists = true
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return info, fmt.Errorf("store %s is not writable: %w", path, unwrapPath(err))
	}
	f.Close()

	db, err := sql.Open("sqlite", inspectDSN(path))
	if err != nil {
		return info, fmt.Errorf("store %s: %w", path, err)
	}
	defer db.Close()
	var tables, hasMigrations int
	err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(name = 'schema_migrations'), 0) FROM sqlite_master WHERE type = 'table'`).
		Scan(&tables, &hasMigrations)
	if err != nil {
		return info, fmt.Errorf("store %s cannot be read as a SQLite database: %w", path, err)
	}
	switch {
	case hasMigrations == 0 && tables > 0:
		return info, fmt.Errorf("store %s is a SQLite database with %d tables but no schema_migrations: not an idbatch Store", path, tables)
	case hasMigrations == 0:
		return info, nil // an empty database: run creates the schema
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("store %s: read schema version: %w", path, err)
	}
	if info.SchemaVersion > info.LatestVersion {
		return info, fmt.Errorf("store %s has schema version %d, unknown to this binary (it knows up to %d): newer idbatch?",
			path, info.SchemaVersion, info.LatestVersion)
	}
	if info.SchemaVersion >= 1 {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE job = ?`, job).Scan(&info.Records); err != nil {
			return info, fmt.Errorf("store %s: count records: %w", path, err)
		}
	}
	return info, nil
}

// inspectMissing checks that run could create the missing file path.
func inspectMissing(info pipeline.StoreInfo, path string) (pipeline.StoreInfo, error) {
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return info, fmt.Errorf("store %s does not exist, and run cannot create it: %s is not a directory", path, dir)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return info, fmt.Errorf("store %s does not exist, and run cannot create it: %w", path, err)
		}
		info.CreateDir = dir
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	f, err := os.CreateTemp(dir, ".idbatch-check-*")
	if err != nil {
		return info, fmt.Errorf("store %s does not exist, and run cannot create it: directory %s is not writable: %w", path, dir, unwrapPath(err))
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return info, fmt.Errorf("store %s: remove the check's temporary file: %w", path, err)
	}
	return info, nil
}

// unwrapPath returns the system error of a *fs.PathError (the path is in
// the caller's message already).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// inspectDSN opens an existing file only (mode=rw: never created), without
// the journal_mode pragma that Open sets (it would convert a foreign
// database), in query-only mode.
func inspectDSN(p string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(p, "/") {
		b.WriteString("//")
	}
	b.WriteString(esc)
	q := url.Values{}
	q.Set("mode", "rw")
	q["_pragma"] = []string{"busy_timeout(5000)", "query_only(1)"}
	b.WriteString("?")
	b.WriteString(q.Encode())
	return b.String()
}
