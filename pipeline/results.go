package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ApplyOutcome tells what ApplyResult did with a result.
type ApplyOutcome int

const (
	// ResultApplied: the result was stored (and the record moved if it was final).
	ResultApplied ApplyOutcome = iota
	// ResultIgnored: the record already holds a result at least as good
	// (a duplicate, a replay, or an automatic result arriving after the final one).
	ResultIgnored
	// ResultUnknown: no record of ours holds that scanRef or externalRef.
	ResultUnknown
	// ResultAdopted: the result belonged to a possible orphan token; the record
	// now holds its scanRef and the result.
	ResultAdopted
)

func (o ApplyOutcome) String() string {
	switch o {
	case ResultApplied:
		return "applied"
	case ResultIgnored:
		return "ignored"
	case ResultUnknown:
		return "unknown"
	case ResultAdopted:
		return "adopted"
	}
	return fmt.Sprintf("ApplyOutcome(%d)", int(o))
}

// resultStore is what ApplyResult needs of a Store.
type resultStore interface {
	ByScanRef(ctx context.Context, scanRef string) (Record, error)
	ByRef(ctx context.Context, ref string) (Record, error)
	Transition(ctx context.Context, t Transition) error
}

// ApplyResult stores a verification result on the record it belongs to,
// never moving a record backwards: a result is written only if it ranks
// above the one held (none < automatic < final). A final result moves the
// record to StateFinal with its outcome. A non-final result received while
// the record is still tokening/tokened proves the upload landed, so the record
// becomes submitted. A result for an unknown scanRef whose externalRef names a
// possible orphan (an intent, no stored token) adopts that record: an
// expiry result sends it back to pending (verified again with a new token,
// never exported as EXPIRED), any other result is stored on it. Adoption
// matches the externalRef idbatch put on the token, never a bare clientId.
// Safe against concurrent writers: it retries on ErrConflict.
func ApplyResult(ctx context.Context, st resultStore, res Result, runID string, now time.Time) (ApplyOutcome, Record, error) {
	for attempt := 0; attempt < 8; attempt++ {
		adopted := false
		rec, err := st.ByScanRef(ctx, res.ScanRef)
		if errors.Is(err, ErrNotFound) && res.ExternalRef != "" {
			rec, err = st.ByRef(ctx, res.ExternalRef)
			if err == nil && rec.ScanRef != "" && rec.ScanRef != res.ScanRef {
				// Same externalRef but another verification: not ours to adopt.
				return ResultUnknown, Record{}, nil
			}
			// Only a possible orphan is adopted: a record in tokening may be
			// creating its next token right now, and the old token's callback
			// must not end it.
			if err == nil && (rec.ScanRef != "" || rec.State != StateOrphan) {
				return ResultUnknown, Record{}, nil
			}
			adopted = err == nil
		}
		if errors.Is(err, ErrNotFound) {
			return ResultUnknown, Record{}, nil
		}
		if err != nil {
			return 0, Record{}, err
		}
		switch rec.State {
		case StatePending, StateRejected:
			// Nothing was sent for this record in its current life; a stray
			// result for its externalRef must not move it.
			return ResultUnknown, rec, nil
		}
		if res.Rank() <= rec.Result.Rank() {
			return ResultIgnored, rec, nil
		}
		if adopted && isExpired(res.Overall) {
			// The expiry callback of a possible orphan's token: the token
			// expired unused, so the record is verified again now, with a new
			// token (its attempt stays counted); it never ends as EXPIRED.
			msg := "the possible orphan token expired unused (its expiry callback arrived); a new token is created"
			err = st.Transition(ctx, Transition{ID: rec.ID, From: StateOrphan, Version: rec.Version, To: StatePending, Now: now,
				Patch: Patch{NotBefore: &time.Time{}, IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{},
					ErrorCode: ptr("orphan_token_expired"), ErrorMessage: &msg}})
			if errors.Is(err, ErrConflict) {
				continue
			}
			if err != nil {
				return 0, Record{}, err
			}
			return ResultAdopted, rec, nil
		}
		if res.Overall == "ACTIVE" && (rec.State == StateTokening || rec.State == StateTokened || rec.State == StateOrphan) {
			// ACTIVE: the token is unused, the upload never landed. It proves
			// nothing was submitted; the submit stage reconciles the record.
			return ResultIgnored, rec, nil
		}
		if isExpired(res.Overall) && (rec.State == StateTokening || rec.State == StateTokened) {
			// The token expired unused: the verification never happened.
			// The submit stage reconciles it with /status and creates a new
			// token; the record must not end as EXPIRED.
			return ResultIgnored, rec, nil
		}
		t := Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: rec.State, Now: now, Patch: Patch{KeepLease: true}}
		r := res
		t.Patch.Result = &r
		if adopted {
			t.Patch.ScanRef = &res.ScanRef
		}
		if rec.SubmittedAt.IsZero() {
			t.Patch.SubmittedAt = &now
		}
		switch {
		case res.Final:
			if rec.State == StateFailed && !rec.ExportedAt.IsZero() {
				// The verification happened after all: export the record
				// again with its real outcome.
				t.Patch.ExportedAt = &time.Time{}
			}
			t.To = StateFinal
			o := res.Outcome()
			t.Patch.Outcome = &o
			t.Patch.ResultAt = &now
			t.Patch.RunID = &runID
			t.Patch.KeepLease = false
		case rec.State == StateTokening || rec.State == StateTokened || rec.State == StateOrphan:
			t.To = StateSubmitted
		}
		err = st.Transition(ctx, t)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return 0, Record{}, err
		}
		if adopted {
			return ResultAdopted, rec, nil
		}
		return ResultApplied, rec, nil
	}
	return 0, Record{}, fmt.Errorf("apply result: record kept changing: %w", ErrConflict)
}

// isExpired reports whether an overall status says the verification never
// happened or is gone.
func isExpired(overall string) bool {
	switch overall {
	case "EXPIRED", "EXPIRED-DELETED", "DELETED":
		return true
	}
	return false
}
