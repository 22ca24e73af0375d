package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/setup"
)

// runDelete deletes at iDenfy (/api/v2/delete) the exported, final
// verifications whose result is older than -older-than, records deleted_at
// in the Store, and rewrites the job's deletions log beside the export (see
// results.Delete).
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
	rep, err := results.Delete(ctx, deps.Store, deps.API(setup.APIOptions{}), deps.Dest, results.DeleteOptions{Job: cfg.Job, OlderThan: age, Now: time.Now(), DryRun: *dryRun}, log)
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
