package results

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// DeleteAPI is what deletion needs of idenfy.Client.
type DeleteAPI interface {
	Delete(ctx context.Context, scanRef string) error
	Status(ctx context.Context, scanRef string) (idenfy.StatusResponse, error)
}

// DeleteOptions select what Delete deletes.
type DeleteOptions struct {
	Job       string
	OlderThan time.Duration // a record's result (or, without one, its export) must be older than this
	Now       time.Time
	DryRun    bool // count the candidates; no API call, nothing changed
}

// DeleteReport is what Delete did.
type DeleteReport struct {
	Deleted int    // deleted at iDenfy by this call and recorded (with DryRun: the candidates)
	Already int    // of Deleted: iDenfy had deleted them already (an earlier, interrupted delete)
	NotYet  int    // refused because the verification is not final or its token still active
	Failed  int    // refused for another reason
	Log     string // the deletions log written (its Location at the destination)
}

// DeletionsLogPath is where the deletions log of a job is, relative to the
// export destination: outside every partition, and not *.parquet, so no
// reader of the export picks it up.
func DeletionsLogPath(job string) string { return "_deletions/job=" + job + "/deletions.csv" }

// Delete deletes at iDenfy (/api/v2/delete) the records of o.Job that are
// final, exported, not deleted yet, and whose result (or, without one,
// export) is older than o.OlderThan; each deletion is recorded in the Store
// (deleted_at) as soon as iDenfy confirms it.
//
// Delete is idempotent: a deletion that iDenfy refuses because it already
// happened (the Store write was lost to a crash) is recognised by /status
// (DELETED, EXPIRED-DELETED) and recorded. A refusal because the
// verification is not final yet, or its token still active
// (PARTNER_ERROR), leaves the record for the next call and counts as
// NotYet; any other refusal counts as Failed and is logged (by record id
// and scanRef, never by client id). Every API call goes through api's
// limiter. An error is an infrastructure error (the Store, the network,
// ctx); the report then tells what was done before it.
//
// At the end the job's deletions log (DeletionsLogPath) is rewritten at
// dest from the Store, with every deleted record, so that it heals itself
// after a crash.
func Delete(ctx context.Context, st pipeline.Store, api DeleteAPI, dest objstore.Dest, o DeleteOptions, log *slog.Logger) (DeleteReport, error) {
	var rep DeleteReport
	cutoff := o.Now.Add(-o.OlderThan)
	var after int64
	for {
		recs, err := st.List(ctx, pipeline.ListQuery{Job: o.Job, States: []pipeline.State{pipeline.StateFinal}, AfterID: after, Limit: 1000})
		if err != nil {
			return rep, fmt.Errorf("store: %w", err)
		}
		for _, rec := range recs {
			after = rec.ID
			ref := rec.ResultAt
			if ref.IsZero() {
				ref = rec.ExportedAt
			}
			if rec.ScanRef == "" || rec.ExportedAt.IsZero() || !rec.DeletedAt.IsZero() || !ref.Before(cutoff) {
				continue
			}
			if o.DryRun {
				rep.Deleted++
				continue
			}
			already := false
			if err := api.Delete(ctx, rec.ScanRef); err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				var ae *idenfy.APIError
				if !errors.As(err, &ae) {
					return rep, fmt.Errorf("delete: %w", err)
				}
				s, serr := api.Status(ctx, rec.ScanRef)
				switch {
				case serr == nil && (s.Status == idenfy.StatusDeleted || s.Status == idenfy.StatusExpiredDeleted):
					already = true
				case ae.Identifier == idenfy.IdentifierPartnerError:
					rep.NotYet++
					log.Info("not deletable yet", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyScanRef, rec.ScanRef, "reason", ae.Message)
					continue
				default:
					rep.Failed++
					log.Warn("delete refused", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyScanRef, rec.ScanRef, "http_status", ae.HTTPStatus, "identifier", ae.Identifier, "message", ae.Message)
					continue
				}
			}
			if err := markDeleted(ctx, st, rec, o.Now); err != nil {
				return rep, err
			}
			rep.Deleted++
			if already {
				rep.Already++
			}
		}
		if len(recs) < 1000 {
			break
		}
	}
	if o.DryRun {
		return rep, nil
	}
	rel := DeletionsLogPath(o.Job)
	if err := writeDeletionsLog(ctx, st, dest, o.Job, rel); err != nil {
		return rep, err
	}
	rep.Log = dest.Location(rel)
	return rep, nil
}

// markDeleted records deleted_at by compare-and-set, re-reading the record
// once if it changed meanwhile (a late webhook, say).
func markDeleted(ctx context.Context, st pipeline.Store, rec pipeline.Record, at time.Time) error {
	for range 3 {
		err := st.Transition(ctx, pipeline.Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: rec.State, Now: at,
			Patch: pipeline.Patch{DeletedAt: &at}})
		if !errors.Is(err, pipeline.ErrConflict) {
			if err != nil {
				return fmt.Errorf("store: record %d deleted at iDenfy but not recorded (the next delete records it): %w", rec.ID, err)
			}
			return nil
		}
		if rec, err = st.Get(ctx, rec.ID); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if !rec.DeletedAt.IsZero() {
			return nil
		}
	}
	return fmt.Errorf("store: record %d keeps changing; deleted at iDenfy, the next delete records it", rec.ID)
}

// writeDeletionsLog rewrites the job's deletions log: job, client_id,
// scan_ref, deleted_at (RFC 3339, UTC, microseconds) of every deleted record.
func writeDeletionsLog(ctx context.Context, st pipeline.Store, dest objstore.Dest, job, rel string) error {
	f, err := dest.Create(ctx, rel)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"job", "client_id", "scan_ref", "deleted_at"})
	var after int64
	for {
		recs, err := st.List(ctx, pipeline.ListQuery{Job: job, States: pipeline.AllStates, AfterID: after, Limit: 10000})
		if err != nil {
			_ = f.Abort()
			return fmt.Errorf("store: %w", err)
		}
		for _, r := range recs {
			after = r.ID
			if !r.DeletedAt.IsZero() {
				_ = cw.Write([]string{r.Job, r.Input.ClientID, r.ScanRef, r.DeletedAt.UTC().Format("2006-01-02T15:04:05.000000Z")})
			}
		}
		if len(recs) < 10000 {
			break
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		_ = f.Abort()
		return err
	}
	return f.Commit()
}
