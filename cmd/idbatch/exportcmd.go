package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/idbatch/idbatch/export"
)

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
