package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/term"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
)

// newRunID returns a sortable, unique run id: UTC time and 4 random bytes.
func newRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// loadSource opens the source and streams it into the Store
// (ingest.Load); it returns the load statistics and the Objects to fetch
// images with.
func loadSource(ctx context.Context, cfg config.Config, st pipeline.Store, s3c *s3.Client, log *slog.Logger) (pipeline.LoadStats, *ingest.Objects, error) {
	src, err := ingest.OpenSource(ctx, cfg.SourceOptions(), s3c)
	if err != nil {
		return pipeline.LoadStats{}, nil, err
	}
	defer src.Close()
	total, err := ingest.Load(ctx, src, st, cfg.Job, time.Now())
	if err != nil {
		return total, nil, err
	}
	log.Info("manifest loaded", "inserted", total.Inserted, "updated", total.Updated, "unchanged", total.Unchanged, "kept", total.Kept)
	return total, src.Objects, nil
}

func normalizeOptions(cfg config.Config) ingest.NormalizeOptions {
	n := cfg.Normalize
	return ingest.NormalizeOptions{MaxSide: n.MaxSide, JPEGQuality: n.JPEGQuality, MaxImageBytes: n.MaxImageBytes, MinSide: n.MinSide, MaxPixels: n.MaxPixels}
}

// preparer adapts ingest.Preparer to pipeline.Preparer.
type preparer struct{ p *ingest.Preparer }

func (a preparer) Prepare(ctx context.Context, rec pipeline.Record) (pipeline.Prepared, error) {
	p, err := a.p.Prepare(ctx, rec)
	if err != nil {
		return pipeline.Prepared{}, err
	}
	return pipeline.Prepared{Images: p.Images, Hashes: p.Hashes, Bytes: p.Bytes}, nil
}

// exporter adapts export.Exporter to pipeline.Exporter.
type exporter struct {
	e  *export.Exporter
	st pipeline.Store
}

func (a exporter) Export(ctx context.Context) (pipeline.ExportReport, error) {
	rep, err := a.e.Export(ctx, a.st)
	return pipeline.ExportReport{Files: rep.Files, Rows: rep.Rows, ByOutcome: rep.ByOutcome}, err
}
