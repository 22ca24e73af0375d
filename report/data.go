package report

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// Minute is one minute of API traffic, as a run records it in its summary
// under Extra["api_per_minute"].
type Minute struct {
	Start     time.Time      `json:"minute"`              // the minute's start, UTC
	Requests  int            `json:"requests"`            // HTTP requests sent to iDenfy (every endpoint)
	Throttled int            `json:"throttled,omitempty"` // of which answered 429
	Errors    map[string]int `json:"errors,omitempty"`    // failed requests by kind: throttled, server, client, network
}

// ExtraAPIPerMinute is the Summary.Extra key of the []Minute series.
const ExtraAPIPerMinute = "api_per_minute"

// Source is what the report reads from the Store.
type Source interface {
	List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error)
	Counts(ctx context.Context, job string) (map[pipeline.State]int, error)
	Runs(ctx context.Context, job string, n int) ([]pipeline.Run, error)
}

// Options are what the report needs beyond the Store and the summary.
type Options struct {
	// RequestsPerHour is the configured limit (limits.requests_per_hour),
	// drawn against the achieved rate; 0 draws no limit.
	RequestsPerHour float64
	// Destination is the export root (as printed: a path or s3:// URI),
	// for the failures.csv location.
	Destination string
	// Now is when the report is made (time.Now when zero).
	Now time.Time
}

// Report is everything one report file shows, gathered before rendering.
type Report struct {
	Job       string
	RunID     string // "" for the job report
	Generated time.Time
	Summary   *pipeline.Summary // the run's (run report)
	Runs      []RunRow          // every run of the job, newest first (job report)

	States      map[pipeline.State]int // the job now, per state
	Outcomes    map[string]int         // records by outcome
	Reasons     map[string]int         // "rejected: <reason>" / "failed: <code>"
	Failures    string                 // where the failures.csv files are
	APIMinutes  []Minute               // per-minute requests (run report)
	APIFromRecs bool                   // APIMinutes derived from submitted_at (submissions, not requests)
	LimitPerMin float64
	Throttled   int            // 429 answers
	ErrorsBy    map[string]int // failed API requests by kind
	Latencies   []time.Duration
	Pending     int // submitted, no final result yet (among the records considered)

	Orphans      int // possible orphans found in the run (run report)
	OrphansNow   int // records in state orphan now
	Tokens       int // tokens created (run, or every run of the job)
	Verification int // uploads accepted (/process 200)
	Remaining    int // records not yet submitted (pending)
	Waiting      int // submitted, waiting for a result
	HoursLeft    float64
}

// RunRow is one run in the job report.
type RunRow struct {
	ID        string
	Command   string
	Started   time.Time
	Duration  time.Duration
	ExitCode  int
	Finished  bool
	Tokens    int
	Submitted int
	Exported  int
	Rejected  int
	Failed    int
}

// ForRun gathers the report of the run that sum summarizes.
func ForRun(ctx context.Context, src Source, sum pipeline.Summary, o Options) (*Report, error) {
	r := newReport(sum.Job, o)
	r.RunID = sum.RunID
	r.Summary = &sum
	for k, v := range sum.Export.ByOutcome {
		r.Outcomes[k] += v
	}
	for k, v := range sum.RejectedBy {
		r.Reasons["rejected: "+k] += v
	}
	if sum.Load != nil {
		for k, v := range sum.Load.RejectedBy {
			r.Reasons["rejected: "+k] += v
		}
	}
	for k, v := range sum.FailedBy {
		r.Reasons["failed: "+k] += v
	}
	for _, f := range sum.Export.Files {
		if strings.HasSuffix(f, ".csv") {
			r.Failures = f
		}
	}
	r.Orphans = sum.Orphans
	r.Tokens, r.Verification = sum.TokensCreated, sum.Submitted

	r.APIMinutes = minutesOf(sum.Extra)
	api := limiterOf(sum.Extra)
	r.Throttled = int(api.Throttled)
	for _, m := range r.APIMinutes {
		for k, v := range m.Errors {
			r.ErrorsBy[k] += v
		}
	}
	if n := r.ErrorsBy["throttled"]; n > r.Throttled {
		r.Throttled = n
	}
	if r.Throttled > 0 {
		r.ErrorsBy["throttled"] = r.Throttled
	}

	from, to := sum.StartedAt, sum.FinishedAt
	if to.IsZero() {
		to = r.Generated
	}
	perMin := map[time.Time]int{}
	err := scan(ctx, src, sum.Job, func(rec pipeline.Record) {
		if rec.SubmittedAt.IsZero() || rec.SubmittedAt.Before(from) || rec.SubmittedAt.After(to) {
			return
		}
		perMin[rec.SubmittedAt.UTC().Truncate(time.Minute)]++
		r.addLatency(rec)
	})
	if err != nil {
		return nil, err
	}
	if len(r.APIMinutes) == 0 && len(perMin) > 0 {
		r.APIFromRecs = true
		r.APIMinutes = fill(perMin)
	}
	return r, r.finish(ctx, src)
}

