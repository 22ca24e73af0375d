package pgstore

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/internal/storecodec"
)

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
	if r.Input, err = storecodec.DecodeInput(input); err != nil {
		return r, fmt.Errorf("record %d: %w", r.ID, err)
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
		if r.Hashes, err = storecodec.DecodeHashes(*hashes); err != nil {
			return r, fmt.Errorf("record %d: %w", r.ID, err)
		}
	}
	if result != nil {
		if r.Result, err = storecodec.DecodeResult(*result, raw); err != nil {
			return r, fmt.Errorf("record %d: %w", r.ID, err)
		}
	}
	return r, nil
}

// collectRecords reads every row and closes rows.
func collectRecords(rows pgx.Rows) ([]pipeline.Record, error) {
	return pgx.CollectRows(rows, scanRecord)
}
