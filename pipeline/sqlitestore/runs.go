package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