// ForJob gathers the report of job across all its runs.
func ForJob(ctx context.Context, src Source, job string, o Options) (*Report, error) {
	r := newReport(job, o)
	runs, err := src.Runs(ctx, job, 0)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	for _, run := range runs {
		row := RunRow{ID: run.ID, Command: run.Command, Started: run.StartedAt, ExitCode: run.ExitCode, Finished: !run.FinishedAt.IsZero()}
		if row.Finished {
			row.Duration = run.FinishedAt.Sub(run.StartedAt)
		}
		var s pipeline.Summary
		if len(run.Summary) > 0 && json.Unmarshal(run.Summary, &s) == nil {
			row.Tokens, row.Submitted, row.Exported = s.TokensCreated, s.Submitted, s.Export.Rows
			row.Rejected, row.Failed = s.Rejected, s.Failed
			r.Orphans += s.Orphans
			r.Throttled += int(limiterOf(s.Extra).Throttled)
			for _, m := range minutesOf(s.Extra) {
				for k, v := range m.Errors {
					if k != "throttled" {
						r.ErrorsBy[k] += v
					}
				}
			}
		}
		r.Tokens += row.Tokens
		r.Verification += row.Submitted
		r.Runs = append(r.Runs, row)
	}
	if r.Throttled > 0 {
		r.ErrorsBy["throttled"] = r.Throttled
	}
	err = scan(ctx, src, job, func(rec pipeline.Record) {
		if rec.State.End() {
			if o := string(rec.Outcome); o != "" {
				r.Outcomes[o]++
			}
		}
		switch {
		case rec.State == pipeline.StateRejected:
			r.Reasons["rejected: "+orNone(rec.RejectReason)]++
		case rec.State == pipeline.StateFailed:
			r.Reasons["failed: "+orNone(rec.ErrorCode)]++
		}
		r.addLatency(rec)
	})
	if err != nil {
		return nil, err
	}
	return r, r.finish(ctx, src)
}

func newReport(job string, o Options) *Report {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &Report{Job: job, Generated: now.UTC(), Outcomes: map[string]int{}, Reasons: map[string]int{}, ErrorsBy: map[string]int{},
		LimitPerMin: o.RequestsPerHour / 60}
	if o.Destination != "" {
		r.Failures = strings.TrimSuffix(o.Destination, "/") + "/job=" + job + "/_failures/"
	}
	return r
}

// addLatency counts a submitted record: the time to its final result, or
// pending.
func (r *Report) addLatency(rec pipeline.Record) {
	if rec.SubmittedAt.IsZero() {
		return
	}
	if rec.State == pipeline.StateFinal && !rec.ResultAt.IsZero() && rec.ResultAt.After(rec.SubmittedAt) {
		r.Latencies = append(r.Latencies, rec.ResultAt.Sub(rec.SubmittedAt))
		return
	}
	if rec.State == pipeline.StateSubmitted {
		r.Pending++
	}
}

// finish reads the job's state counts and estimates what remains.
func (r *Report) finish(ctx context.Context, src Source) error {
	counts, err := src.Counts(ctx, r.Job)
	if err != nil {
		return fmt.Errorf("counts: %w", err)
	}
	r.States = counts
	r.OrphansNow = counts[pipeline.StateOrphan]
	r.Remaining = counts[pipeline.StatePending]
	r.Waiting = counts[pipeline.StateSubmitted]
	if r.LimitPerMin > 0 {
		// Each remaining record costs at least two requests (token, process).
		r.HoursLeft = float64(2*r.Remaining) / (r.LimitPerMin * 60)
	}
	slices.Sort(r.Latencies)
	return nil
}

// scan pages through every record of job.
func scan(ctx context.Context, src Source, job string, f func(pipeline.Record)) error {
	var after int64
	for {
		recs, err := src.List(ctx, pipeline.ListQuery{Job: job, AfterID: after, Limit: 2000})
		if err != nil {
			return fmt.Errorf("list records: %w", err)
		}
		for _, rec := range recs {
			f(rec)
		}
		if len(recs) < 2000 {
			return nil
		}
		after = recs[len(recs)-1].ID
	}
}

// minutesOf reads the per-minute series from a summary's Extra, as stored
// (decoded JSON) or as the run put it there ([]Minute).
func minutesOf(extra map[string]any) []Minute {
	v, ok := extra[ExtraAPIPerMinute]
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var ms []Minute
	if json.Unmarshal(b, &ms) != nil {
		return nil
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Start.Before(ms[j].Start) })
	return ms
}

// limiterStats is the part of the limiter's stats (Extra["api"]) the report shows.
type limiterStats struct {
	Throttled int64   `json:"throttled"`
	RatePerH  float64 `json:"rate_per_hour"`
}

func limiterOf(extra map[string]any) limiterStats {
	var s limiterStats
	if v, ok := extra["api"]; ok {
		if b, err := json.Marshal(v); err == nil {
			_ = json.Unmarshal(b, &s)
		}
	}
	return s
}

// fill turns per-minute counts into a series without gaps.
func fill(perMin map[time.Time]int) []Minute {
	keys := make([]time.Time, 0, len(perMin))
	for k := range perMin {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b time.Time) int { return a.Compare(b) })
	var out []Minute
	for t := keys[0]; !t.After(keys[len(keys)-1]); t = t.Add(time.Minute) {
		out = append(out, Minute{Start: t, Requests: perMin[t]})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unspecified"
	}
	return s
}
