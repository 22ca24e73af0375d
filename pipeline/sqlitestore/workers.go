package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

var _ pipeline.RunLocker = (*Store)(nil)

// RegisterWorker inserts or replaces a worker (see pipeline.WorkerRegistry).
func (s *Store) RegisterWorker(ctx context.Context, w pipeline.Worker) error {
	if w.ID == "" {
		return errors.New("sqlitestore: register worker: ID is required")
	}
	if w.StartedAt.IsZero() {
		w.StartedAt = time.Now()
	}
	if w.HeartbeatAt.IsZero() {
		w.HeartbeatAt = w.StartedAt
	}
	_, err := s.exec(ctx, `INSERT INTO workers (id, job, name, host, pid, command, run_id, started_at, heartbeat_at, stopped_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET job = excluded.job, name = excluded.name, host = excluded.host, pid = excluded.pid,
			command = excluded.command, run_id = excluded.run_id, started_at = excluded.started_at,
			heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at`,
		w.ID, w.Job, w.Name, w.Host, w.PID, w.Command, w.RunID, w.StartedAt.UnixMicro(), w.HeartbeatAt.UnixMicro(), micros(w.StoppedAt))
	if err != nil {
		return fmt.Errorf("sqlitestore: register worker %s: %w", w.ID, err)
	}
	return nil
}

// Heartbeat records that worker id is alive at now.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time) error {
	res, err := s.exec(ctx, `UPDATE workers SET heartbeat_at = max(heartbeat_at, ?) WHERE id = ?`, now.UnixMicro(), id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = pipeline.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: heartbeat of worker %s: %w", id, err)
	}
	return nil
}

// StopWorker marks worker id stopped at at (the first stop wins).
func (s *Store) StopWorker(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE workers SET stopped_at = ? WHERE id = ? AND stopped_at IS NULL`, at.UnixMicro(), id); err != nil {
		return fmt.Errorf("sqlitestore: stop worker %s: %w", id, err)
	}
	return nil
}

// Workers lists the workers of job ("" = all), most recently started first.
func (s *Store) Workers(ctx context.Context, job string, n int) ([]pipeline.Worker, error) {
	if n <= 0 {
		n = -1
	}
	rows, err := s.query(ctx, `SELECT id, job, name, host, pid, command, run_id, started_at, heartbeat_at, stopped_at
		FROM workers WHERE ? = '' OR job = ? ORDER BY started_at DESC, id LIMIT ?`, job, job, n)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: workers: %w", err)
	}
	defer rows.Close()
	var out []pipeline.Worker
	for rows.Next() {
		var w pipeline.Worker
		var started, beat, stopped sql.NullInt64
		if err := rows.Scan(&w.ID, &w.Job, &w.Name, &w.Host, &w.PID, &w.Command, &w.RunID, &started, &beat, &stopped); err != nil {
			return nil, fmt.Errorf("sqlitestore: workers: %w", err)
		}
		w.StartedAt, w.HeartbeatAt, w.StoppedAt = fromMicros(started), fromMicros(beat), fromMicros(stopped)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: workers: %w", err)
	}
	return out, nil
}

// deadOwnerCond is the claim condition that frees the lease of a dead
// worker; its one argument is DeadBefore in microseconds.
const deadOwnerCond = `lease_owner IN (SELECT id FROM workers WHERE stopped_at IS NOT NULL OR heartbeat_at < ?)`

// Stats counts what recovery needs to know about a job (see pipeline.JobStats).
func (s *Store) Stats(ctx context.Context, q pipeline.StatsQuery) (pipeline.JobStats, error) {
	counts, err := s.Counts(ctx, q.Job)
	if err != nil {
		return pipeline.JobStats{}, err
	}
	st := pipeline.JobStats{States: counts}
	now := orNow(q.Now).UnixMicro()
	dead := int64(0)
	if !q.DeadBefore.IsZero() {
		dead = q.DeadBefore.UnixMicro()
	}
	held := `(lease_until > :now AND lease_owner <> :owner AND lease_owner NOT IN
		(SELECT id FROM workers WHERE stopped_at IS NOT NULL OR heartbeat_at < :dead))`
	query := `SELECT
		coalesce(sum(CASE WHEN ` + held + ` THEN 1 ELSE 0 END), 0),
		max(CASE WHEN ` + held + ` THEN lease_until END),
		coalesce(sum(CASE WHEN state = 'orphan' AND not_before > :now THEN 1 ELSE 0 END), 0),
		min(CASE WHEN state = 'orphan' AND not_before > :now THEN not_before END),
		max(CASE WHEN state = 'orphan' AND not_before > :now THEN not_before END),
		coalesce(sum(CASE WHEN state IN ('pending', 'tokened') AND not_before > :now THEN 1 ELSE 0 END), 0),
		max(CASE WHEN state IN ('pending', 'tokened') AND not_before > :now THEN not_before END)
		FROM records WHERE job = :job AND state IN ('pending', 'tokening', 'tokened', 'orphan')`
	var heldUntil, orphFrom, orphAt, parkedUntil sql.NullInt64
	err = s.db.QueryRowContext(ctx, query, sql.Named("now", now), sql.Named("owner", q.Owner), sql.Named("dead", dead), sql.Named("job", q.Job)).
		Scan(&st.Held, &heldUntil, &st.OrphansWaiting, &orphFrom, &orphAt, &st.Parked, &parkedUntil)
	if err != nil {
		return pipeline.JobStats{}, fmt.Errorf("sqlitestore: stats %s: %w", q.Job, err)
	}
	st.HeldUntil, st.OrphansRetryFrom, st.OrphansRetryAt, st.ParkedUntil = fromMicros(heldUntil), fromMicros(orphFrom), fromMicros(orphAt), fromMicros(parkedUntil)
	// The partial index records_exportable holds only these records; its
	// WHERE clause must appear as is for SQLite to use it.
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM records INDEXED BY records_exportable
		WHERE job = ? AND exported_at IS NULL AND state IN `+endStatesSQL, q.Job).Scan(&st.AwaitingExport)
	if err != nil {
		return pipeline.JobStats{}, fmt.Errorf("sqlitestore: stats %s: awaiting export: %w", q.Job, err)
	}
	if !q.OverdueBefore.IsZero() {
		var oldest sql.NullInt64
		err = s.db.QueryRowContext(ctx, `SELECT count(*), min(submitted_at) FROM records
			WHERE job = ? AND state = 'submitted' AND submitted_at < ?`, q.Job, q.OverdueBefore.UnixMicro()).Scan(&st.Overdue, &oldest)
		if err != nil {
			return pipeline.JobStats{}, fmt.Errorf("sqlitestore: stats %s: overdue: %w", q.Job, err)
		}
		st.OldestOverdue = fromMicros(oldest)
	}
	return st, nil
}

