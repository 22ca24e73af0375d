package sqlitestore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

// micros encodes a time as microseconds since the epoch; the zero time is NULL.
// Sub-microsecond precision is truncated.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros decodes micros; NULL is the zero time. Times come back in UTC.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// recordCols is the column list scanRecord reads, in order.
const recordCols = `id, job, key, ref, line, input, state, version, attempts, not_before,
	lease_owner, lease_until, scan_ref, auth_token, token_expires_at, intent_at,
	submitted_at, result_at, exported_at, deleted_at, outcome, reject_reason,
	error_code, error_message, hashes, result, result_raw, run_id, updated_at`

type scanner interface{ Scan(dest ...any) error }

// scanRecord reads one row of recordCols.
func scanRecord(sc scanner) (pipeline.Record, error) {
	var (
		r                                                  pipeline.Record
		input                                              string
		state, outcome                                     string
		leaseOwner, scanRef, hashes, result                sql.NullString
		raw                                                []byte
		notBefore, leaseUntil, tokenExp, intent, submitted sql.NullInt64
		resultAt, exported, deleted, updated               sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Job, &r.Key, &r.Ref, &r.Line, &input, &state, &r.Version, &r.Attempts, &notBefore,
		&leaseOwner, &leaseUntil, &scanRef, &r.AuthToken, &tokenExp, &intent,
		&submitted, &resultAt, &exported, &deleted, &outcome, &r.RejectReason,
		&r.ErrorCode, &r.ErrorMessage, &hashes, &result, &raw, &r.RunID, &updated)
	if err != nil {
		return r, err
	}
	if r.Input, err = storecodec.DecodeInput(input); err != nil {
		return r, fmt.Errorf("record %d: %w", r.ID, err)
	}
	r.State = pipeline.State(state)
	r.Outcome = pipeline.Outcome(outcome)
	r.NotBefore = fromMicros(notBefore)
	r.LeaseOwner = leaseOwner.String
	r.LeaseUntil = fromMicros(leaseUntil)
	r.ScanRef = scanRef.String
	r.TokenExpiresAt = fromMicros(tokenExp)
	r.IntentAt = fromMicros(intent)
	r.SubmittedAt = fromMicros(submitted)
	r.ResultAt = fromMicros(resultAt)
	r.ExportedAt = fromMicros(exported)
	r.DeletedAt = fromMicros(deleted)
	r.UpdatedAt = fromMicros(updated)
	if hashes.Valid {
		if r.Hashes, err = storecodec.DecodeHashes(hashes.String); err != nil {
			return r, fmt.Errorf("record %d: %w", r.ID, err)
		}
	}
	if result.Valid {
		if r.Result, err = storecodec.DecodeResult(result.String, raw); err != nil {
			return r, fmt.Errorf("record %d: %w", r.ID, err)
		}
	}
	return r, nil
}

// scanRecords reads every row and closes rows.
func scanRecords(rows *sql.Rows) ([]pipeline.Record, error) {
	defer rows.Close()
	var out []pipeline.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}
