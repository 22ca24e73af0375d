package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// WriteStatus prints a job's status for people: records by state, awaiting
// export, overdue results, possible orphan tokens (and what happens to
// them), the account's API budget, workers and the last runs. It names
// records by Store id and externalRef only.
func WriteStatus(w io.Writer, s pipeline.Status) {
	fmt.Fprintf(w, "job %s (store %s) at %s\n\n", s.Job, s.Store, s.At.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "state\trecords\n")
	for _, st := range pipeline.AllStates {
		fmt.Fprintf(tw, "%s\t%d\n", st, s.States[string(st)])
	}
	fmt.Fprintf(tw, "total\t%d\n", s.Total)
	_ = tw.Flush()

	fmt.Fprintf(w, "\nawaiting export: %d (ended, not yet in a Parquet file; 'idbatch export' or the next run writes them)\n", s.AwaitingExport)
	fmt.Fprintf(w, "overdue results: %d (submitted more than %s ago, no final result yet; polled sparingly by runs)\n", s.Overdue, s.OverdueAfter)
	if s.OldestOverdue != nil {
		fmt.Fprintf(w, "  oldest submitted %s (%s ago)\n", s.OldestOverdue.Format(time.RFC3339), s.At.Sub(*s.OldestOverdue).Round(time.Second))
	}
	fmt.Fprintf(w, "possible orphan tokens: %d\n", s.States[string(pipeline.StateOrphan)])
	if len(s.Orphans) > 0 {
		fmt.Fprintf(w, "  a /token was in flight when its run died (or its answer was lost): a token may exist at iDenfy. Such a\n"+
			"  record gets no second token while that one may be active; it is verified with a new token at 'retry at'\n"+
			"  (intent + token expiryTime + limits.orphan_margin), or as soon as the token's expiry callback arrives.\n")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  record\texternalRef\tintent\tretry at\n")
		for _, o := range s.Orphans {
			retry := o.RetryAt.Format(time.RFC3339)
			if !o.RetryAt.After(s.At) {
				retry += " (due: the next run)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", o.ID, o.Ref, o.IntentAt.Format(time.RFC3339), retry)
		}
		_ = tw.Flush()
		if n := s.States[string(pipeline.StateOrphan)]; n > len(s.Orphans) {
			fmt.Fprintf(w, "  … and %d more (-json lists the first %d)\n", n-len(s.Orphans), len(s.Orphans))
		}
	}
	if s.Budget != nil {
		writeBudget(w, *s.Budget)
	}
	if len(s.Workers) > 0 {
		fmt.Fprintf(w, "\nworkers:\n")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  worker\tname\thost\tpid\tstate\tlast heartbeat\n")
		for _, wk := range s.Workers {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", wk.ID, wk.Name, wk.Host, wk.PID, wk.State, wk.HeartbeatAt.Format(time.RFC3339))
		}
		_ = tw.Flush()
	}
	if len(s.Runs) == 0 {
		fmt.Fprintf(w, "\nno runs recorded\n")
		return
	}
	fmt.Fprintf(w, "\nlast runs:\n")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\tcommand\tstarted\tduration\texit\tdone\n")
	for _, r := range s.Runs {
		dur, exit := r.State, "—"
		if r.FinishedAt != nil {
			dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
			exit = fmt.Sprint(*r.ExitCode)
		}
		done := ""
		if r.Summary != nil {
			done = fmt.Sprintf("%v tokens, %v submitted, %v rejected, %v failed, %v exported",
				r.Summary["tokens_created"], r.Summary["submitted"], r.Summary["rejected"], r.Summary["failed"], r.Summary["exported_rows"])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Command, r.StartedAt.Format(time.RFC3339), dur, exit, done)
	}
	_ = tw.Flush()
}

// writeBudget prints the account-wide API budget: the rate in force and
// whether the account is paused after a 429.
func writeBudget(w io.Writer, b pipeline.StatusBudget) {
	fmt.Fprintf(w, "\naccount API budget (shared by every worker of this iDenfy account):\n")
	fmt.Fprintf(w, "  configured rate: %.0f requests/hour\n", b.RatePerHour)
	if b.Factor < 1 {
		fmt.Fprintf(w, "  rate in force:   %.0f requests/hour (%s %% of the configured rate, lowered after 429s", b.InForce, percent(b.Factor))
		if b.LoweredUntil != nil {
			fmt.Fprintf(w, " until %s", b.LoweredUntil.Format(time.RFC3339))
		}
		fmt.Fprintf(w, ")\n")
	} else {
		fmt.Fprintf(w, "  rate in force:   %.0f requests/hour (the configured rate)\n", b.InForce)
	}
	if b.LastCut != nil {
		fmt.Fprintf(w, "  last lowered:    %s\n", b.LastCut.Format(time.RFC3339))
	}
	if b.Paused && b.PausedUntil != nil {
		fmt.Fprintf(w, "  paused:          yes, after a 429: no worker calls the API until about %s (%s from now)\n",
			b.PausedUntil.Format(time.RFC3339), max(b.PausedUntil.Sub(b.At).Round(time.Second), time.Second))
	} else {
		fmt.Fprintf(w, "  paused:          no\n")
	}
}

// percent formats a fraction as a percentage with up to one decimal.
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64)
}
