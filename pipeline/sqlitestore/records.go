package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

// validState reports whether s is one of pipeline.AllStates.
func validState(s pipeline.State) bool { return slices.Contains(pipeline.AllStates, s) }

// orNow returns t, or the wall clock if t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// loadRow is one manifest record, validated and encoded.
type loadRow struct {
	key, ref     string
	line         int
	input, hash  string
	state        pipeline.State
	outcome      pipeline.Outcome
	rejectReason string
	errorCode    string
	errorMessage string
	runID        string
}

type existing struct {
	id    int64
	hash  string
	state pipeline.State
}

// Load inserts or refreshes records of job, all in one transaction; see
// pipeline.Store. From each given record it takes Key, Ref (RefFor(job, Key)
// when empty), Line, Input, State (pending when empty; only pending or
// rejected), RejectReason, ErrorCode, ErrorMessage, Outcome (REJECTED when
// empty on a rejected record) and RunID; other fields are ignored. A
// record's Job must be empty or job.
//
// An Updated record has exactly those columns rewritten, its exported_at and
// hashes cleared, its version incremented and updated_at set to now. Its
// lease, attempts, not_before and token history are left alone: a worker
// holding it sees its next versioned transition fail with ErrConflict.
func (s *Store) Load(ctx context.Context, job string, recs []pipeline.Record, now time.Time) (pipeline.LoadStats, error) {
	var st pipeline.LoadStats
	if job == "" {
		return st, errors.New("sqlitestore: load: empty job")
	}
	if len(recs) == 0 {
		return st, nil
	}
	rows := make([]loadRow, len(recs))
	keys := make([]string, len(recs))
	for i, rec := range recs {
		row, err := encodeLoadRow(job, rec)
		if err != nil {
			return st, fmt.Errorf("sqlitestore: load %s: record %d (line %d): %w", job, i, rec.Line, err)
		}
		rows[i] = row
		keys[i] = row.key
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return st, err
	}
	nowUS := orNow(now).UnixMicro()

	err = s.writeRelaxed(ctx, func(tx *sql.Tx) error {
		st = pipeline.LoadStats{}
		have := make(map[string]existing, len(rows))
		written := map[string]bool{} // key → this load wrote it as rejected
		q, err := tx.QueryContext(ctx, `SELECT key, id, input_hash, state FROM records
			WHERE job = ? AND key IN (SELECT value FROM json_each(?))`, job, string(keysJSON))
		if err != nil {
			return err
		}
		for q.Next() {
			var k string
			var e existing
			if err := q.Scan(&k, &e.id, &e.hash, &e.state); err != nil {
				q.Close()
				return err
			}
			have[k] = e
		}
		if err := q.Close(); err != nil {
			return err
		}

		ins, err := tx.PrepareContext(ctx, `INSERT INTO records
			(job, key, ref, line, input, input_hash, state, version, outcome, reject_reason, error_code, error_message, run_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		upd, err := tx.PrepareContext(ctx, `UPDATE records SET
			line = ?, input = ?, input_hash = ?, state = ?, outcome = ?, reject_reason = ?, error_code = ?,
			error_message = ?, run_id = ?, exported_at = NULL, hashes = NULL, version = version + 1, updated_at = ?
			WHERE id = ? AND state IN ('pending', 'rejected')`)
		if err != nil {
			return err
		}
		defer upd.Close()

		for _, r := range rows {
			e, ok := have[r.key]
			switch {
			case !ok:
				res, err := ins.ExecContext(ctx, job, r.key, r.ref, r.line, r.input, r.hash, string(r.state),
					string(r.outcome), r.rejectReason, r.errorCode, r.errorMessage, r.runID, nowUS)
				if err != nil {
					return fmt.Errorf("insert key %q: %w", r.key, err)
				}
				id, err := res.LastInsertId()
				if err != nil {
					return err
				}
				have[r.key] = existing{id: id, hash: r.hash, state: r.state}
				written[r.key] = r.state == pipeline.StateRejected
				st.Inserted++
			case e.hash == r.hash:
				st.Unchanged++
			case e.state == pipeline.StatePending || e.state == pipeline.StateRejected:
				res, err := upd.ExecContext(ctx, r.line, r.input, r.hash, string(r.state), string(r.outcome),
					r.rejectReason, r.errorCode, r.errorMessage, r.runID, nowUS, e.id)
				if err != nil {
					return fmt.Errorf("update key %q: %w", r.key, err)
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					return fmt.Errorf("update key %q: %d rows (%v)", r.key, n, err)
				}
				have[r.key] = existing{id: e.id, hash: r.hash, state: r.state}
				written[r.key] = r.state == pipeline.StateRejected
				st.Updated++
			default:
				st.Kept++
				st.KeptKeys = append(st.KeptKeys, r.key)
			}
		}
		for _, rejected := range written {
			if rejected {
				st.NewRejects++
			}
		}
		return nil
	})
	if err != nil {
		return pipeline.LoadStats{}, fmt.Errorf("sqlitestore: load %s: %w", job, err)
	}
	return st, nil
}

func encodeLoadRow(job string, rec pipeline.Record) (loadRow, error) {
	r, err := storecodec.EncodeLoadRow(job, rec)
	if err != nil {
		return loadRow{}, err
	}
	return loadRow{
		key: r.Key, ref: r.Ref, line: r.Line, input: r.Input, hash: r.Hash,
		state: r.State, outcome: r.Outcome,
		rejectReason: r.RejectReason, errorCode: r.ErrorCode, errorMessage: r.ErrorMessage, runID: r.RunID,
	}, nil
}

// dedupStates validates states and removes duplicates, keeping their order.
func dedupStates(states []pipeline.State) ([]pipeline.State, error) {
	out := make([]pipeline.State, 0, len(states))
	for _, st := range states {
		if !validState(st) {
			return nil, fmt.Errorf("unknown state %q", st)
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

// idsByState returns a subquery yielding the ids of up to limit rows, in id
// order, whose state is one of states and that match cond (with condArgs,
// which follow the state in each arm). Each state gets its own arm, ordered
// by id with its own LIMIT on the records_claim index, so the query reads
// about limit index entries per state whatever the size of the job; the arms
// are then merged.
func idsByState(job string, states []pipeline.State, cond string, condArgs []any, limit int) (string, []any) {
	var b strings.Builder
	var args []any
	arm := func(st pipeline.State) {
		b.WriteString("SELECT id FROM records WHERE job = ? AND state = ?")
		b.WriteString(cond)
		b.WriteString(" ORDER BY id LIMIT ?")
		args = append(args, job, string(st))
		args = append(args, condArgs...)
		args = append(args, limit)
	}
	if len(states) == 1 {
		arm(states[0])
		return b.String(), args
	}
	for i, st := range states {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT id FROM (")
		arm(st)
		b.WriteString(")")
	}
	b.WriteString(" ORDER BY id LIMIT ?")
	args = append(args, limit)
	return b.String(), args
}

// Claim leases up to req.Limit records in one statement; see pipeline.Store.
// A record is claimable when its not_before is NULL or <= req.Now and its
// lease is NULL or lease_until <= req.Now. Claiming increments the version
// and leaves updated_at alone. A zero req.Now means the wall clock.
// Limit <= 0 claims nothing.
func (s *Store) Claim(ctx context.Context, req pipeline.ClaimRequest) ([]pipeline.Record, error) {
	if req.Job == "" || req.Owner == "" || len(req.States) == 0 || req.Lease <= 0 {
		return nil, fmt.Errorf("sqlitestore: claim: job, owner, states and a positive lease are required (job %q owner %q states %v lease %v)",
			req.Job, req.Owner, req.States, req.Lease)
	}
	if req.Limit <= 0 {
		return nil, nil
	}
	states, err := dedupStates(req.States)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	now := orNow(req.Now)
	nowUS := now.UnixMicro()
	until := now.Add(req.Lease).UnixMicro()

	cond := " AND (not_before IS NULL OR not_before <= ?) AND (lease_until IS NULL OR lease_until <= ?)"
	condArgs := []any{nowUS, nowUS}
	if !req.DeadBefore.IsZero() {
		cond = " AND (not_before IS NULL OR not_before <= ?) AND (lease_until IS NULL OR lease_until <= ? OR (lease_owner <> ? AND " + deadOwnerCond + "))"
		condArgs = append(condArgs, req.Owner, req.DeadBefore.UnixMicro())
	}
	sub, subArgs := idsByState(req.Job, states, cond, condArgs, req.Limit)
	query := `UPDATE records SET lease_owner = ?, lease_until = ?, version = version + 1
		WHERE id IN (` + sub + `) RETURNING ` + recordCols
	args := append([]any{req.Owner, until}, subArgs...)

	var out []pipeline.Record
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = scanRecords(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim %s: %w", req.Job, err)
	}
	slices.SortFunc(out, func(a, b pipeline.Record) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Transition is a compare-and-set in one UPDATE; see pipeline.Store. It
// returns an error wrapping pipeline.ErrConflict if the record is not in
// t.From (or not at t.Version, when non-zero), and one wrapping
// pipeline.ErrNotFound if there is no record t.ID. Setting a scanRef that
// another record holds fails with pipeline.ErrScanRefTaken (unique index)
// and changes nothing. A zero t.Now
// means the wall clock.
func (s *Store) Transition(ctx context.Context, t pipeline.Transition) error {
	if !validState(t.From) || !validState(t.To) {
		return fmt.Errorf("sqlitestore: transition %d: unknown state in %q -> %q", t.ID, t.From, t.To)
	}
	cols, err := storecodec.PatchColumns(t.Patch, storecodec.Encoding{Time: micros})
	if err != nil {
		return fmt.Errorf("sqlitestore: transition %d: %w", t.ID, err)
	}
	sets := []string{"state = ?", "version = version + 1", "updated_at = ?"}
	args := []any{string(t.To), orNow(t.Now).UnixMicro()}
	for _, c := range cols {
		sets = append(sets, c.Name+" = ?")
		args = append(args, c.Value)
	}
	if !t.Patch.KeepLease {
		sets = append(sets, "lease_owner = NULL", "lease_until = NULL")
	}
	query := "UPDATE records SET " + strings.Join(sets, ", ") + " WHERE id = ? AND state = ?"
	args = append(args, t.ID, string(t.From))
	if t.Version != 0 {
		query += " AND version = ?"
		args = append(args, t.Version)
	}

	err = func() error {
		res, err := s.exec(ctx, query, args...)
		if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: records.scan_ref") {
			return pipeline.ErrScanRefTaken
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		// Nothing matched. Records are never deleted, so a record absent
		// now was absent when the UPDATE ran.
		var one int
		err = s.db.QueryRowContext(ctx, `SELECT 1 FROM records WHERE id = ?`, t.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return pipeline.ErrNotFound
		}
		if err != nil {
			return err
		}
		return pipeline.ErrConflict
	}()
	if err != nil {
		return fmt.Errorf("sqlitestore: transition %d %s->%s: %w", t.ID, t.From, t.To, err)
	}
	return nil
}

// getOne runs a query returning at most one record.
func (s *Store) getOne(ctx context.Context, what string, query string, args ...any) (pipeline.Record, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return pipeline.Record{}, fmt.Errorf("sqlitestore: %s: %w", what, err)
	}
	recs, err := scanRecords(rows)
	var r pipeline.Record
	if err == nil && len(recs) == 0 {
		err = sql.ErrNoRows
	}
	if err == nil {
		r = recs[0]
	}
	if errors.Is(err, sql.ErrNoRows) {
		return pipeline.Record{}, fmt.Errorf("sqlitestore: %s: %w", what, pipeline.ErrNotFound)
	}
	if err != nil {
		return pipeline.Record{}, fmt.Errorf("sqlitestore: %s: %w", what, err)
	}
	return r, nil
}

// Get returns the record with that id; ErrNotFound if none.
func (s *Store) Get(ctx context.Context, id int64) (pipeline.Record, error) {
	return s.getOne(ctx, fmt.Sprintf("record %d", id), `SELECT `+recordCols+` FROM records WHERE id = ?`, id)
}

// ByScanRef returns the record holding scanRef; ErrNotFound if none (and
// for "").
func (s *Store) ByScanRef(ctx context.Context, scanRef string) (pipeline.Record, error) {
	return s.getOne(ctx, "by scanRef", `SELECT `+recordCols+` FROM records WHERE scan_ref = ?`, scanRef)
}

// ByRef returns the record with that externalRef; ErrNotFound if none.
func (s *Store) ByRef(ctx context.Context, ref string) (pipeline.Record, error) {
	return s.getOne(ctx, "by ref", `SELECT `+recordCols+` FROM records WHERE ref = ?`, ref)
}

// endStates are the states MarkExported and the exportable index cover.
const endStatesSQL = `('final', 'rejected', 'failed')`

// List returns up to q.Limit records (all when Limit <= 0) of q.Job in
// q.States (all when empty) with id > q.AfterID, in id order. NotExported
// keeps records with no exported_at; SubmittedBefore keeps records with a
// submitted_at strictly before it; NotBefore keeps records whose not_before
// is NULL or <= it.
func (s *Store) List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	states, err := dedupStates(q.States)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list: %w", err)
	}
	if len(states) == 0 {
		states = pipeline.AllStates
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var cond strings.Builder
	var condArgs []any
	cond.WriteString(" AND id > ?")
	condArgs = append(condArgs, q.AfterID)
	if q.NotExported {
		cond.WriteString(" AND exported_at IS NULL")
	}
	if !q.SubmittedBefore.IsZero() {
		cond.WriteString(" AND submitted_at < ?")
		condArgs = append(condArgs, q.SubmittedBefore.UnixMicro())
	}
	if !q.NotBefore.IsZero() {
		cond.WriteString(" AND (not_before IS NULL OR not_before <= ?)")
		condArgs = append(condArgs, q.NotBefore.UnixMicro())
	}

	var query string
	var args []any
	if q.NotExported && allEnd(states) {
		// Records waiting for export: walk the partial records_exportable
		// index, which holds only them. Its WHERE clause must appear as is
		// for SQLite to use it.
		query = `SELECT ` + recordCols + ` FROM records INDEXED BY records_exportable
			WHERE job = ? AND exported_at IS NULL AND state IN ` + endStatesSQL + `
			AND state IN (` + placeholders(len(states)) + `)` + cond.String() + ` ORDER BY id LIMIT ?`
		args = append(args, q.Job)
		for _, st := range states {
			args = append(args, string(st))
		}
		args = append(args, condArgs...)
		args = append(args, limit)
	} else {
		sub, subArgs := idsByState(q.Job, states, cond.String(), condArgs, limit)
		query = `SELECT ` + recordCols + ` FROM records WHERE id IN (` + sub + `) ORDER BY id`
		args = subArgs
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list %s: %w", q.Job, err)
	}
	out, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list %s: %w", q.Job, err)
	}
	return out, nil
}

func allEnd(states []pipeline.State) bool {
	for _, st := range states {
		if !st.End() {
			return false
		}
	}
	return len(states) > 0
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// MarkExported sets exported_at = at on those of ids that are in an end
// state and have no exported_at; the others (already exported, not in an end
// state, unknown) are left alone. Marked records get version+1. Idempotent.
func (s *Store) MarkExported(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `UPDATE records SET exported_at = ?, version = version + 1
		WHERE id IN (SELECT value FROM json_each(?)) AND exported_at IS NULL AND state IN `+endStatesSQL,
		orNow(at).UnixMicro(), string(idsJSON))
	if err != nil {
		return fmt.Errorf("sqlitestore: mark exported: %w", err)
	}
	return nil
}

// Counts returns the number of records of job per state; every state of
// pipeline.AllStates is present, with 0 when it has none.
func (s *Store) Counts(ctx context.Context, job string) (map[pipeline.State]int, error) {
	rows, err := s.query(ctx, `SELECT state, count(*) FROM records WHERE job = ? GROUP BY state`, job)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: counts %s: %w", job, err)
	}
	defer rows.Close()
	out := make(map[pipeline.State]int, len(pipeline.AllStates))
	for _, st := range pipeline.AllStates {
		out[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlitestore: counts %s: %w", job, err)
		}
		out[pipeline.State(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: counts %s: %w", job, err)
	}
	return out, nil
}
