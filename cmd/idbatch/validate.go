package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

// callsPerRecord is what a run spends on a ready record: /token and
// /process.
const callsPerRecord = 2

// rejectsPath is where the rejects CSV goes: flag "-" none, a flag value as
// given, else <job>-rejects.csv beside the config file.
func rejectsPath(flag, config, job string) string {
	switch flag {
	case "-":
		return ""
	case "":
		return filepath.Join(filepath.Dir(config), job+"-rejects.csv")
	}
	return flag
}

// writeRejects writes the rejected rows in the failures.csv shape: the
// manifest's columns first (fixed, the file loads again as a manifest),
// then line, state and reject_reason.
func writeRejects(path string, recs []pipeline.Record) error {
	var b bytes.Buffer
	if err := export.WriteFailuresCSV(&b, recs); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// runValidate is the dry run: read the manifest (or listing), fetch and
// normalize every image as a run would, and report the rejections by
// reason, the API calls a run needs and the time they take at
// limits.requests_per_hour. It makes no API call (no credentials are
// needed) and writes nothing to the Store or to disk.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("validate", stderr, &cf)
	rejects := fs.String("rejects", "", "write the rejected rows here, in the failures.csv shape (default <job>-rejects.csv beside the config; \"-\" for none)")
	sample := fs.Int("sample", 0, "validate a random sample of this many records (0: all)")
	seed := fs.Uint64("seed", 1, "the sample's seed: the same seed picks the same records")
	price := fs.Float64("price-per-verification", 0, "estimate the cost at this price per verification (your contract's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sample < 0 || *price < 0 {
		return &usageError{msg: "-sample and -price-per-verification must not be negative"}
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	if err := cfg.Validate(false); err != nil {
		return err
	}
	deps, err := setup.Open(ctx, cfg, setup.Options{S3: true})
	if err != nil {
		return err
	}
	defer deps.Close()
	s3c := deps.S3

	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), s3c)
	if err != nil {
		return err
	}
	defer src.Close()
	read := func(fn func(pipeline.Record) error) error { return src.Read(cfg.Job, fn) }
	if *sample > 0 {
		read = ingest.Sample(read, *sample, *seed)
	}
	prep := &ingest.Preparer{Objects: src.Objects, Options: cfg.NormalizeOptions(), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}
	total, err := countSource(ctx, cfg, s3c, *sample)
	if err != nil {
		return err
	}
	prog := newValidateProgress(stderr, setup.Logger(cfg.Log, stderr, true))
	rep, err := ingest.ValidateRecords(ctx, read, prep, ingest.ValidateOptions{Workers: cfg.Normalize.Workers, Total: total,
		Progress: prog.show, FetchError: func(where string, err error) { prog.clear(); fmt.Fprintf(stderr, "%s: %v\n", where, err) }})
	prog.finish()
	if err != nil {
		return err
	}
	rv := validateReport{ValidateReport: rep}
	if path := rejectsPath(*rejects, cf.config, cfg.Job); path != "" && len(rep.Rejected) > 0 {
		if err := writeRejects(path, rep.Rejected); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		rv.RejectsPath = path
	}
	printValidateReport(stdout, rv, cfg, *sample, *price)
	if rep.Infra > 0 {
		return fmt.Errorf("%d records could not be fetched (see above); a run would retry them", rep.Infra)
	}
	return nil
}

// validateReport is what the dry run found, and where its rejects went.
type validateReport struct {
	ingest.ValidateReport
	RejectsPath string
}

// countSource counts the source's records for the progress line's ETA:
// one more read of the manifest (or listing), nothing fetched. With
// -sample the count is the sample's size.
func countSource(ctx context.Context, cfg config.Config, s3c *s3.Client, sample int) (int, error) {
	if sample > 0 {
		return sample, nil
	}
	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), s3c)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return ingest.CountRecords(func(fn func(pipeline.Record) error) error { return src.Read(cfg.Job, fn) })
}

// validateProgress shows validate's progress on stderr: an updating line
// on a terminal (at most every 200 ms), else a log line every
// report.ProgressEvery (none when validation is done sooner).
type validateProgress struct {
	mu    sync.Mutex
	w     io.Writer
	log   *slog.Logger
	tty   bool
	start time.Time
	last  time.Time
	shown bool
}

func newValidateProgress(stderr io.Writer, log *slog.Logger) *validateProgress {
	now := time.Now()
	return &validateProgress{w: stderr, log: log, tty: isTerminal(stderr), start: now, last: now}
}

func (p *validateProgress) show(pr ingest.ValidateProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	switch {
	case p.tty && (now.Sub(p.last) >= 200*time.Millisecond || pr.Done == pr.Total):
		fmt.Fprintf(p.w, "\r\033[K%s", pr)
		p.shown = true
	case !p.tty && now.Sub(p.last) >= report.ProgressEvery:
		attrs := []any{"done", pr.Done, "total", pr.Total, "ready", pr.Ready, "rejected", pr.Rejected, "fetch_errors", pr.Infra,
			"elapsed_seconds", int64(pr.Elapsed.Seconds())}
		if rate, eta, ok := pr.RateETA(); rate > 0 {
			attrs = append(attrs, "rate_per_hour", int64(rate))
			if ok {
				attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
			}
		}
		p.log.Info("validate progress", attrs...)
	default:
		return
	}
	p.last = now
}

// clear ends the progress line, so that a message starts on its own line.
func (p *validateProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

func (p *validateProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

func printValidateReport(w io.Writer, rep validateReport, cfg config.Config, sample int, price float64) {
	perHour, maxSubmissions := cfg.Limits.RequestsPerHour, cfg.Limits.MaxSubmissions
	rejected := 0
	for _, n := range rep.ByReason {
		rejected += n
	}
	if sample > 0 {
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
		if rep.RejectsPath != "" {
			fmt.Fprintf(w, "rejected rows (manifest columns, line, reason; fix them and load the file as a manifest): %s\n", rep.RejectsPath)
		}
	}
	calls := callsPerRecord * rep.Ready
	dur := time.Duration(float64(calls) / perHour * float64(time.Hour)).Round(time.Second)
	fmt.Fprintf(w, "API calls a run needs: %d (token + process per ready record)\n", calls)
	fmt.Fprintf(w, "time at %.0f requests/hour: %s (%.0f records/hour)\n", perHour, dur, perHour/callsPerRecord)
	if md := cfg.Limits.MaxDuration; md > 0 && dur > 0 {
		fmt.Fprintf(w, "runs of limits.max_duration %s: %d\n", config.FormatDuration(md), int((dur+md-1)/md))
	}
	if maxSubmissions > 0 && rep.Ready > maxSubmissions {
		fmt.Fprintf(w, "limits.max_submissions %d: %d runs\n", maxSubmissions, (rep.Ready+maxSubmissions-1)/maxSubmissions)
	}
	if price > 0 {
		fmt.Fprintf(w, "cost at %.2f per verification: %.2f for %d verifications (tokens that expire unused or a resend cost more)\n", price, price*float64(rep.Ready), rep.Ready)
	}
	fmt.Fprintln(w, "no API call was made")
}
