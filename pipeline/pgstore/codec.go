package pgstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline"
)

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
// stored byte for byte.
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

// scanRecord reads one row of recordCols.
func scanRecord(row pgx.CollectableRow) (pipeline.Record, error) {
	var (
		r                                                  pipeline.Record
		input, state, outcome                              string
		line, attempts                                     int32
		leaseOwner, scanRef, hashes, result                *string
		raw                                                []byte
		notBefore, leaseUntil, tokenExp, intent, submitted *time.Time
		resultAt, exported, deleted, updated               *time.Time
	)
	err := row.Scan(&r.ID, &r.Job, &r.Key, &r.Ref, &line, &input, &state, &r.Version, &attempts, &notBefore,
		&leaseOwner, &leaseUntil, &scanRef, &r.AuthToken, &tokenExp, &intent,
		&submitted, &resultAt, &exported, &deleted, &outcome, &r.RejectReason,
		&r.ErrorCode, &r.ErrorMessage, &hashes, &result, &raw, &r.RunID, &updated)
	if err != nil {
		return r, err
	}
	r.Line, r.Attempts = int(line), int(attempts)
	if err := json.Unmarshal([]byte(input), &r.Input); err != nil {
		return r, fmt.Errorf("record %d: decode input: %w", r.ID, err)
	}
	r.State = pipeline.State(state)
	r.Outcome = pipeline.Outcome(outcome)
	r.NotBefore = fromTS(notBefore)
	if leaseOwner != nil {
		r.LeaseOwner = *leaseOwner
	}
	r.LeaseUntil = fromTS(leaseUntil)
	if scanRef != nil {
		r.ScanRef = *scanRef
	}
	r.TokenExpiresAt = fromTS(tokenExp)
	r.IntentAt = fromTS(intent)
	r.SubmittedAt = fromTS(submitted)
	r.ResultAt = fromTS(resultAt)
	r.ExportedAt = fromTS(exported)
	r.DeletedAt = fromTS(deleted)
	r.UpdatedAt = fromTS(updated)
	if hashes != nil {
		if err := json.Unmarshal([]byte(*hashes), &r.Hashes); err != nil {
			return r, fmt.Errorf("record %d: decode hashes: %w", r.ID, err)
		}
		if r.Hashes == nil {
			r.Hashes = map[pipeline.Side]string{}
		}
	}
	if result != nil {
		var res pipeline.Result
		if err := json.Unmarshal([]byte(*result), &res); err != nil {
			return r, fmt.Errorf("record %d: decode result: %w", r.ID, err)
		}
		if len(raw) > 0 {
			res.Raw = json.RawMessage(raw)
		}
		r.Result = &res
	}
	return r, nil
}

// collectRecords reads every row and closes rows.
func collectRecords(rows pgx.Rows) ([]pipeline.Record, error) {
	return pgx.CollectRows(rows, scanRecord)
}
