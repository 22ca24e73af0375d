package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/report"
	"github.com/idbatch/idbatch/setup"
)

// runExport exports end-state records not yet exported; with -compact it
// then merges the small part files of past partitions.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cf commonFlags
	fs := newFlagSet("export", stderr, &cf)
	compact := fs.Bool("compact", false, "then merge the small part files of each past partition into one (atomic; see docs/analysts.md)")
	worker := addWorkerFlag(fs)
	threshold := fs.Int("compact-threshold", export.DefaultCompactThreshold, "compact a partition holding more than this many small part files")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf)
	if err != nil {
		return err
	}
	deps, err := setup.Open(ctx, cfg, setup.Options{Store: setup.ExistingStore, Destination: true})
	if err != nil {
		return err
	}
	defer deps.Close()
	st := deps.Store
	runID := setup.NewRunID(time.Now())
	exp := &export.Exporter{Dest: deps.Dest, Job: cfg.Job, RunID: runID, Worker: worker.label(), Compression: cfg.Export.Compression,
		Lock: st, LockTTL: setup.ExportLockTTL(cfg), Log: setup.Logger(cfg.Log, stderr, false).With("job", cfg.Job, "worker", worker.label())}
	rep, err := exp.Export(ctx, st)
	if rep.Recovered > 0 {
		fmt.Fprintf(stdout, "marked %d records of an interrupted export as exported (their file was committed)\n", rep.Recovered)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d rows (%s)\n", rep.Rows, report.CountsLine(rep.ByOutcome))
	for _, f := range rep.Files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	if rep.Failures != "" {
		fmt.Fprintf(stdout, "rejected and failed records: %s\n", rep.Failures)
	}
	if *compact {
		crep, err := exp.Compact(ctx, export.CompactOptions{Threshold: *threshold})
		for i, p := range crep.Partitions {
			fmt.Fprintf(stdout, "compacted %s into %s\n", p, crep.Files[i])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "compaction: %d partitions, %d files merged, %d rows\n", len(crep.Partitions), crep.Merged, crep.Rows)
	}
	return nil
}
