package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline"
)

// StartRun records the start of a run. r.ID and r.Job are required; an ID
// already recorded is an error.
func (s *Store) StartRun(ctx context.Context, r pipeline.Run) error {
	if r.ID == "" || r.Job == "" {
		return errors.New("pgstore: start run: ID and Job are required")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO runs (id, job, command, started_at, finished_at, exit_code, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.Job, r.Command, ts(r.StartedAt), ts(r.FinishedAt), r.ExitCode, r.Summary)
	if err != nil {
		return fmt.Errorf("pgstore: start run %s: %w", r.ID, err)
	}
	return nil
}

// FinishRun records FinishedAt, ExitCode and Summary of the run r.ID;
// ErrNotFound if it was never started.
func (s *Store) FinishRun(ctx context.Context, r pipeline.Run) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET finished_at = $1, exit_code = $2, summary = $3 WHERE id = $4`,
		ts(r.FinishedAt), r.ExitCode, r.Summary, r.ID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pipeline.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: finish run %s: %w", r.ID, err)
	}
	return nil
}

// Runs returns the latest n runs of job (all when n <= 0), most recently
// started first.
func (s *Store) Runs(ctx context.Context, job string, n int) ([]pipeline.Run, error) {
	var limit any
	if n > 0 {
		limit = n
	}
	rows, err := s.pool.Query(ctx, `SELECT id, job, command, started_at, finished_at, exit_code, summary
		FROM runs WHERE job = $1 ORDER BY started_at DESC NULLS LAST, seq DESC LIMIT $2`, job, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: runs %s: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pipeline.Run, error) {
		var r pipeline.Run
		var started, finished *time.Time
		var code int32
		err := row.Scan(&r.ID, &r.Job, &r.Command, &started, &finished, &code, &r.Summary)
		r.StartedAt, r.FinishedAt, r.ExitCode = fromTS(started), fromTS(finished), int(code)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: runs %s: %w", job, err)
	}
	return out, nil
}

// Lock takes, renews or refuses job's lock name (see pipeline.Store).
func (s *Store) Lock(ctx context.Context, job, name, owner string, now, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO locks (job, name, owner, until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job, name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
		WHERE locks.owner = EXCLUDED.owner OR locks.until <= $5
			OR EXISTS (SELECT 1 FROM workers w WHERE (w.stopped_at IS NOT NULL OR w.heartbeat_at < $6)
				AND left(locks.owner, length(w.id) + 1) = w.id || '/')`,
		job, name, owner, until.UTC(), now.UTC(), now.Add(-pipeline.WorkerTimeout).UTC())
	if err != nil {
		return fmt.Errorf("pgstore: lock %s of job %s: %w", name, job, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var holder string
	var held time.Time
	if err := s.pool.QueryRow(ctx, `SELECT owner, until FROM locks WHERE job = $1 AND name = $2`, job, name).Scan(&holder, &held); err != nil {
		return fmt.Errorf("pgstore: lock %s of job %s: %w", name, job, pipeline.ErrLocked)
	}
	return fmt.Errorf("pgstore: lock %s of job %s: %w (%s, until %s)", name, job, pipeline.ErrLocked,
		holder, held.UTC().Format(time.RFC3339))
}

// Renew extends owner's lock if nobody took it since (see pipeline.Store).
func (s *Store) Renew(ctx context.Context, job, name, owner string, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE locks SET until = $1 WHERE job = $2 AND name = $3 AND owner = $4`,
		until.UTC(), job, name, owner)
	if err != nil {
		return fmt.Errorf("pgstore: renew lock %s of job %s: %w", name, job, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("pgstore: renew lock %s of job %s: %w (no longer %s's)", name, job, pipeline.ErrLocked, owner)
	}
	return nil
}

// Unlock releases job's lock name if owner holds it.
func (s *Store) Unlock(ctx context.Context, job, name, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM locks WHERE job = $1 AND name = $2 AND owner = $3`, job, name, owner); err != nil {
		return fmt.Errorf("pgstore: unlock %s of job %s: %w", name, job, err)
	}
	return nil
}
