package export

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/idbatch/idbatch/pipeline"
)

// Source is what the Exporter needs of a pipeline.Store.
type Source interface {
	List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error)
	MarkExported(ctx context.Context, ids []int64, at time.Time) error
}

var _ Source = pipeline.Store(nil)

// Defaults and batch sizes of the Exporter.
const (
	DefaultCompression  = "zstd"
	DefaultRowGroupSize = 128 * 1024
	DefaultWorker       = "0"

	listPageSize = 10000 // records per Source.List call
	writeBatch   = 1000  // rows per parquet Write call
	markBatch    = 1000  // ids per Source.MarkExported call
	// maxRowGroupBytes flushes a row group early when its buffered (not yet
	// compressed) size passes this, so that large raw_result values cannot
	// make a RowGroupSize-row group take gigabytes of memory.
	maxRowGroupBytes = 128 << 20
)

// endStates are the states whose records are exported.
var endStates = []pipeline.State{pipeline.StateFinal, pipeline.StateRejected, pipeline.StateFailed}

// Exporter writes the end-state records of a job not yet exported into one
// Parquet file per call, then marks them exported.
type Exporter struct {
	Dest   Destination
	Job    string
	RunID  string
	Worker string // distinguishes the part files of concurrent workers; default "0"
	// Compression is "zstd" (default), "snappy" or "none".
	Compression string
	// RowGroupSize is the maximum number of rows per row group; default
	// 128Ki. A row group is also cut when it grows past 128 MiB buffered.
	RowGroupSize int
	// Now is the clock; default time.Now. Its UTC date is the dt= partition
	// and its instant the exported_at of every row.
	Now func() time.Time

	// Batch sizes, zero for the defaults; tests make them small.
	pageSize   int   // records per Source.List call (listPageSize)
	markSize   int   // ids per Source.MarkExported call (markBatch)
	groupBytes int64 // buffered bytes that cut a row group (maxRowGroupBytes)
}

// Report tells what an Export did.
type Report struct {
	Files     []string       // committed files, as Destination.Location gives them
	Rows      int            // rows written (and, without error, marked exported)
	ByOutcome map[string]int // rows per outcome
}

// ErrMarkExported wraps a failure to mark records exported after their file
// was committed: the file is there and stays; its rows are exported again by
// the next export (see Export).
var ErrMarkExported = errors.New("export: file committed but records not marked exported")

// Export writes every record of e.Job that is in an end state (final,
// rejected, failed) and not yet exported into one file,
//
//	job=<job>/dt=<YYYY-MM-DD>/part-<run_id>-<worker>.parquet
//
// under e.Dest, commits it, and only then marks those records exported. With
// nothing to export it creates no file and returns an empty Report.
//
// Failure before the commit (listing, writing, uploading, ctx cancelled)
// aborts the file, so nothing appears, and marks nothing: the next export
// writes the same records. Failure after the commit, while marking, returns
// the Report (the file is listed in it) and an error wrapping
// ErrMarkExported; the records not marked are exported again by the next
// export, into another part file.
//
// That is the one window where a record can appear in two files: a crash (or
// a MarkExported failure) between the commit and the end of marking. Export
// is therefore at-least-once; readers that need exactly one row per record
// keep the row with the latest exported_at per (job, client_id, scan_ref).
// Closing the window needs the Store to remember which file a record was
// written to before that file is committed (see the package documentation).
func (e *Exporter) Export(ctx context.Context, st Source) (Report, error) {
	rep := Report{ByOutcome: map[string]int{}}
	if err := e.check(); err != nil {
		return rep, err
	}
	opts, err := e.writerOptions()
	if err != nil {
		return rep, err
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	at := now().UTC().Truncate(time.Microsecond)
	rel := e.partPath(at)
	pageSize := cmpOr(e.pageSize, listPageSize)
	markSize := cmpOr(e.markSize, markBatch)
	groupBytes := cmp.Or(e.groupBytes, maxRowGroupBytes)

	var (
		file File
		w    *parquet.GenericWriter[Row]
		ids  []int64
		rows = make([]Row, 0, writeBatch)
		out  *countingWriter
	)
	// abort discards the file, if any; the error returned is err.
	abort := func(err error) (Report, error) {
		if file != nil {
			if aerr := file.Abort(); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return Report{ByOutcome: map[string]int{}}, err
	}
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if _, err := w.Write(rows); err != nil {
			return fmt.Errorf("export: write %s: %w", rel, err)
		}
		rows = rows[:0]
		// Cut the row group early when what it buffers is large.
		if w.Size()-out.n > groupBytes {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("export: write %s: %w", rel, err)
			}
		}
		return nil
	}

	after := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		prev := after
		recs, err := st.List(ctx, pipeline.ListQuery{
			Job:         e.Job,
			States:      endStates,
			NotExported: true,
			AfterID:     after,
			Limit:       pageSize,
		})
		if err != nil {
			return abort(fmt.Errorf("export: list records of job %s: %w", e.Job, err))
		}
		for _, rec := range recs {
			after = max(after, rec.ID)
			if !rec.State.End() || !rec.ExportedAt.IsZero() {
				continue // not ours to export; a Store honouring the query never returns it
			}
			if file == nil {
				if file, err = e.Dest.Create(ctx, rel); err != nil {
					return abort(fmt.Errorf("export: create %s: %w", rel, err))
				}
				out = &countingWriter{File: file}
				w = parquet.NewGenericWriter[Row](out, opts...)
			}
			row := RowFromRecord(rec, e.RunID, at)
			rows = append(rows, row)
			ids = append(ids, rec.ID)
			rep.ByOutcome[row.Outcome]++
			if len(rows) == cap(rows) {
				if err := flush(); err != nil {
					return abort(err)
				}
			}
		}
		if len(recs) > 0 && after == prev {
			return abort(fmt.Errorf("export: list records of job %s: ids do not advance past %d", e.Job, after))
		}
		if err := flush(); err != nil { // end of page: check the row group's size
			return abort(err)
		}
		if len(recs) < pageSize {
			break
		}
	}
	if file == nil {
		return rep, nil
	}
	if err := flush(); err != nil {
		return abort(err)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	if err := w.Close(); err != nil {
		return abort(fmt.Errorf("export: write %s: %w", rel, err))
	}
	if err := file.Commit(); err != nil {
		return Report{ByOutcome: map[string]int{}}, fmt.Errorf("export: commit %s: %w", rel, err)
	}
	rep.Files = []string{e.Dest.Location(rel)}
	rep.Rows = len(ids)
	pipeline.CrashPoint(pipeline.CrashExportCommitted)

	// The file is durable: from here on a failure must not hide it. Marking
	// uses a context that survives a first cancellation briefly, so that a
	// soft stop after the commit does not re-export the whole file.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	for len(ids) > 0 {
		n := min(len(ids), markSize)
		if err := st.MarkExported(mctx, ids[:n], at); err != nil {
			return rep, fmt.Errorf("%w: %d of %d records of %s not marked: %w",
				ErrMarkExported, len(ids), rep.Rows, rep.Files[0], err)
		}
		ids = ids[n:]
	}
	return rep, nil
}