// LockRun takes the Store's run lock: an exclusive flock(2) on the file
// <database>.run.lock, held until unlock or the death of the process (the
// OS releases it, even after a SIGKILL). Only one `run` at a time works on
// one SQLite file; the lock lets a restarted process know at once that the
// previous holder is gone, so every worker registered before is marked
// stopped and its records are claimable without waiting for their lease.
// Another process holding it: an error wrapping pipeline.ErrLocked that
// names the holder (the text it wrote into the file).
func (s *Store) LockRun(ctx context.Context, holder string, now time.Time) (func() error, error) {
	path := s.path + ".run.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: run lock: %w", err)
	}
	if err := flock(f); err != nil {
		b := make([]byte, 512)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := strings.TrimSpace(string(b[:n]))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("another run (%s) holds this store (%s): %w", who, s.path, pipeline.ErrLocked)
		}
		return nil, fmt.Errorf("sqlitestore: run lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	}
	// Whoever registered before us is dead: nobody else holds the lock.
	if _, err := s.exec(ctx, `UPDATE workers SET stopped_at = ? WHERE stopped_at IS NULL`, now.UnixMicro()); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlitestore: run lock: mark earlier workers stopped: %w", err)
	}
	return func() error {
		_ = f.Truncate(0)
		return f.Close() // closing releases the flock
	}, nil
}

// UpdateBudget changes an account-wide bucket (see pipeline.BudgetStore)
// in one write transaction.
func (s *Store) UpdateBudget(ctx context.Context, name string, now time.Time, fn func(b *pipeline.Budget, now time.Time)) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		b := pipeline.Budget{At: now, Factor: 1}
		var at, until, cut int64
		switch err := tx.QueryRowContext(ctx, `SELECT tokens, at, factor, factor_until, last_cut FROM budgets WHERE name = ?`, name).Scan(&b.Level, &at, &b.Factor, &until, &cut); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			b.At, b.Until, b.LastCut = time.UnixMicro(at), microTime(until), microTime(cut)
		}
		fn(&b, now)
		_, err := tx.ExecContext(ctx, `INSERT INTO budgets (name, tokens, at, factor, factor_until, last_cut) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, factor = excluded.factor,
			factor_until = excluded.factor_until, last_cut = excluded.last_cut`,
			name, b.Level, b.At.UnixMicro(), b.Factor, timeMicro(b.Until), timeMicro(b.LastCut))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: budget %s: %w", name, err)
	}
	return nil
}

// Budget reads an account-wide bucket (see pipeline.BudgetStore) without
// writing; clock is now (SQLite keeps no clock of its own).
func (s *Store) Budget(ctx context.Context, name string, now time.Time) (pipeline.Budget, time.Time, bool, error) {
	var b pipeline.Budget
	var at, until, cut int64
	switch err := s.db.QueryRowContext(ctx, `SELECT tokens, at, factor, factor_until, last_cut FROM budgets WHERE name = ?`, name).Scan(&b.Level, &at, &b.Factor, &until, &cut); {
	case errors.Is(err, sql.ErrNoRows):
		return pipeline.Budget{}, time.Time{}, false, nil
	case err != nil:
		return pipeline.Budget{}, time.Time{}, false, fmt.Errorf("sqlitestore: budget %s: %w", name, err)
	}
	b.At, b.Until, b.LastCut = time.UnixMicro(at), microTime(until), microTime(cut)
	return b, now, true, nil
}

// microTime and timeMicro convert a time to and from microseconds since
// the epoch, the zero time being 0.
func microTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

func timeMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
