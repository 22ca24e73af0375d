package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/setup"
)

// statusListCap bounds how many records status reads to count overdue
// results and records awaiting export; more shows as "N+".
const statusListCap = 10000

// Status is what `idbatch status` reports (also as JSON with -json). It
// names records by Store id and externalRef only: no personal data.
type Status struct {
	Job            string         `json:"job"`
	Store          string         `json:"store"` // DSN, password redacted
	At             time.Time      `json:"at"`
	States         map[string]int `json:"states"`
	Total          int            `json:"total"`
	AwaitingExport int            `json:"awaiting_export"` // ended, not yet in a Parquet file
	Overdue        int            `json:"overdue_results"` // submitted more than PollAfter ago, no final result
	OverdueAfter   string         `json:"overdue_after"`   // results.poll_after
	OldestOverdue  *time.Time     `json:"oldest_overdue_submitted_at,omitempty"`
	Capped         bool           `json:"counts_capped,omitempty"` // overdue or awaiting_export reached the cap
	Orphans        []StatusRecord `json:"orphans"`                 // possible orphan tokens (first 50)
	Workers        []StatusWorker `json:"workers"`                 // the job's workers, newest first (at most 20)
	Runs           []StatusRun    `json:"last_runs"`
}

// StatusWorker is one registered worker and whether it is alive.
type StatusWorker struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Host        string     `json:"host"`
	PID         int        `json:"pid"`
	Command     string     `json:"command"`
	StartedAt   time.Time  `json:"started_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`
	State       string     `json:"state"` // alive, stopped, dead (heartbeat stale)
}

// StatusRecord names a record without personal data.
type StatusRecord struct {
	ID        int64     `json:"id"`
	Ref       string    `json:"external_ref"`
	IntentAt  time.Time `json:"intent_at"`
	RetryAt   time.Time `json:"retry_at"` // when it gets a new token, unless its expiry callback comes first
	ErrorCode string    `json:"error_code,omitempty"`
}

// StatusRun is one recorded run.
type StatusRun struct {
	ID         string         `json:"id"`
	Command    string         `json:"command"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"` // nil: running, or killed
	State      string         `json:"state"`                 // finished, running, killed
	ExitCode   *int           `json:"exit_code,omitempty"`
	Summary    map[string]any `json:"summary,omitempty"` // submitted, exported rows, … from the run's summary
}

// runStatus prints counts per state, overdue results, orphans and the last runs.
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
	s, err := collectStatus(ctx, deps.Store, cfg, time.Now().UTC(), *nRuns)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printStatus(stdout, s)
	return nil
}

func collectStatus(ctx context.Context, st pipeline.Store, cfg config.Config, now time.Time, nRuns int) (Status, error) {
	s := Status{Job: cfg.Job, Store: config.RedactDSN(cfg.Store), At: now, States: map[string]int{}, OverdueAfter: cfg.Results.PollAfter.String(),
		Orphans: []StatusRecord{}, Workers: []StatusWorker{}, Runs: []StatusRun{}}
	counts, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return s, err
	}
	for _, state := range pipeline.AllStates {
		s.States[string(state)] = counts[state]
		s.Total += counts[state]
	}
	if counts[pipeline.StateSubmitted] > 0 {
		overdue, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateSubmitted},
			SubmittedBefore: now.Add(-cfg.Results.PollAfter), Limit: statusListCap})
		if err != nil {
			return s, err
		}
		s.Overdue = len(overdue)
		s.Capped = s.Capped || len(overdue) >= statusListCap
		for _, r := range overdue {
			if s.OldestOverdue == nil || r.SubmittedAt.Before(*s.OldestOverdue) {
				t := r.SubmittedAt
				s.OldestOverdue = &t
			}
		}
	}
	waiting, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed},
		NotExported: true, Limit: statusListCap})
	if err != nil {
		return s, err
	}
	s.AwaitingExport = len(waiting)
	s.Capped = s.Capped || len(waiting) >= statusListCap
	if counts[pipeline.StateOrphan] > 0 {
		orphans, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateOrphan}, Limit: 50})
		if err != nil {
			return s, err
		}
		for _, o := range orphans {
			s.Orphans = append(s.Orphans, StatusRecord{ID: o.ID, Ref: o.Ref, IntentAt: o.IntentAt, RetryAt: o.NotBefore, ErrorCode: o.ErrorCode})
		}
	}
	workers, err := st.Workers(ctx, cfg.Job, 20)
	if err != nil {
		return s, err
	}
	alive := map[string]bool{} // run ID → its worker is alive
	for _, w := range workers {
		sw := StatusWorker{ID: w.ID, Name: w.Name, Host: w.Host, PID: w.PID, Command: w.Command, StartedAt: w.StartedAt, HeartbeatAt: w.HeartbeatAt, State: "alive"}
		switch {
		case !w.StoppedAt.IsZero():
			t := w.StoppedAt
			sw.StoppedAt, sw.State = &t, "stopped"
		case !w.Alive(now, pipeline.WorkerTimeout):
			sw.State = "dead"
		default:
			alive[w.RunID] = true
		}
		s.Workers = append(s.Workers, sw)
	}
	runs, err := st.Runs(ctx, cfg.Job, nRuns)
	if err != nil {
		return s, err
	}
	for _, r := range runs {
		sr := StatusRun{ID: r.ID, Command: r.Command, StartedAt: r.StartedAt, State: "finished"}
		if !r.FinishedAt.IsZero() {
			f, c := r.FinishedAt, r.ExitCode
			sr.FinishedAt, sr.ExitCode = &f, &c
		} else if alive[r.ID] {
			sr.State = "running"
		} else {
			sr.State = "killed"
		}
		var sum pipeline.Summary
		if len(r.Summary) > 0 && json.Unmarshal(r.Summary, &sum) == nil {
			sr.Summary = map[string]any{"tokens_created": sum.TokensCreated, "submitted": sum.Submitted, "rejected": sum.Rejected,
				"failed": sum.Failed, "exported_rows": sum.Export.Rows, "orphans_found": sum.Orphans}
			if sum.Error != "" {
				sr.Summary["error"] = sum.Error
			}
		}
		s.Runs = append(s.Runs, sr)
	}
	return s, nil
}

func printStatus(w io.Writer, s Status) {
	plus := func(n int) string {
		if s.Capped && n >= statusListCap {
			return fmt.Sprintf("%d+", n)
		}
		return fmt.Sprint(n)
	}
	fmt.Fprintf(w, "job %s (store %s) at %s\n\n", s.Job, s.Store, s.At.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "state\trecords\n")
	for _, st := range pipeline.AllStates {
		fmt.Fprintf(tw, "%s\t%d\n", st, s.States[string(st)])
	}
	fmt.Fprintf(tw, "total\t%d\n", s.Total)
	_ = tw.Flush()

	fmt.Fprintf(w, "\nawaiting export: %s (ended, not yet in a Parquet file; 'idbatch export' or the next run writes them)\n", plus(s.AwaitingExport))
	fmt.Fprintf(w, "overdue results: %s (submitted more than %s ago, no final result yet; polled sparingly by runs)\n", plus(s.Overdue), s.OverdueAfter)
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
