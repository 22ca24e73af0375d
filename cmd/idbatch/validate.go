package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// runValidate is the dry run: read the manifest, fetch and normalize every
// image, report rejections and the API calls and time a real run would need.
// It makes no API call and writes nothing to the Store.
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
	if cfg.Source.Manifest == "" {
		return exitFatal, fmt.Errorf("validate reads source.manifest; listing sources are validated by 'run'")
	}
	m, err := ingest.OpenManifest(ctx, cfg.Source.Manifest, s3c)
	if err != nil {
		return exitFatal, err
	}
	defer m.Body.Close()
	objs := &ingest.Objects{S3: s3c, BaseBucket: m.BaseBucket, BaseDir: m.BaseDir, MaxBytes: cfg.Source.S3.MaxObjectBytes}
	prep := &ingest.Preparer{Objects: objs, Options: normalizeOptions(cfg), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}
	reasons := map[string]int{}
	var ok, total, infra int
	err = ingest.ReadManifest(m.Body, m.Format, cfg.Job, func(rec pipeline.Record) error {
		total++
		if rec.State == pipeline.StateRejected {
			reasons[rec.RejectReason]++
			return nil
		}
		_, err := prep.Prepare(ctx, rec)
		switch code := pipeline.RejectCode(err); {
		case err == nil:
			ok++
		case code != "":
			reasons[code]++
		default:
			infra++
			fmt.Fprintf(stderr, "line %d: %v\n", rec.Line, err)
		}
		if total%100 == 0 && isTerminal(stderr) {
			fmt.Fprintf(stderr, "\r\033[Kvalidated %d records", total)
		}
		return ctx.Err()
	})
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return exitFatal, err
	}
	calls := 2 * ok
	dur := time.Duration(float64(calls) / cfg.Limits.RequestsPerHour * float64(time.Hour))
	fmt.Fprintf(stdout, "records: %d; ready to submit: %d; rejected: %d; fetch errors: %d\n", total, ok, total-ok-infra, infra)
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-24s %d\n", k, reasons[k])
	}
	fmt.Fprintf(stdout, "API calls a run needs: %d (token + process per record), about %s at %.0f requests/hour\n", calls, dur.Round(time.Second), cfg.Limits.RequestsPerHour)
	if infra > 0 {
		return exitFatal, fmt.Errorf("%d records could not be fetched (see above)", infra)
	}
	return exitOK, nil
}
