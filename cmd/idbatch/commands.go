package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// runSandbox runs the iDenfy sandbox standalone until interrupted.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("sandbox", stderr, nil)
	addr := fs.String("addr", "127.0.0.1:8099", "address to listen on")
	key := fs.String("api-key", "sandbox-key", "API key the sandbox accepts")
	secret := fs.String("api-secret", "sandbox-secret", "API secret the sandbox accepts")
	signing := fs.String("signing-key", "sandbox-signing-key", "webhook signing key")
	webhook := fs.String("webhook-url", "", "where to deliver webhooks (empty: none; polling only)")
	manual := fs.Bool("manual-review", true, "send an automatic (final:false) then a manual (final:true) callback")
	autoDelay := fs.Duration("auto-delay", 2*time.Second, "delay of the automatic callback after /process")
	manualDelay := fs.Duration("manual-delay", 10*time.Second, "delay of the manual callback after /process")
	if err := parseFlags(fs, args); err != nil {
		return exitUsage, err
	}
	srv := idenfytest.New(idenfytest.Options{APIKey: *key, APISecret: *secret, SigningKey: *signing, WebhookURL: *webhook,
		ManualReview: *manual, AutoDelay: *autoDelay, ManualDelay: *manualDelay, Logger: newLogger(LogConfig{Level: "info", Format: "auto"}, stderr, false)})
	base, err := srv.Start(*addr)
	if err != nil {
		return exitFatal, err
	}
	fmt.Fprintf(stdout, "iDenfy sandbox listening on %s (api key %q); Ctrl-C to stop\n", base, *key)
	<-ctx.Done()
	_ = srv.Close()
	c := srv.Charges()
	fmt.Fprintf(stdout, "sandbox stopped: %d tokens created, %d processes accepted\n", c.TokensCreated, c.ProcessesAccepted)
	return exitOK, nil
}

// runStatus prints counts per state, overdue results, orphans and the last runs.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var cf commonFlags
	fs := newFlagSet("status", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return exitUsage, err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return exitFatal, err
	}
	if cfg.Job == "" {
		return exitFatal, fmt.Errorf("job: is required")
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return exitFatal, err
	}
	defer st.Close()
	counts, err := st.Counts(ctx, cfg.Job)
	if err != nil {
		return exitFatal, err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job %s\n\nstate\trecords\n", cfg.Job)
	total := 0
	for _, s := range pipeline.AllStates {
		fmt.Fprintf(tw, "%s\t%d\n", s, counts[s])
		total += counts[s]
	}
	fmt.Fprintf(tw, "total\t%d\n", total)
	_ = tw.Flush()

	overdue, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateSubmitted}, SubmittedBefore: time.Now().Add(-cfg.Results.PollAfter), Limit: 1000})
	if err != nil {
		return exitFatal, err
	}
	fmt.Fprintf(stdout, "\noverdue results (submitted more than %s ago): %d%s\n", cfg.Results.PollAfter, len(overdue), more(len(overdue), 1000))
	orphans, err := st.List(ctx, pipeline.ListQuery{Job: cfg.Job, States: []pipeline.State{pipeline.StateOrphan}, Limit: 20})
	if err != nil {
		return exitFatal, err
	}
	if len(orphans) > 0 {
		fmt.Fprintf(stdout, "\npossible orphan tokens (a token may exist at iDenfy; it expires unused and its callback adopts the record):\n")
		for _, o := range orphans {
			fmt.Fprintf(stdout, "  record %d  ref %s  intent %s\n", o.ID, o.Ref, o.IntentAt.UTC().Format(time.RFC3339))
		}
	}
	runs, err := st.Runs(ctx, cfg.Job, 5)
	if err != nil {
		return exitFatal, err
	}
	if len(runs) > 0 {
		fmt.Fprintf(stdout, "\nlast runs:\n")
		tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "run\tcommand\tstarted\tduration\texit\n")
		for _, r := range runs {
			dur := "running or killed"
			exit := "—"
			if !r.FinishedAt.IsZero() {
				dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
				exit = fmt.Sprint(r.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Command, r.StartedAt.UTC().Format(time.RFC3339), dur, exit)
		}
		_ = tw.Flush()
	}
	return exitOK, nil
}

func more(n, limit int) string {
	if n >= limit {
		return "+"
	}
	return ""
}

// runExport exports end-state records not yet exported.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var cf commonFlags
	fs := newFlagSet("export", stderr, &cf)
	if err := parseFlags(fs, args); err != nil {
		return exitUsage, err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return exitFatal, err
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return exitFatal, err
	}
	defer st.Close()
	s3c, err := s3Client(ctx, cfg)
	if err != nil {
		return exitFatal, err
	}
	dest, err := export.OpenDestination(ctx, cfg.Export.Destination, s3c)
	if err != nil {
		return exitFatal, err
	}
	runID := newRunID(time.Now())
	exp := &export.Exporter{Dest: dest, Job: cfg.Job, RunID: runID, Worker: "w0", Compression: cfg.Export.Compression}
	rep, err := exp.Export(ctx, st)
	if err != nil {
		return exitFatal, err
	}
	fmt.Fprintf(stdout, "exported %d rows (%s)\n", rep.Rows, countsLine(rep.ByOutcome))
	for _, f := range rep.Files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return exitOK, nil
}

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
