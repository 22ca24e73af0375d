package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
)

// runStatus prints counts per state, overdue results, orphans and the last runs.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var cf commonFlags
	fs := newFlagSet("status", stderr, &cf)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	nRuns := fs.Int("runs", 5, "how many of the last runs to show")
	if err := parseFlags(fs, args); err != nil {
		return exitUsage, err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return exitFatal, err
	}
	if cfg.Job == "" {
		return exitFatal, fmt.Errorf("job: is required")
	}
	st, err := openExistingStore(ctx, cfg.Store)
	if err != nil {
		return exitFatal, err
	}
	defer st.Close()
	s, err := pipeline.CollectStatus(ctx, st, pipeline.StatusQuery{Job: cfg.Job, Now: time.Now().UTC(), PollAfter: cfg.Results.PollAfter, Runs: *nRuns})
	if err != nil {
		return exitFatal, err
	}
	s.Store = redactDSN(cfg.Store)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(s)
	}
	report.WriteStatus(stdout, s)
	return exitOK, nil
}
