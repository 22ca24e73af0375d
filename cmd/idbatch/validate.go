package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/preflight"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

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
// needed) and writes nothing to the Store. With -check it then runs the
// pre-flight checks (setup.Deps.Preflight): one /status call that spends
// nothing, the Store inspected, a probe object written to the destination
// and deleted, the webhook settings.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("validate", stderr, &cf)
	rejects := fs.String("rejects", "", "write the rejected rows here, in the failures.csv shape (default <job>-rejects.csv beside the config; \"-\" for none)")
	sample := fs.Int("sample", 0, "validate a random sample of this many records (0: all)")
	seed := fs.Uint64("seed", 1, "the sample's seed: the same seed picks the same records")
	price := fs.Float64("price-per-verification", 0, "estimate the cost at this price per verification (your contract's)")
	check := fs.Bool("check", false, "also check the credentials (one /status call, nothing spent), the Store, the export destination (write and delete a probe object) and the webhook settings")
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
	if err := cfg.Validate(*check); err != nil { // the checks need the credentials
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
	read := func(fn func(pipeline.Record) error) error { return src.Read(cfg.Job, fn) }
	total := *sample
	if total > 0 {
		read = ingest.Sample(read, *sample, *seed)
	} else if total, err = ingest.CountSource(ctx, cfg.SourceOptions(), deps.S3, cfg.Job); err != nil {
		return err
	}
	prep := &ingest.Preparer{Objects: src.Objects, Options: cfg.NormalizeOptions(), MaxRequestBytes: cfg.Normalize.MaxRequestBytes}
	prog := report.NewValidateProgress(stderr, setup.Logger(cfg.Log, stderr, true), setup.IsTerminal(stderr))
	rep, err := ingest.ValidateRecords(ctx, read, prep, ingest.ValidateOptions{Workers: cfg.Normalize.Workers, Total: total,
		Progress: prog.Show, FetchError: func(where string, err error) { prog.Clear(); fmt.Fprintf(stderr, "%s: %v\n", where, err) }})
	prog.Finish()
	if err != nil {
		return err
	}
	opts := report.ValidateOptions{RequestsPerHour: cfg.Limits.RequestsPerHour, MaxDuration: cfg.Limits.MaxDuration,
		MaxSubmissions: cfg.Limits.MaxSubmissions, Sample: *sample, Price: *price, Checks: *check}
	if path := rejectsPath(*rejects, cf.config, cfg.Job); path != "" && len(rep.Rejected) > 0 {
		if err := writeRejects(path, rep.Rejected); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		opts.RejectsPath = path
	}
	report.WriteValidate(stdout, rep, opts)
	var errs []error
	if rep.Infra > 0 {
		errs = append(errs, fmt.Errorf("%d records could not be fetched (see above); a run would retry them", rep.Infra))
	}
	if *check {
		fmt.Fprintln(stdout, "\npre-flight:")
		rs := deps.Preflight(ctx)
		preflight.Print(stdout, rs...)
		errs = append(errs, preflight.Err(rs...))
	}
	return errors.Join(errs...)
}