// markTimeout bounds the marking after a commit, which runs even if the
// export's context was cancelled meanwhile.
const markTimeout = 2 * time.Minute

// countingWriter counts the bytes the parquet writer has sent to the file,
// so that what is still buffered in the current row group is w.Size() - n.
type countingWriter struct {
	File
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.File.Write(p)
	c.n += int64(n)
	return n, err
}

func (e *Exporter) check() error {
	switch {
	case e.Dest == nil:
		return errors.New("export: no destination")
	case e.Job == "":
		return errors.New("export: no job")
	case e.RunID == "":
		return errors.New("export: no run id")
	}
	return nil
}

func (e *Exporter) writerOptions() ([]parquet.WriterOption, error) {
	opts := []parquet.WriterOption{
		parquet.DataPageVersion(1),
		// Strings not tagged dict are PLAIN, not parquet-go's default
		// DELTA_LENGTH_BYTE_ARRAY, which older readers do not know.
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		parquet.MaxRowsPerRowGroup(int64(cmpOr(e.RowGroupSize, DefaultRowGroupSize))),
		parquet.CreatedBy("idbatch", "", ""),
		parquet.KeyValueMetadata("idbatch.job", e.Job),
		parquet.KeyValueMetadata("idbatch.run_id", e.RunID),
	}
	switch strings.ToLower(cmp.Or(e.Compression, DefaultCompression)) {
	case "zstd":
		opts = append(opts, parquet.Compression(&parquet.Zstd))
	case "snappy":
		opts = append(opts, parquet.Compression(&parquet.Snappy))
	case "none", "uncompressed":
		opts = append(opts, parquet.Compression(&parquet.Uncompressed))
	default:
		return nil, fmt.Errorf("export: unknown compression %q (want zstd, snappy or none)", e.Compression)
	}
	return opts, nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// partPath is the file's path relative to the destination.
func (e *Exporter) partPath(at time.Time) string {
	worker := cmp.Or(e.Worker, DefaultWorker)
	return "job=" + escapePartition(e.Job) +
		"/dt=" + at.UTC().Format(time.DateOnly) +
		"/part-" + safeName(e.RunID) + "-" + safeName(worker) + ".parquet"
}

// escapePartition escapes a Hive partition value the way Hive and Spark do:
// characters that are special in paths or partition specs become %XX.
func escapePartition(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// safeName keeps a file-name component to [A-Za-z0-9._-], replacing
// anything else with '_'.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
