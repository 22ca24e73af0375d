package report

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/ingest"
)

// What `idbatch validate` shows: its progress while it fetches and
// normalizes, and its report at the end.

// CallsPerRecord is what a run spends on a ready record: /token and
// /process.
const CallsPerRecord = 2

// validateRedraw is how often the terminal line of validate is redrawn at
// most (every record would flood a slow terminal).
const validateRedraw = 200 * time.Millisecond

// ValidateProgress shows validate's progress (give Show as
// ingest.ValidateOptions.Progress): on a terminal an updating line, redrawn
// at most every 200 ms and when done; otherwise a log line "validate
// progress" every ProgressEvery (none when validation is done sooner).
type ValidateProgress struct {
	line *ProgressLine // nil: log lines
	log  *slog.Logger

	mu   sync.Mutex
	last time.Time
}

// NewValidateProgress returns the progress of a validation starting now,
// drawn on w when tty (w is a terminal), else logged to log.
func NewValidateProgress(w io.Writer, log *slog.Logger, tty bool) *ValidateProgress {
	p := &ValidateProgress{log: log, last: time.Now()}
	if tty {
		p.line = &ProgressLine{W: w}
	}
	return p
}

// Show shows pr, if it is time to.
func (p *ValidateProgress) Show(pr ingest.ValidateProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	switch {
	case p.line != nil && (now.Sub(p.last) >= validateRedraw || pr.Done == pr.Total):
		p.line.draw(pr.String())
	case p.line == nil && now.Sub(p.last) >= ProgressEvery:
		attrs := []any{"done", pr.Done, "total", pr.Total, "ready", pr.Ready, "rejected", pr.Rejected, "fetch_errors", pr.Infra,
			"elapsed_seconds", int64(pr.Elapsed.Seconds())}
		p.log.Info("validate progress", rateAttrs(attrs, pr.RateETA)...)
	default:
		return
	}
	p.last = now
}

// Clear erases the terminal line, so that a message starts on a line of
// its own.
func (p *ValidateProgress) Clear() {
	if p.line != nil {
		p.line.Clear()
	}
}

// Finish ends the terminal line, if one is drawn.
func (p *ValidateProgress) Finish() {
	if p.line != nil {
		p.line.Finish()
	}
}

// ValidateOptions are the settings validate's report estimates with, and
// what it was asked to do.
type ValidateOptions struct {
	RejectsPath     string        // where the rejected rows were written; "" none
	RequestsPerHour float64       // limits.requests_per_hour
	MaxDuration     time.Duration // limits.max_duration; 0 none
	MaxSubmissions  int           // limits.max_submissions; 0 none
	Sample          int           // -sample: the records validated were a sample of this size; 0 all
	Price           float64       // -price-per-verification; 0 no cost estimate
	// Checks: pre-flight checks follow (validate -check), and they make an
	// API call; the report then does not end with "no API call was made".
	Checks bool
}

// WriteValidate prints validate's report: the records by outcome, the
// rejections by reason and where the rejected rows are, the API calls a run
// needs, how long they take at o.RequestsPerHour, how many max_duration runs
// and max_submissions runs that is, and the cost at o.Price. It holds counts
// and reason codes only.
func WriteValidate(w io.Writer, rep ingest.ValidateReport, o ValidateOptions) {
	rejected := 0
	for _, n := range rep.ByReason {
		rejected += n
	}
	if o.Sample > 0 {
		fmt.Fprintf(w, "a random sample of %d records was validated (-sample); the figures below are for the sample\n", rep.Records)
	}
	fmt.Fprintf(w, "records: %d; ready to submit: %d; rejected: %d; fetch errors: %d\n", rep.Records, rep.Ready, rejected, rep.Infra)
	if rejected > 0 {
		fmt.Fprintln(w, "rejected by reason:")
		keys := make([]string, 0, len(rep.ByReason))
		for k := range rep.ByReason {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-24s %d\n", k, rep.ByReason[k])
		}
		if o.RejectsPath != "" {
			fmt.Fprintf(w, "rejected rows (manifest columns, line, reason; fix them and load the file as a manifest): %s\n", o.RejectsPath)
		}
	}
	perHour := o.RequestsPerHour
	calls := CallsPerRecord * rep.Ready
	dur := time.Duration(float64(calls) / perHour * float64(time.Hour)).Round(time.Second)
	fmt.Fprintf(w, "API calls a run needs: %d (token + process per ready record)\n", calls)
	fmt.Fprintf(w, "time at %.0f requests/hour: %s (%.0f records/hour)\n", perHour, dur, perHour/CallsPerRecord)
	if md := o.MaxDuration; md > 0 && dur > 0 {
		fmt.Fprintf(w, "runs of limits.max_duration %s: %d\n", config.FormatDuration(md), int((dur+md-1)/md))
	}
	if ms := o.MaxSubmissions; ms > 0 && rep.Ready > ms {
		fmt.Fprintf(w, "limits.max_submissions %d: %d runs\n", ms, (rep.Ready+ms-1)/ms)
	}
	if o.Price > 0 {
		fmt.Fprintf(w, "cost at %.2f per verification: %.2f for %d verifications (tokens that expire unused or a resend cost more)\n", o.Price, o.Price*float64(rep.Ready), rep.Ready)
	}
	if !o.Checks {
		fmt.Fprintln(w, "no API call was made")
	}
}
