package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// StartRun records the start of a run. r.ID and r.Job are required; an ID
// already recorded is an error.
func (s *Store) StartRun(ctx context.Context, r pipeline.Run) error {
	if r.ID == "" || r.Job == "" {
		return errors.New("sqlitestore: start run: ID and Job are required")
	}
	_, err := s.exec(ctx, `INSERT INTO runs (id, job, command, started_at, finished_at, exit_code, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Job, r.Command, micros(r.StartedAt), micros(r.FinishedAt), r.ExitCode, r.Summary)
	if err != nil {
		return fmt.Errorf("sqlitestore: start run %s: %w", r.ID, err)
	}
	return nil
}

// FinishRun records FinishedAt, ExitCode and Summary of the run r.ID;
// ErrNotFound if it was never started.
func (s *Store) FinishRun(ctx context.Context, r pipeline.Run) error {
	res, err := s.exec(ctx, `UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?`,
		micros(r.FinishedAt), r.ExitCode, r.Summary, r.ID)
	if err == nil {
		var n int64
		n, err = res.RowsAffected()
		if err == nil && n == 0 {
			err = pipeline.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: finish run %s: %w", r.ID, err)
	}
	return nil
}

// Runs returns the latest n runs of job (all when n <= 0), most recently
// started first.
func (s *Store) Runs(ctx context.Context, job string, n int) ([]pipeline.Run, error) {
	if n <= 0 {
		n = -1
	}
	rows, err := s.query(ctx, `SELECT id, job, command, started_at, finished_at, exit_code, summary
		FROM runs WHERE job = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`, job, n)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: runs %s: %w", job, err)
	}
	defer rows.Close()
	var out []pipeline.Run
	for rows.Next() {
		var r pipeline.Run
		var started, finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Job, &r.Command, &started, &finished, &r.ExitCode, &r.Summary); err != nil {
			return nil, fmt.Errorf("sqlitestore: runs %s: %w", job, err)
		}
		r.StartedAt = fromMicros(started)
		r.FinishedAt = fromMicros(finished)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: runs %s: %w", job, err)
	}
	return out, nil
}

// Lock takes, renews or refuses job's lock name (see pipeline.Store).
func (s *Store) Lock(ctx context.Context, job, name, owner string, now, until time.Time) error {
	res, err := s.exec(ctx, `INSERT INTO locks (job, name, owner, until) VALUES (?, ?, ?, ?)
		ON CONFLICT (job, name) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE locks.owner = excluded.owner OR locks.until <= ?
			OR EXISTS (SELECT 1 FROM workers w WHERE (w.stopped_at IS NOT NULL OR w.heartbeat_at < ?)
				AND substr(locks.owner, 1, length(w.id) + 1) = w.id || '/')`,
		job, name, owner, until.UnixMicro(), now.UnixMicro(), now.Add(-pipeline.WorkerTimeout).UnixMicro())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: lock %s of job %s: %w", name, job, err)
	}
	if n == 1 {
		return nil
	}
	var holder string
	var held int64
	if err := s.db.QueryRowContext(ctx, `SELECT owner, until FROM locks WHERE job = ? AND name = ?`, job, name).Scan(&holder, &held); err != nil {
		return fmt.Errorf("sqlitestore: lock %s of job %s: %w", name, job, pipeline.ErrLocked)
	}
	return fmt.Errorf("sqlitestore: lock %s of job %s: %w (%s, until %s)", name, job, pipeline.ErrLocked,
		holder, time.UnixMicro(held).UTC().Format(time.RFC3339))
}

// Renew extends owner's lock if nobody took it since (see pipeline.Store).
func (s *Store) Renew(ctx context.Context, job, name, owner string, until time.Time) error {
	res, err := s.exec(ctx, `UPDATE locks SET until = ? WHERE job = ? AND name = ? AND owner = ?`,
		until.UnixMicro(), job, name, owner)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: renew lock %s of job %s: %w", name, job, err)
	}
	if n != 1 {
		return fmt.Errorf("sqlitestore: renew lock %s of job %s: %w (no longer %s's)", name, job, pipeline.ErrLocked, owner)
	}
	return nil
}

// Unlock releases job's lock name if owner holds it.
func (s *Store) Unlock(ctx context.Context, job, name, owner string) error {
	if _, err := s.exec(ctx, `DELETE FROM locks WHERE job = ? AND name = ? AND owner = ?`, job, name, owner); err != nil {
		return fmt.Errorf("sqlitestore: unlock %s of job %s: %w", name, job, err)
	}
	return nil
}
