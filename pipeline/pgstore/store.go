package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

var _ pipeline.Store = (*Store)(nil)

// Schemes are the DSN prefixes Open accepts.
var Schemes = []string{"postgres://", "postgresql://"}

// IsDSN reports whether dsn names a PostgreSQL database.
func IsDSN(dsn string) bool {
	for _, s := range Schemes {
		if strings.HasPrefix(dsn, s) {
			return true
		}
	}
	return false
}

// Store is a pipeline.Store on a PostgreSQL database, shared by any number of
// processes on any number of machines.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database the DSN names (handed to pgx as it is:
// postgres://user:password@host:port/db?sslmode=…&search_path=…&pool_max_conns=…)
// and applies every migration it lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, 0)
}

// open applies migrations up to version upTo (0: all of them).
func open(ctx context.Context, dsn string, upTo int) (*Store, error) {
	if !IsDSN(dsn) {
		return nil, errors.New("pgstore: DSN must start with postgres:// or postgresql://")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("pgstore: cannot parse the DSN")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "idbatch"
	if cfg.ConnConfig.RuntimeParams["timezone"] == "" {
		cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx, upTo); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return s, nil
}

// Close closes every connection. In-flight calls fail.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration = storecodec.Migration

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) { return storecodec.Migrations(migrationFS) }

// migrate applies, in one transaction, every embedded migration (up to upTo
// when > 0) the database has not recorded in schema_migrations. Concurrent
// openers (N workers starting at once) are serialized by a transaction-level
// advisory lock on the schema; the later ones find the migrations applied.
// A database that records a version this binary does not know (migrated by
// a newer idbatch) is refused.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':idbatch-migrate'))`); err != nil {
			return fmt.Errorf("lock for migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.Version] = true
		}
		have := map[int]bool{}
		for _, v := range applied {
			if !known[int(v)] {
				return fmt.Errorf("database has schema version %d, unknown to this binary (newer idbatch?)", v)
			}
			have[int(v)] = true
		}
		for _, m := range ms {
			if have[m.Version] || (upTo > 0 && m.Version > upTo) {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, m.Version); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the highest migration version applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int32
	err := s.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if v == nil {
		return 0, err
	}
	return int(*v), err
}

// isUnique reports whether err is a unique violation of the named constraint/index.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// ts encodes a time; the zero time is NULL. Times are stored at microsecond
// precision (truncated).
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// fromTS decodes a nullable timestamptz; NULL is the zero time. Times come
// back in UTC.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// orNow returns t, or the wall clock if t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// args builds a positional parameter list: p(v) appends v and returns "$n".
type args []any

func (a *args) p(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}
