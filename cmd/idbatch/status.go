package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runStatus prints counts per state, overdue results, orphans and the last runs.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var cf commonFlags
	fs := newFlagSet("status", stderr, &cf)
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
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return exitFatal, err
	}
	defer st.Close()
	counts, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return exitFatal, err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job %s\n\nstate\trecords\n", cfg.Job)
	total := 0
	for _, s := range pipeline.AllStates {
		fmt.Fprintf(tw, "%s\t%d\n", s, counts[s])
		total += counts[s]
	}
	fmt.Fprintf(tw, "total\t%d\n", total)
	_ = tw.Flush()

	overdue, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateSubmitted}, SubmittedBefore: time.Now().Add(-cfg.Results.PollAfter), Limit: 1000})
	if err != nil {
		return exitFatal, err
	}
	fmt.Fprintf(stdout, "\noverdue results (submitted more than %s ago): %d%s\n", cfg.Results.PollAfter, len(overdue), more(len(overdue), 1000))
	orphans, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateOrphan}, Limit: 20})
	if err != nil {
		return exitFatal, err
	}
	if len(orphans) > 0 {
		fmt.Fprintf(stdout, "\npossible orphan tokens (a token may exist at iDenfy; it expires unused and its callback adopts the record):\n")
		for _, o := range orphans {
			fmt.Fprintf(stdout, "  record %d  ref %s  intent %s\n", o.ID, o.Ref, o.IntentAt.UTC().Format(time.RFC3339))
		}
	}
	runs, err := st.Runs(ctx, cfg.Job, 5)
	if err != nil {
		return exitFatal, err
	}
	if len(runs) > 0 {
		fmt.Fprintf(stdout, "\nlast runs:\n")
		tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "run\tcommand\tstarted\tduration\texit\n")
		for _, r := range runs {
			dur := "running or killed"
			exit := "—"
			if !r.FinishedAt.IsZero() {
				dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
				exit = fmt.Sprint(r.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Command, r.StartedAt.UTC().Format(time.RFC3339), dur, exit)
		}
		_ = tw.Flush()
	}
	return exitOK, nil
}

func more(n, limit int) string {
	if n >= limit {
		return "+"
	}
	return ""
}
