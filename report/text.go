package report

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// The text a run shows while it runs and when it ends: on a terminal, an
// updating progress line and the printed summary; otherwise log lines.

// ProgressEvery is how often ProgressLog logs a run's progress.
const ProgressEvery = 30 * time.Second

// WriteSummary prints a run's summary for people (on stderr): what the
// manifest load did, what this run did, the job's states, what waits and
// until when, what was exported, where the summary and the report are, and
// the exit code with its reason. maxRatio is limits.max_failure_ratio, named
// when the run exited ExitTooManyFailures. It holds counts and reason codes
// only.
func WriteSummary(w io.Writer, s pipeline.Summary, summaryPath, reportPath string, maxRatio float64) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nidbatch: job %s, run %s — %s in %s\n", s.Job, s.RunID, shortVerdict(s.ExitCode), (time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond))
	if s.Load != nil {
		fmt.Fprintf(&b, "  manifest      %d rows: %d new, %d updated, %d unchanged", s.Load.Rows, s.Load.Inserted, s.Load.Updated, s.Load.Unchanged)
		if s.Load.Kept > 0 {
			fmt.Fprintf(&b, ", %d changed rows of submitted records kept as they were", s.Load.Kept)
		}
		b.WriteString("\n")
		if len(s.Load.RejectedBy) > 0 {
			fmt.Fprintf(&b, "  bad rows      %s (rejected without fetching anything)\n", CountsLine(s.Load.RejectedBy))
		}
	}
	fmt.Fprintf(&b, "  this run      %d tokens created, %d submitted, %d rejected, %d failed, %d retried later\n", s.TokensCreated, s.Submitted, s.Rejected, s.Failed, s.Retried)
	if len(s.RejectedBy) > 0 {
		fmt.Fprintf(&b, "  rejected by   %s (images; no API call made)\n", CountsLine(s.RejectedBy))
	}
	if len(s.FailedBy) > 0 {
		fmt.Fprintf(&b, "  failed by     %s\n", CountsLine(s.FailedBy))
	}
	if s.Orphans > 0 {
		fmt.Fprintf(&b, "  orphans       %d possible orphan tokens from an earlier crash (see 'idbatch status')\n", s.Orphans)
	}
	if len(s.States) > 0 {
		m := map[string]int{}
		for k, v := range s.States {
			m[string(k)] = v
		}
		fmt.Fprintf(&b, "  job states    %s\n", CountsLine(m))
	}
	if s.HeldByOthers > 0 {
		fmt.Fprintf(&b, "  untouched     %d records held by another live worker (its leases run until %s at the latest); it finishes them\n", s.HeldByOthers, s.HeldUntil.UTC().Format(time.RFC3339))
	}
	if s.OrphansWaiting > 0 {
		fmt.Fprintf(&b, "  orphans       %d records wait until %s for a token they may have to expire; a run then verifies them with a new token\n", s.OrphansWaiting, s.OrphansRetryAt.UTC().Format(time.RFC3339))
	}
	if s.Parked > 0 {
		fmt.Fprintf(&b, "  parked        %d records wait for a retry until %s at the latest\n", s.Parked, s.ParkedUntil.UTC().Format(time.RFC3339))
	}
	if s.Waiting > 0 {
		fmt.Fprintf(&b, "  waiting       %d records await their result; the next run (or 'idbatch serve') collects them\n", s.Waiting)
	}
	fmt.Fprintf(&b, "  exported      %d rows", s.Export.Rows)
	if len(s.Export.ByOutcome) > 0 {
		fmt.Fprintf(&b, " (%s)", CountsLine(s.Export.ByOutcome))
	}
	b.WriteString("\n")
	for _, f := range s.Export.Files {
		fmt.Fprintf(&b, "                %s\n", f)
	}
	if summaryPath != "" {
		fmt.Fprintf(&b, "  summary       %s\n", summaryPath)
	}
	if reportPath != "" {
		fmt.Fprintf(&b, "  report        %s\n", reportPath)
	}
	if s.CapReached {
		b.WriteString("  note          limits.max_submissions reached; the next run continues\n")
	}
	if s.TimeUp {
		b.WriteString("  note          limits.max_duration reached; the next run continues\n")
	}
	if s.ExitCode == pipeline.ExitTooManyFailures {
		fmt.Fprintf(&b, "  note          more than %.0f%% of the records that ended were rejected or failed (exit 3)\n", maxRatio*100)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "  error         %s\n", s.Error)
	}
	fmt.Fprintf(&b, "  exit code     %d\n", s.ExitCode)
	_, _ = w.Write(b.Bytes())
}

