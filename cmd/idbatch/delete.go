package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/setup"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// runDelete deletes at iDenfy (/api/v2/delete) the exported, final
// verifications whose result is older than -older-than, records deleted_at
// in the Store, and rewrites the job's deletions log beside the export.
func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("delete", stderr, &cf)
	olderThan := fs.String("older-than", "", "delete verifications whose result is older than this (e.g. 30d, 720h); required")
	dryRun := fs.Bool("dry-run", false, "count what would be deleted; no API call, nothing changed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	age, err := parseAge(*olderThan)
	if err != nil {
		return &usageError{msg: "-older-than: " + err.Error()}
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	if cfg.Job == "" {
		return errors.New("job: is required")
	}
	if err := cfg.NeedCredentials("idenfy.api_key", "idenfy.api_secret"); err != nil && !*dryRun {
		return err
	}
	if !*dryRun && (cfg.Idenfy.APIKey == "" || cfg.Idenfy.APISecret == "") {
		return errors.New("idenfy.api_key and idenfy.api_secret are required (set them with ${IDENFY_API_KEY} and ${IDENFY_API_SECRET})")
	}
	log := setup.Logger(cfg.Log, stderr, false).With("job", cfg.Job, "stage", "delete")
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.ExistingStore, Destination: true, Logger: log})
	if err != nil {
		return err
	}
	defer deps.Close()
	st := deps.Store
	rep, err := deleteVerifications(ctx, st, deps.API(setup.APIOptions{}), deps.Dest, deleteOptions{Job: cfg.Job, OlderThan: age, Now: time.Now(), DryRun: *dryRun}, log)
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(stdout, "%s %d verifications (%d already deleted at iDenfy); %d not deletable yet (verification not final or token still active: retried by the next delete); %d failed\n",
		verb, rep.Deleted, rep.Already, rep.NotYet, rep.Failed)
	if rep.Log != "" {
		fmt.Fprintf(stdout, "deletions log: %s\n", rep.Log)
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d deletions failed (see the log; the next delete retries them)", rep.Failed)
	}
	return nil
}

// parseAge parses 30d (days) or any time.ParseDuration value; it must be positive.
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("is required (e.g. 30d)")
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

// deleteAPI is what deletion needs of idenfy.Client.
type deleteAPI interface {
	Delete(ctx context.Context, scanRef string) error
	Status(ctx context.Context, scanRef string) (idenfy.StatusResponse, error)
}

type deleteOptions struct {
	Job       string
	OlderThan time.Duration
	Now       time.Time
	DryRun    bool
}

type deleteReport struct {
	Deleted int    // deleted at iDenfy by this call and recorded
	Already int    // of Deleted: iDenfy had deleted them already (an earlier, interrupted delete)
	NotYet  int    // refused because the verification is not final or its token still active
	Failed  int    // refused for another reason
	Log     string // the deletions log written
}

// DeletionsLogPath is where the deletions log of a job is, relative to the
// export destination: outside every partition, and not *.parquet, so no
// reader of the export picks it up.
func deletionsLogPath(job string) string { return "_deletions/job=" + job + "/deletions.csv" }

// deleteVerifications deletes at iDenfy the records of o.Job that are final,
// exported, not deleted yet, and whose result (or, without one, export) is
// older than o.OlderThan; each deletion is recorded in the Store
// (deleted_at) as soon as iDenfy confirms it. Idempotent: a deletion that
// iDenfy refuses because it already happened (the Store write was lost to a
// crash) is recognised by /status (DELETED, EXPIRED-DELETED) and recorded. A
// refusal because the verification is not final yet, or its token still
// active (PARTNER_ERROR), leaves the record for the next run. Every API
// call goes through the client's limiter. At the end the job's deletions
// log is rewritten from the Store (all deleted records, so it heals itself
// after a crash).
func deleteVerifications(ctx context.Context, st pipeline.Store, api deleteAPI, dest export.Destination, o deleteOptions, log *slog.Logger) (deleteReport, error) {
	var rep deleteReport
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
					log.Info("not deletable yet", "record", rec.ID, "scan_ref", rec.ScanRef, "reason", ae.Message)
					continue
				default:
					rep.Failed++
					log.Warn("delete refused", "record", rec.ID, "scan_ref", rec.ScanRef, "http_status", ae.HTTPStatus, "identifier", ae.Identifier, "message", ae.Message)
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
	rel := deletionsLogPath(o.Job)
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
func writeDeletionsLog(ctx context.Context, st pipeline.Store, dest export.Destination, job, rel string) error {
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
