package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

// runStatus prints counts per state, overdue results, orphans, the
// account's API budget (on a shared Store), workers and the last runs.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("status", stderr, &cf)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	nRuns := fs.Int("runs", 5, "how many of the last runs to show")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	if cfg.Job == "" {
		return fmt.Errorf("job: is required")
	}
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.ExistingStore})
	if err != nil {
		return err
	}
	defer deps.Close()
	s, err := pipeline.CollectStatus(ctx, deps.Store, pipeline.StatusQuery{Job: cfg.Job, Now: time.Now().UTC(), PollAfter: cfg.Results.PollAfter, Runs: *nRuns,
		Budget: setup.APIBudget(cfg)})
	if err != nil {
		return err
	}
	s.Store = config.RedactDSN(cfg.Store)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	report.WriteStatus(stdout, s)
	return nil
}
