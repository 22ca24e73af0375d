package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/idbatch/idbatch/pipeline"
)

var _ pipeline.Store = (*Store)(nil)

// Scheme is the DSN scheme OpenDSN accepts.
const Scheme = "sqlite://"

// synchronous is PRAGMA synchronous; see the package documentation.
var synchronous = "FULL"

// busyTimeout is how long a write waits for another connection (another
// process, or another Store on the same file) to release the database.
const busyTimeout = 10 * time.Second

// Store is a pipeline.Store on one SQLite file. It is safe for concurrent use
// by many goroutines, and by several Stores (or processes) on the same file
// on one machine; it is not meant for a file on a network file system.
type Store struct {
	db   *sql.DB
	path string

	// wmu is a token held by the one write transaction this Store runs at a
	// time. SQLite has one writer per database; queueing writers here, in
	// order, is far cheaper than letting them spin in SQLite's busy handler.
	// Writers of other Stores or processes are serialized by SQLite itself
	// (BEGIN IMMEDIATE plus busy_timeout).
	wmu chan struct{}
}

// OpenDSN opens the Store a DSN names. Everything after "sqlite://" is a file
// path: "sqlite://./idbatch.db" is relative to the working directory,
// "sqlite:///var/lib/idbatch.db" absolute. Nothing in it is interpreted as a
// query string.
func OpenDSN(ctx context.Context, dsn string) (*Store, error) {
	p, ok := strings.CutPrefix(dsn, Scheme)
	if !ok {
		return nil, fmt.Errorf("sqlitestore: DSN %q does not start with %s", dsn, Scheme)
	}
	return Open(ctx, p)
}

// Open opens (creating it if needed) the SQLite database at path and applies
// any migration it lacks. Every connection runs in WAL mode with
// synchronous=FULL, foreign_keys=ON and a busy timeout of 10 s, and begins
// its transactions IMMEDIATE.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty database path")
	}
	db, err := sql.Open("sqlite", dsnFor(path))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// Readers run in parallel under WAL; writers are queued by wmu. A bounded
	// pool bounds the page caches (cache_size is per connection).
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{db: db, path: path, wmu: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	return s, nil
}

// dsnFor builds the modernc.org/sqlite DSN for a file path: a file: URI with
// the path escaped (so that '?', '#' and '%' in a file name stay part of it),
// followed by the driver's per-connection settings.
func dsnFor(p string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(p, "/") {
		b.WriteString("//") // empty authority: "file:///abs/path"
	}
	b.WriteString(esc)
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q["_pragma"] = []string{
		"busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")",
		"journal_mode(WAL)",
		"synchronous(" + synchronous + ")",
		"foreign_keys(ON)",
		"cache_size(-32768)", // 32 MiB per connection
		"temp_store(MEMORY)",
	}
	b.WriteString("?")
	b.WriteString(q.Encode())
	return b.String()
}

// Path returns the file the Store was opened on.
func (s *Store) Path() string { return s.path }

// Close closes the database. In-flight calls fail.
func (s *Store) Close() error { return s.db.Close() }

// lockWrite takes the Store's writer token.
func (s *Store) lockWrite(ctx context.Context) error {
	select {
	case s.wmu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrite() { <-s.wmu }

// write runs fn in one IMMEDIATE transaction while holding the writer token,
// and commits it if fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. A file is
// named NNNN_description.sql; NNNN is its version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and '_'", base)
		}
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies, in one transaction, every embedded migration the database
// has not recorded in schema_migrations. Two processes opening a new file at
// once are serialized by the IMMEDIATE transaction: the second finds the
// migrations applied. A database migrated by a newer binary (it records a
// version this one does not know) is refused rather than written to.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.version] = true
		}
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("database has schema version %d, unknown to this binary (newer idbatch?)", v)
			}
		}
		now := time.Now().UnixMicro()
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, now); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the highest migration version applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}
