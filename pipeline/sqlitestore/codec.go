package sqlitestore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/idbatch/idbatch/pipeline"
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

// nullString encodes "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonText marshals v without HTML escaping, as text.
func jsonText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// encodeHashes: nil is NULL.
func encodeHashes(h map[pipeline.Side]string) (any, error) {
	if h == nil {
		return nil, nil
	}
	return jsonText(h)
}

// encodeResult splits a result into its JSON (without Raw) and Raw, which is
// stored byte for byte: encoding/json would compact and HTML-escape it.
func encodeResult(r *pipeline.Result) (res any, raw any, err error) {
	if r == nil {
		return nil, nil, nil
	}
	c := *r
	c.Raw = nil
	text, err := jsonText(&c)
	if err != nil {
		return nil, nil, fmt.Errorf("encode result: %w", err)
	}
	if len(r.Raw) > 0 {
		raw = []byte(r.Raw)
	}
	return text, raw, nil
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
	if err := json.Unmarshal([]byte(input), &r.Input); err != nil {
		return r, fmt.Errorf("record %d: decode input: %w", r.ID, err)
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
		if err := json.Unmarshal([]byte(hashes.String), &r.Hashes); err != nil {
			return r, fmt.Errorf("record %d: decode hashes: %w", r.ID, err)
		}
		if r.Hashes == nil {
			r.Hashes = map[pipeline.Side]string{}
		}
	}
	if result.Valid {
		var res pipeline.Result
		if err := json.Unmarshal([]byte(result.String), &res); err != nil {
			return r, fmt.Errorf("record %d: decode result: %w", r.ID, err)
		}
		if len(raw) > 0 {
			res.Raw = json.RawMessage(raw)
		}
		r.Result = &res
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
