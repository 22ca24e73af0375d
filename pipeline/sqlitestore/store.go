package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

var _ pipeline.Store = (*Store)(nil)

// Scheme is the DSN scheme OpenDSN accepts.
const Scheme = "sqlite://"

// options are the settings Open fixes; tests may relax them.
type options struct {
	// upTo, if > 0, is the last migration applied (tests of migrations).
	upTo int
	// synchronous is PRAGMA synchronous of every connection, and
	// loadSynchronous the one a Load transaction runs with; see the
	// package documentation.
	synchronous, loadSynchronous string
}

var defaults = options{synchronous: "FULL", loadSynchronous: "NORMAL"}

// busyTimeout is how long a write waits for another connection (another
// process, or another Store on the same file) to release the database.
const busyTimeout = 10 * time.Second

// Store is a pipeline.Store on one SQLite file. It is safe for concurrent use
// by many goroutines, and by several Stores (or processes) on the same file
// on one machine; it is not meant for a file on a network file system.
type Store struct {
	db   *sql.DB
	path string
	opts options

	// wmu is a token held by the one write transaction this Store runs at a
	// time. SQLite has one writer per database; queueing writers here, in
	// order, is far cheaper than letting them spin in SQLite's busy handler.
	// Writers of other Stores or processes are serialized by SQLite itself
	// (BEGIN IMMEDIATE plus busy_timeout).
	wmu chan struct{}

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// maxStmts bounds the prepared statement cache. Transition prepares one
// statement per combination of patched fields, a few dozen in practice.
const maxStmts = 256

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
	return open(ctx, path, defaults)
}

func open(ctx context.Context, path string, opts options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty database path")
	}
	db, err := sql.Open("sqlite", dsnFor(path, opts))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// Readers run in parallel under WAL; writers are queued by wmu. A bounded
	// pool bounds the page caches (cache_size is per connection).
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{db: db, path: path, opts: opts, wmu: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	return s, nil
}

// dsnFor builds the modernc.org/sqlite DSN for a file path: a file: URI with
// the path escaped (so that '?', '#' and '%' in a file name stay part of it),
// followed by the driver's per-connection settings.
func dsnFor(p string, opts options) string {
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
		"synchronous(" + opts.synchronous + ")",
		"foreign_keys(ON)",
		"cache_size(-32768)", // 32 MiB per connection
		"temp_store(MEMORY)",
		// Checkpoint every ~40 MB of WAL rather than 4 MB: a Load batch
		// dirties a random page of the ref index per row, and a page
		// rewritten by many commits is then copied to the database once.
		"wal_autocheckpoint(10000)",
		"journal_size_limit(67108864)",
	}
	b.WriteString("?")
	b.WriteString(q.Encode())
	return b.String()
}

// Path returns the file the Store was opened on.
func (s *Store) Path() string { return s.path }

// Close closes the database. In-flight calls fail.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for q, st := range s.stmts {
		st.Close()
		delete(s.stmts, q)
	}
	s.stmtMu.Unlock()
	return s.db.Close()
}

// stmt returns a prepared statement for query from the cache, preparing it
// if needed; when the cache is full it returns nil and the caller runs the
// query unprepared.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	if len(s.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// query runs a read-only query, prepared and cached.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// exec runs one write statement (prepared and cached) in its own implicit
// transaction while holding the writer token. A single DML statement takes
// SQLite's write lock when it starts, so it never deadlocks with another
// connection; it waits up to busy_timeout for it.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := s.lockWrite(ctx); err != nil {
		return nil, err
	}
	defer s.unlockWrite()
	if st == nil {
		return s.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

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

// writeRelaxed is write on a connection switched to opts.loadSynchronous for the
// transaction: its commit is not fsynced, so a power loss (not a process
// crash) may undo it, together with any later commit of the same kind, until
// the next commit of another kind (which syncs the whole WAL, these commits
// included) or checkpoint. For work that is safely redone, such as Load.
func (s *Store) writeRelaxed(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+s.opts.loadSynchronous); err != nil {
		return discard(conn, err)
	}
	err = func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}()
	// Restore the connection before it returns to the pool, even if ctx
	// is done; one that cannot be restored is closed instead.
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+s.opts.synchronous); rerr != nil {
		return discard(conn, errors.Join(err, rerr))
	}
	return err
}

// discard makes database/sql close conn instead of pooling it, and returns err.
func discard(conn *sql.Conn, err error) error {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	return err
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration = storecodec.Migration

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) { return storecodec.Migrations(migrationFS) }

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
			known[m.Version] = true
		}
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("database has schema version %d, unknown to this binary (newer idbatch?)", v)
			}
		}
		now := time.Now().UnixMicro()
		for _, m := range ms {
			if applied[m.Version] || (s.opts.upTo > 0 && m.Version > s.opts.upTo) {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, now); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
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