// shortVerdict words an exit code for the summary's first line.
func shortVerdict(code int) string {
	switch code {
	case pipeline.ExitOK:
		return "done"
	case pipeline.ExitInterrupted:
		return "interrupted"
	case pipeline.ExitTooManyFailures:
		return "done, too many failures"
	}
	return "failed"
}

// CountsLine renders counts as "a 1, b 2": sorted by key, zeros left out.
func CountsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// ProgressLine draws a run's progress as one updating line on a terminal:
// give Show as pipeline.Runner.Progress, and call Finish at the end.
type ProgressLine struct {
	mu    sync.Mutex
	W     io.Writer // the terminal
	shown bool
}

// Show redraws the line.
func (p *ProgressLine) Show(pr pipeline.Progress) {
	eta := "—"
	rate, d, ok := pr.RateETA()
	if ok {
		eta = d.String()
	}
	p.draw(fmt.Sprintf("%s: %d/%d done (%d submitted, %d rejected, %d failed) · %d final · %d waiting · %.0f rec/h · ETA %s",
		pr.Phase, pr.Done, pr.Total, pr.Submitted, pr.Rejected, pr.Failed, pr.Final, pr.Waiting, rate, eta))
}

// draw replaces the line with s.
func (p *ProgressLine) draw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, "\r\033[K%s", s)
	p.shown = true
}

// Clear erases the line, if one was drawn, so that a message starts on a
// line of its own; the next Show draws it again.
func (p *ProgressLine) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.W, "\r\033[K")
		p.shown = false
	}
}

// Finish ends the line, if one was drawn.
func (p *ProgressLine) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.W)
	}
}

// ProgressLog logs a run's progress every ProgressEvery (and when done) as
// one line "progress" with its counts, rate and ETA: give it as
// pipeline.Runner.Progress when stderr is not a terminal.
func ProgressLog(log *slog.Logger) func(pipeline.Progress) {
	var last time.Time
	return func(p pipeline.Progress) {
		if time.Since(last) < ProgressEvery && p.Phase != "done" {
			return
		}
		last = time.Now()
		attrs := []any{"done", p.Done, "total", p.Total, "submitted", p.Submitted, "rejected", p.Rejected,
			"failed", p.Failed, "final", p.Final, "waiting", p.Waiting, "phase", p.Phase, "elapsed_seconds", int64(p.Elapsed.Seconds())}
		log.Info("progress", rateAttrs(attrs, p.RateETA)...)
	}
}

// rateAttrs appends a progress log line's rate_per_hour and eta_seconds
// (each when known) to attrs.
func rateAttrs(attrs []any, rateETA func() (float64, time.Duration, bool)) []any {
	if rate, eta, ok := rateETA(); rate > 0 {
		attrs = append(attrs, "rate_per_hour", int64(rate))
		if ok {
			attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
		}
	}
	return attrs
}

// FinalSummary shows a run's summary: printed for people on stderr
// (WriteSummary) unless jsonLogs, and then as one JSON log line "summary"
// whose "summary" attribute is the summary JSON (the keys of
// docs/summary.md), at a level that follows the exit code.
func FinalSummary(stderr io.Writer, log *slog.Logger, jsonLogs bool, sum pipeline.Summary, summaryPath, reportPath string, maxRatio float64) {
	if !jsonLogs {
		WriteSummary(stderr, sum, summaryPath, reportPath, maxRatio)
		return
	}
	attrs := []any{"summary", sum, "exit_code", sum.ExitCode}
	if summaryPath != "" {
		attrs = append(attrs, "summary_path", summaryPath)
	}
	if reportPath != "" {
		attrs = append(attrs, "report_path", reportPath)
	}
	log.Log(context.Background(), levelOf(sum.ExitCode), "summary", attrs...)
}

func levelOf(exit int) slog.Level {
	switch exit {
	case pipeline.ExitOK, pipeline.ExitInterrupted:
		return slog.LevelInfo
	case pipeline.ExitTooManyFailures:
		return slog.LevelWarn
	}
	return slog.LevelError
}
