package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// callsPerRecord is what a run spends on a ready record: /token and
// /process.
const callsPerRecord = 2

// validateReport is what a dry run found.
type validateReport struct {
	Records, Ready, Infra int
	ByReason              map[string]int
}

// runValidate is the dry run: read the manifest (or listing), fetch and
// normalize every image as a run would, and report the rejections by
// reason, the API calls a run needs and the time they take at
// limits.requests_per_hour. It makes no API call (no credentials are
// needed) and writes nothing to the Store or to disk.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var cf commonFlags
	fs := newFlagSet("validate", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return exitUsage, err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return exitFatal, err
	}
	if err := cfg.Validate(false); err != nil {
		return exitFatal, err
	}
	s3c, err := s3Client(ctx, cfg)
	if err != nil {
		return exitFatal, err
	}

	src, err := ingest.OpenSource(ctx, cfg.sourceOptions(), s3c)
	if err != nil {
		return exitFatal, err
	}
	defer src.Close()
	objs := src.Objects
	source := func(fn func(pipeline.Record) error) error { return src.Read(cfg.Job, fn) }
	prep := &ingest.Preparer{Objects: objs, Options: normalizeOptions(cfg), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}

	rep, err := validateRecords(ctx, source, prep, max(1, cfg.Normalize.Workers), stderr)
	if err != nil {
		return exitFatal, err
	}
	printValidateReport(stdout, rep, cfg.Limits.RequestsPerHour, cfg.Limits.MaxSubmissions)
	if rep.Infra > 0 {
		return exitFatal, fmt.Errorf("%d records could not be fetched (see above); a run would retry them", rep.Infra)
	}
	return exitOK, nil
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

func printValidateReport(w io.Writer, rep validateReport, perHour float64, maxSubmissions int) {
	rejected := 0
	for _, n := range rep.ByReason {
		rejected += n
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
	}
	calls := callsPerRecord * rep.Ready
	dur := time.Duration(float64(calls) / perHour * float64(time.Hour)).Round(time.Second)
	fmt.Fprintf(w, "API calls a run needs: %d (token + process per ready record)\n", calls)
	fmt.Fprintf(w, "time at %.0f requests/hour: %s (%.0f records/hour)\n", perHour, dur, perHour/callsPerRecord)
	if maxSubmissions > 0 && rep.Ready > maxSubmissions {
		fmt.Fprintf(w, "limits.max_submissions %d: %d runs\n", maxSubmissions, (rep.Ready+maxSubmissions-1)/maxSubmissions)
	}
	fmt.Fprintln(w, "no API call was made")
}
