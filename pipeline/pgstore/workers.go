package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline"
)

// RegisterWorker inserts or replaces a worker (see pipeline.WorkerRegistry).
func (s *Store) RegisterWorker(ctx context.Context, w pipeline.Worker) error {
	if w.ID == "" {
		return errors.New("pgstore: register worker: ID is required")
	}
	if w.StartedAt.IsZero() {
		w.StartedAt = time.Now()
	}
	if w.HeartbeatAt.IsZero() {
		w.HeartbeatAt = w.StartedAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO workers (id, job, name, host, pid, command, run_id, started_at, heartbeat_at, stopped_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET job = EXCLUDED.job, name = EXCLUDED.name, host = EXCLUDED.host, pid = EXCLUDED.pid,
			command = EXCLUDED.command, run_id = EXCLUDED.run_id, started_at = EXCLUDED.started_at,
			heartbeat_at = EXCLUDED.heartbeat_at, stopped_at = EXCLUDED.stopped_at`,
		w.ID, w.Job, w.Name, w.Host, w.PID, w.Command, w.RunID, w.StartedAt.UTC(), w.HeartbeatAt.UTC(), ts(w.StoppedAt))
	if err != nil {
		return fmt.Errorf("pgstore: register worker %s: %w", w.ID, err)
	}
	return nil
}

// Heartbeat records that worker id is alive at now.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE workers SET heartbeat_at = greatest(heartbeat_at, $1) WHERE id = $2`, now.UTC(), id)
	if err == nil && tag.RowsAffected() == 0 {
		err = pipeline.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: heartbeat of worker %s: %w", id, err)
	}
	return nil
}

// StopWorker marks worker id stopped at at (the first stop wins).
func (s *Store) StopWorker(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE workers SET stopped_at = $1 WHERE id = $2 AND stopped_at IS NULL`, at.UTC(), id); err != nil {
		return fmt.Errorf("pgstore: stop worker %s: %w", id, err)
	}
	return nil
}

// Workers lists the workers of job ("" = all), most recently started first.
func (s *Store) Workers(ctx context.Context, job string, n int) ([]pipeline.Worker, error) {
	limit := any(nil)
	if n > 0 {
		limit = n
	}
	rows, err := s.pool.Query(ctx, `SELECT id, job, name, host, pid, command, run_id, started_at, heartbeat_at, stopped_at
		FROM workers WHERE $1 = '' OR job = $1 ORDER BY started_at DESC, id LIMIT $2`, job, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pipeline.Worker, error) {
		var w pipeline.Worker
		var pid int32
		var stopped *time.Time
		err := row.Scan(&w.ID, &w.Job, &w.Name, &w.Host, &pid, &w.Command, &w.RunID, &w.StartedAt, &w.HeartbeatAt, &stopped)
		w.PID, w.StoppedAt = int(pid), fromTS(stopped)
		w.StartedAt, w.HeartbeatAt = w.StartedAt.UTC(), w.HeartbeatAt.UTC()
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: workers: %w", err)
	}
	return out, nil
}

// Stats counts what recovery needs to know about a job (see pipeline.JobStats).
func (s *Store) Stats(ctx context.Context, q pipeline.StatsQuery) (pipeline.JobStats, error) {
	counts, err := s.Counts(ctx, q.Job)
	if err != nil {
		return pipeline.JobStats{}, err
	}
	st := pipeline.JobStats{States: counts}
	now := orNow(q.Now).UTC()
	dead := time.Unix(0, 0).UTC()
	if !q.DeadBefore.IsZero() {
		dead = q.DeadBefore.UTC()
	}
	const held = `(lease_until > $1 AND lease_owner <> $2 AND lease_owner NOT IN
		(SELECT id FROM workers WHERE stopped_at IS NOT NULL OR heartbeat_at < $3))`
	var heldUntil, orphFrom, orphAt, parkedUntil *time.Time
	var nHeld, nOrph, nParked int64
	err = s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE `+held+`),
		max(lease_until) FILTER (WHERE `+held+`),
		count(*) FILTER (WHERE state = 'orphan' AND not_before > $1),
		min(not_before) FILTER (WHERE state = 'orphan' AND not_before > $1),
		max(not_before) FILTER (WHERE state = 'orphan' AND not_before > $1),
		count(*) FILTER (WHERE state IN ('pending', 'tokened') AND not_before > $1),
		max(not_before) FILTER (WHERE state IN ('pending', 'tokened') AND not_before > $1)
		FROM records WHERE job = $4 AND state IN ('pending', 'tokening', 'tokened', 'orphan')`,
		now, q.Owner, dead, q.Job).Scan(&nHeld, &heldUntil, &nOrph, &orphFrom, &orphAt, &nParked, &parkedUntil)
	if err != nil {
		return pipeline.JobStats{}, fmt.Errorf("pgstore: stats %s: %w", q.Job, err)
	}
	st.Held, st.OrphansWaiting, st.Parked = int(nHeld), int(nOrph), int(nParked)
	st.HeldUntil, st.OrphansRetryFrom, st.OrphansRetryAt, st.ParkedUntil = fromTS(heldUntil), fromTS(orphFrom), fromTS(orphAt), fromTS(parkedUntil)
	var nAwaiting int64
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM records
		WHERE job = $1 AND exported_at IS NULL AND state IN ('final', 'rejected', 'failed')`, q.Job).Scan(&nAwaiting)
	if err != nil {
		return pipeline.JobStats{}, fmt.Errorf("pgstore: stats %s: awaiting export: %w", q.Job, err)
	}
	st.AwaitingExport = int(nAwaiting)
	if !q.OverdueBefore.IsZero() {
		var nOverdue int64
		var oldest *time.Time
		err = s.pool.QueryRow(ctx, `SELECT count(*), min(submitted_at) FROM records
			WHERE job = $1 AND state = 'submitted' AND submitted_at < $2`, q.Job, q.OverdueBefore.UTC()).Scan(&nOverdue, &oldest)
		if err != nil {
			return pipeline.JobStats{}, fmt.Errorf("pgstore: stats %s: overdue: %w", q.Job, err)
		}
		st.Overdue, st.OldestOverdue = int(nOverdue), fromTS(oldest)
	}
	return st, nil
}

// UpdateBudget changes an account-wide bucket (see pipeline.BudgetStore)
// in one transaction on the server's clock, so that workers on machines
// whose clocks differ share one bucket fairly.
func (s *Store) UpdateBudget(ctx context.Context, name string, _ time.Time, fn func(b *pipeline.Budget, now time.Time)) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A new bucket is empty at the instant it is read (a refill
		// between its insert and the read would hand out a token).
		if _, err := tx.Exec(ctx, `INSERT INTO budgets (name, tokens, at) VALUES ($1, 0, 'infinity') ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		var b pipeline.Budget
		var now time.Time
		var until, cut *time.Time
		var fresh bool
		if err := tx.QueryRow(ctx, `SELECT tokens, at = 'infinity', CASE WHEN at = 'infinity' THEN clock_timestamp() ELSE at END, factor, factor_until, last_cut, clock_timestamp()
			FROM budgets WHERE name = $1 FOR UPDATE`, name).Scan(&b.Level, &fresh, &b.At, &b.Factor, &until, &cut, &now); err != nil {
			return err
		}
		if fresh {
			b.At = now
		}
		b.Until, b.LastCut = fromTS(until), fromTS(cut)
		fn(&b, now)
		_, err := tx.Exec(ctx, `UPDATE budgets SET tokens = $2, at = $3, factor = $4, factor_until = $5, last_cut = $6 WHERE name = $1`,
			name, b.Level, b.At, b.Factor, ts(b.Until), ts(b.LastCut))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: budget %s: %w", name, err)
	}
	return nil
}

// Budget reads an account-wide bucket (see pipeline.BudgetStore) in one
// statement, without locking or writing it; clock is the server's, the
// clock the bucket's times are on, so that a reader whose own clock
// differs still sees how long a pause lasts.
func (s *Store) Budget(ctx context.Context, name string, _ time.Time) (pipeline.Budget, time.Time, bool, error) {
	var b pipeline.Budget
	var clock time.Time
	var until, cut *time.Time
	// A bucket is at 'infinity' only inside the transaction that creates it.
	err := s.pool.QueryRow(ctx, `SELECT tokens, CASE WHEN at = 'infinity' THEN clock_timestamp() ELSE at END, factor, factor_until, last_cut, clock_timestamp()
		FROM budgets WHERE name = $1`, name).Scan(&b.Level, &b.At, &b.Factor, &until, &cut, &clock)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return pipeline.Budget{}, time.Time{}, false, nil
	case err != nil:
		return pipeline.Budget{}, time.Time{}, false, fmt.Errorf("pgstore: budget %s: %w", name, err)
	}
	b.At, b.Until, b.LastCut = b.At.UTC(), fromTS(until), fromTS(cut)
	return b, clock.UTC(), true, nil
}
