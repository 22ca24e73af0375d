package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

// validState reports whether s is one of pipeline.AllStates.
func validState(s pipeline.State) bool { return slices.Contains(pipeline.AllStates, s) }

// loadRow is one manifest record, validated and encoded.
type loadRow struct {
	key, ref     string
	line         int32
	input, hash  string
	state        string
	outcome      string
	rejectReason string
	errorCode    string
	errorMessage string
	runID        string
}

func encodeLoadRow(job string, rec pipeline.Record) (loadRow, error) {
	r, err := storecodec.EncodeLoadRow(job, rec)
	if err != nil {
		return loadRow{}, err
	}
	return loadRow{
		key: r.Key, ref: r.Ref, line: int32(r.Line), input: r.Input, hash: r.Hash,
		state: string(r.State), outcome: string(r.Outcome),
		rejectReason: r.RejectReason, errorCode: r.ErrorCode, errorMessage: r.ErrorMessage, runID: r.RunID,
	}, nil
}

type existing struct {
	id    int64 // 0: inserted by this batch
	hash  string
	state pipeline.State
	ins   int // index in the insert list, for a key inserted by this batch
}

// Load inserts or refreshes records of job in one transaction; see
// pipeline.Store and the package documentation. Loads of one job are
// serialized by a transaction-level advisory lock, so N workers loading the
// same manifest at once each see the others' rows.
func (s *Store) Load(ctx context.Context, job string, recs []pipeline.Record, now time.Time) (pipeline.LoadStats, error) {
	var st pipeline.LoadStats
	if job == "" {
		return st, errors.New("pgstore: load: empty job")
	}
	if len(recs) == 0 {
		return st, nil
	}
	rows := make([]loadRow, len(recs))
	keys := make([]string, len(recs))
	for i, rec := range recs {
		row, err := encodeLoadRow(job, rec)
		if err != nil {
			return st, fmt.Errorf("pgstore: load %s: record %d (line %d): %w", job, i, rec.Line, err)
		}
		rows[i] = row
		keys[i] = row.key
	}
	nowT := orNow(now).UTC()

	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		st = pipeline.LoadStats{}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':idbatch-load:' || $1))`, job); err != nil {
			return err
		}
		have := make(map[string]existing, len(rows))
		q, err := tx.Query(ctx, `SELECT key, id, input_hash, state FROM records WHERE job = $1 AND key = ANY($2)`, job, keys)
		if err != nil {
			return err
		}
		var (
			k     string
			e     existing
			state string
		)
		_, err = pgx.ForEachRow(q, []any{&k, &e.id, &e.hash, &state}, func() error {
			e.state = pipeline.State(state)
			have[k] = e
			return nil
		})
		if err != nil {
			return err
		}

		var inserts []loadRow
		updates := map[int64]loadRow{}
		var updOrder []int64
		written := map[string]bool{} // key → this load writes it as rejected
		for _, r := range rows {
			e, ok := have[r.key]
			switch {
			case !ok:
				have[r.key] = existing{hash: r.hash, state: pipeline.State(r.state), ins: len(inserts)}
				inserts = append(inserts, r)
				written[r.key] = pipeline.State(r.state) == pipeline.StateRejected
				st.Inserted++
			case e.hash == r.hash:
				st.Unchanged++
			case e.state == pipeline.StatePending || e.state == pipeline.StateRejected:
				if e.id == 0 {
					inserts[e.ins] = r // a key twice in one batch: the last row wins
				} else {
					if _, seen := updates[e.id]; !seen {
						updOrder = append(updOrder, e.id)
					}
					updates[e.id] = r
				}
				e.hash, e.state = r.hash, pipeline.State(r.state)
				have[r.key] = e
				written[r.key] = pipeline.State(r.state) == pipeline.StateRejected
				st.Updated++
			default:
				st.Kept++
				st.KeptKeys = append(st.KeptKeys, r.key)
			}
		}

		if len(inserts) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"records"},
				[]string{"job", "key", "ref", "line", "input", "input_hash", "state", "version", "outcome", "reject_reason", "error_code", "error_message", "run_id", "updated_at"},
				pgx.CopyFromSlice(len(inserts), func(i int) ([]any, error) {
					r := inserts[i]
					return []any{job, r.key, r.ref, r.line, r.input, r.hash, r.state, int64(1), r.outcome, r.rejectReason, r.errorCode, r.errorMessage, r.runID, nowT}, nil
				}))
			if err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
		if len(updates) > 0 {
			n := len(updOrder)
			var (
				ids                                                   = make([]int64, n)
				lines                                                 = make([]int32, n)
				inputs, hashes, states, outcomes, reasons, codes, msg = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
				runs                                                  = make([]string, n)
			)
			for i, id := range updOrder {
				r := updates[id]
				ids[i], lines[i], inputs[i], hashes[i], states[i] = id, r.line, r.input, r.hash, r.state
				outcomes[i], reasons[i], codes[i], msg[i], runs[i] = r.outcome, r.rejectReason, r.errorCode, r.errorMessage, r.runID
			}
			q, err := tx.Query(ctx, `UPDATE records r SET line = u.line, input = u.input, input_hash = u.hash, state = u.state,
				outcome = u.outcome, reject_reason = u.reason, error_code = u.code, error_message = u.msg, run_id = u.run,
				exported_at = NULL, hashes = NULL, version = r.version + 1, updated_at = $1
				FROM unnest($2::bigint[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
					AS u(id, line, input, hash, state, outcome, reason, code, msg, run)
				WHERE r.id = u.id AND r.state IN ('pending', 'rejected')
				RETURNING r.id`, nowT, ids, lines, inputs, hashes, states, outcomes, reasons, codes, msg, runs)
			if err != nil {
				return fmt.Errorf("update: %w", err)
			}
			done, err := pgx.CollectRows(q, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("update: %w", err)
			}
			if len(done) < len(ids) {
				// Claimed and moved on (tokening, …) since we read it: the
				// stored input is kept, and reported.
				got := map[int64]bool{}
				for _, id := range done {
					got[id] = true
				}
				keyOf := map[int64]string{}
				for k, e := range have {
					if e.id != 0 {
						keyOf[e.id] = k
					}
				}
				for _, id := range ids {
					if !got[id] {
						st.Updated--
						st.Kept++
						st.KeptKeys = append(st.KeptKeys, keyOf[id])
						delete(written, keyOf[id]) // not written: no reject of this load
					}
				}
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
		return pipeline.LoadStats{}, fmt.Errorf("pgstore: load %s: %w", job, err)
	}
	return st, nil
}

// dedupStates validates states and removes duplicates, keeping their order.
func dedupStates(states []pipeline.State) ([]string, error) {
	out := make([]string, 0, len(states))
	for _, st := range states {
		if !validState(st) {
			return nil, fmt.Errorf("unknown state %q", st)
		}
		if !slices.Contains(out, string(st)) {
			out = append(out, string(st))
		}
	}
	return out, nil
}

// Claim leases up to req.Limit records in one statement; see pipeline.Store.
// For each state it locks, with FOR UPDATE SKIP LOCKED, up to Limit claimable
// records in id order (on the records_claim index: about Limit entries
// whatever the size of the job), keeps the Limit lowest ids of them and
// leases those. A row locked by a concurrent claim is skipped, never waited
// for; one changed by a claim that committed meanwhile is re-checked by
// PostgreSQL against the lease condition before it is locked. So concurrent
// claims, on any number of connections and machines, never return one record
// twice while its lease runs. Claiming increments the version and leaves
// updated_at alone. A zero req.Now means the wall clock. Limit <= 0 claims
// nothing.
func (s *Store) Claim(ctx context.Context, req pipeline.ClaimRequest) ([]pipeline.Record, error) {
	if req.Job == "" || req.Owner == "" || len(req.States) == 0 || req.Lease <= 0 {
		return nil, fmt.Errorf("pgstore: claim: job, owner, states and a positive lease are required (job %q owner %q states %v lease %v)",
			req.Job, req.Owner, req.States, req.Lease)
	}
	if req.Limit <= 0 {
		return nil, nil
	}
	states, err := dedupStates(req.States)
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim: %w", err)
	}
	now := orNow(req.Now).UTC()
	var a args
	job, nowP, limit := a.p(req.Job), a.p(now), a.p(req.Limit)
	owner, until := a.p(req.Owner), a.p(now.Add(req.Lease))
	var b strings.Builder
	b.WriteString("WITH ")
	free := "lease_until IS NULL OR lease_until <= " + nowP
	if !req.DeadBefore.IsZero() {
		free += " OR (lease_owner <> " + owner + " AND lease_owner IN (SELECT id FROM workers WHERE stopped_at IS NOT NULL OR heartbeat_at < " + a.p(req.DeadBefore.UTC()) + "))"
	}
	for i, st := range states {
		fmt.Fprintf(&b, `c%d AS (SELECT id FROM records WHERE job = %s AND state = %s
			AND (not_before IS NULL OR not_before <= %s) AND (%s)
			ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED), `, i, job, a.p(st), nowP, free, limit)
	}
	b.WriteString("pick AS (SELECT id FROM (")
	for i := range states {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT id FROM c%d", i)
	}
	fmt.Fprintf(&b, `) u ORDER BY id LIMIT %s)
		UPDATE records r SET lease_owner = %s, lease_until = %s, version = r.version + 1
		FROM pick WHERE r.id = pick.id RETURNING `, limit, owner, until)
	b.WriteString(prefixed("r.", recordCols))
	rows, err := s.pool.Query(ctx, b.String(), a...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim %s: %w", req.Job, err)
	}
	out, err := collectRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim %s: %w", req.Job, err)
	}
	slices.SortFunc(out, func(a, b pipeline.Record) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// prefixed qualifies every column of a column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// Transition is a compare-and-set in one UPDATE; see pipeline.Store. It
// returns an error wrapping pipeline.ErrConflict if the record is not in
// t.From (or not at t.Version, when non-zero), one wrapping
// pipeline.ErrNotFound if there is no record t.ID, and one wrapping
// pipeline.ErrScanRefTaken if the patch gives it a scanRef another record
// holds; in every case nothing changes. A zero t.Now means the wall clock.
func (s *Store) Transition(ctx context.Context, t pipeline.Transition) error {
	if !validState(t.From) || !validState(t.To) {
		return fmt.Errorf("pgstore: transition %d: unknown state in %q -> %q", t.ID, t.From, t.To)
	}
	cols, err := storecodec.PatchColumns(t.Patch, storecodec.Encoding{
		Time: ts,
		Int:  func(n int) any { return int32(n) },
	})
	if err != nil {
		return fmt.Errorf("pgstore: transition %d: %w", t.ID, err)
	}
	var a args
	sets := []string{"state = " + a.p(string(t.To)), "version = version + 1", "updated_at = " + a.p(orNow(t.Now).UTC())}
	for _, c := range cols {
		sets = append(sets, c.Name+" = "+a.p(c.Value))
	}
	if !t.Patch.KeepLease {
		sets = append(sets, "lease_owner = NULL", "lease_until = NULL")
	}
	query := "UPDATE records SET " + strings.Join(sets, ", ") + " WHERE id = " + a.p(t.ID) + " AND state = " + a.p(string(t.From))
	if t.Version != 0 {
		query += " AND version = " + a.p(t.Version)
	}

	err = func() error {
		tag, err := s.pool.Exec(ctx, query, a...)
		if isUnique(err, "records_scan_ref") {
			return pipeline.ErrScanRefTaken
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		// Nothing matched. Records are never deleted, so a record absent
		// now was absent when the UPDATE ran.
		var one int32
		err = s.pool.QueryRow(ctx, `SELECT 1 FROM records WHERE id = $1`, t.ID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrNotFound
		}
		if err != nil {
			return err
		}
		return pipeline.ErrConflict
	}()
	if err != nil {
		return fmt.Errorf("pgstore: transition %d %s->%s: %w", t.ID, t.From, t.To, err)
	}
	return nil
}

// getOne runs a query returning at most one record.
func (s *Store) getOne(ctx context.Context, what string, query string, args ...any) (pipeline.Record, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return pipeline.Record{}, fmt.Errorf("pgstore: %s: %w", what, err)
	}
	recs, err := collectRecords(rows)
	if err != nil {
		return pipeline.Record{}, fmt.Errorf("pgstore: %s: %w", what, err)
	}
	if len(recs) == 0 {
		return pipeline.Record{}, fmt.Errorf("pgstore: %s: %w", what, pipeline.ErrNotFound)
	}
	return recs[0], nil
}

// Get returns the record with that id; ErrNotFound if none.
func (s *Store) Get(ctx context.Context, id int64) (pipeline.Record, error) {
	return s.getOne(ctx, fmt.Sprintf("record %d", id), `SELECT `+recordCols+` FROM records WHERE id = $1`, id)
}

// ByScanRef returns the record holding scanRef; ErrNotFound if none (and for "").
func (s *Store) ByScanRef(ctx context.Context, scanRef string) (pipeline.Record, error) {
	return s.getOne(ctx, "by scanRef", `SELECT `+recordCols+` FROM records WHERE scan_ref = $1`, scanRef)
}

// ByRef returns the record with that externalRef; ErrNotFound if none.
func (s *Store) ByRef(ctx context.Context, ref string) (pipeline.Record, error) {
	return s.getOne(ctx, "by ref", `SELECT `+recordCols+` FROM records WHERE ref = $1`, ref)
}

const endStatesSQL = `('final', 'rejected', 'failed')`

func allEnd(states []string) bool {
	for _, st := range states {
		if !pipeline.State(st).End() {
			return false
		}
	}
	return len(states) > 0
}

// List returns up to q.Limit records (all when Limit <= 0) of q.Job in
// q.States (all when empty) with id > q.AfterID, in id order. NotExported
// keeps records with no exported_at; SubmittedBefore keeps records with a
// submitted_at strictly before it; NotBefore keeps records whose not_before
// is NULL or <= it.
func (s *Store) List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	states, err := dedupStates(q.States)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	if len(states) == 0 {
		for _, st := range pipeline.AllStates {
			states = append(states, string(st))
		}
	}
	var a args
	cond := func() string {
		var c strings.Builder
		c.WriteString(" AND id > " + a.p(q.AfterID))
		if q.NotExported {
			c.WriteString(" AND exported_at IS NULL")
		}
		if !q.SubmittedBefore.IsZero() {
			c.WriteString(" AND submitted_at < " + a.p(q.SubmittedBefore.UTC()))
		}
		if !q.NotBefore.IsZero() {
			c.WriteString(" AND (not_before IS NULL OR not_before <= " + a.p(q.NotBefore.UTC()) + ")")
		}
		return c.String()
	}
	limit := func() string {
		if q.Limit <= 0 {
			return ""
		}
		return " LIMIT " + a.p(q.Limit)
	}
	var query string
	switch {
	case q.NotExported && allEnd(states):
		// Records waiting for export: the partial records_exportable index.
		query = `SELECT ` + recordCols + ` FROM records WHERE job = ` + a.p(q.Job) + ` AND exported_at IS NULL AND state IN ` + endStatesSQL +
			` AND state = ANY(` + a.p(states) + `)` + cond() + ` ORDER BY id` + limit()
	case q.Limit <= 0 || len(states) == 1:
		query = `SELECT ` + recordCols + ` FROM records WHERE job = ` + a.p(q.Job) + ` AND state = ANY(` + a.p(states) + `)` + cond() + ` ORDER BY id` + limit()
	default:
		// One arm per state, each reading about Limit entries of
		// records_claim in id order, merged.
		var b strings.Builder
		b.WriteString(`SELECT ` + recordCols + ` FROM records WHERE id IN (SELECT id FROM (`)
		for i, st := range states {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			b.WriteString(`(SELECT id FROM records WHERE job = ` + a.p(q.Job) + ` AND state = ` + a.p(st) + cond() + ` ORDER BY id` + limit() + `)`)
		}
		b.WriteString(`) u ORDER BY id` + limit() + `) ORDER BY id`)
		query = b.String()
	}
	rows, err := s.pool.Query(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list %s: %w", q.Job, err)
	}
	out, err := collectRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list %s: %w", q.Job, err)
	}
	return out, nil
}

// MarkExported sets exported_at = at on those of ids that are in an end
// state and have no exported_at; the others (already exported, not in an end
// state, unknown) are left alone. Marked records get version+1. Idempotent.
func (s *Store) MarkExported(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE records SET exported_at = $1, version = version + 1
		WHERE id = ANY($2) AND exported_at IS NULL AND state IN `+endStatesSQL, orNow(at).UTC(), ids)
	if err != nil {
		return fmt.Errorf("pgstore: mark exported: %w", err)
	}
	return nil
}

// Counts returns the number of records of job per state; every state of
// pipeline.AllStates is present, with 0 when it has none.
func (s *Store) Counts(ctx context.Context, job string) (map[pipeline.State]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM records WHERE job = $1 GROUP BY state`, job)
	if err != nil {
		return nil, fmt.Errorf("pgstore: counts %s: %w", job, err)
	}
	out := make(map[pipeline.State]int, len(pipeline.AllStates))
	for _, st := range pipeline.AllStates {
		out[st] = 0
	}
	var st string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		out[pipeline.State(st)] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: counts %s: %w", job, err)
	}
	return out, nil
}
