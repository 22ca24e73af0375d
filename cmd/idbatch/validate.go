package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/setup"
)

// callsPerRecord is what a run spends on a ready record: /token and
// /process.
const callsPerRecord = 2

// validateReport is what a dry run found.
type validateReport struct {
	Records, Ready, Infra int
	ByReason              map[string]int
	Rejected              []pipeline.Record // the rejected rows, for the rejects CSV
	RejectsPath           string
}

// sampled wraps source so that it yields a random sample of n records
// (reservoir sampling, seeded: the same seed picks the same records of the
// same source), in source order.
func sampled(source func(fn func(pipeline.Record) error) error, n int, seed uint64) func(fn func(pipeline.Record) error) error {
	return func(fn func(pipeline.Record) error) error {
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		type item struct {
			i   int
			rec pipeline.Record
		}
		var keep []item
		i := 0
		err := source(func(rec pipeline.Record) error {
			if len(keep) < n {
				keep = append(keep, item{i, rec})
			} else if j := rng.IntN(i + 1); j < n {
				keep[j] = item{i, rec}
			}
			i++
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(keep, func(a, b item) int { return a.i - b.i })
		for _, it := range keep {
			if err := fn(it.rec); err != nil {
				return err
			}
		}
		return nil
	}
}

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

	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), deps.S3)
	if err != nil {
		return err
	}
	defer src.Close()
	objs := src.Objects
	source := func(fn func(pipeline.Record) error) error { return src.Read(cfg.Job, fn) }
	if *sample > 0 {
		source = sampled(source, *sample, *seed)
	}
	prep := &ingest.Preparer{Objects: objs, Options: cfg.NormalizeOptions(), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}

	rep, err := validateRecords(ctx, source, prep, max(1, cfg.Normalize.Workers), stderr)
	if err != nil {
		return err
	}
	if path := rejectsPath(*rejects, cf.config, cfg.Job); path != "" && len(rep.Rejected) > 0 {
		if err := writeRejects(path, rep.Rejected); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		rep.RejectsPath = path
	}
	printValidateReport(stdout, rep, cfg, *sample, *price)
	if rep.Infra > 0 {
		return fmt.Errorf("%d records could not be fetched (see above); a run would retry them", rep.Infra)
	}
	return nil
}

// validateRecords prepares every record of source with workers
// goroutines. Records the source already rejected are counted, not
// fetched. An infrastructure error is reported on stderr by line (never by
// client id or key) and counted.
func validateRecords(ctx context.Context, source func(fn func(pipeline.Record) error) error, prep *ingest.Preparer, workers int, stderr io.Writer) (validateReport, error) {
	rep := validateReport{ByReason: map[string]int{}}
	var mu sync.Mutex
	tty := isTerminal(stderr)
	count := func(code string, infraErr error, rec pipeline.Record) {
		mu.Lock()
		defer mu.Unlock()
		rep.Records++
		switch {
		case infraErr != nil:
			rep.Infra++
			where := fmt.Sprintf("line %d", rec.Line)
			if rec.Line == 0 {
				where = "record " + pipeline.RefFor(rec.Job, rec.Key)[:12]
			}
			fmt.Fprintf(stderr, "%s: %v\n", where, infraErr)
		case code != "":
			rep.ByReason[code]++
			rep.Rejected = append(rep.Rejected, rec) // rejected, with its reason and detail
		default:
			rep.Ready++
		}
		if tty && rep.Records%100 == 0 {
			fmt.Fprintf(stderr, "\r\033[Kvalidated %d records", rep.Records)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	recs := make(chan pipeline.Record, workers)
	g.Go(func() error {
		defer close(recs)
		return source(func(rec pipeline.Record) error {
			if rec.State == pipeline.StateRejected {
				count(rec.RejectReason, nil, rec)
				return nil
			}
			select {
			case recs <- rec:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	for range workers {
		g.Go(func() error {
			for rec := range recs {
				_, err := prep.Prepare(gctx, rec)
				if err != nil && gctx.Err() != nil {
					return gctx.Err()
				}
				code := pipeline.RejectCode(err)
				if code != "" {
					rec.State, rec.RejectReason, rec.ErrorMessage = pipeline.StateRejected, code, err.Error()
					err = nil
				}
				count(code, err, rec)
			}
			return nil
		})
	}
	err := g.Wait()
	if tty {
		fmt.Fprintln(stderr)
	}
	return rep, err
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
