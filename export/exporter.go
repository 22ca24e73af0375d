package export

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

	listPageSize = 2000 // records per Source.List call (two or three pages are held at a time)
	writeBatch   = 1000 // rows per parquet Write call
	markBatch    = 1000 // ids per Source.MarkExported call
	// maxRowGroupBytes cuts a row group early when what its encoder
	// buffers (compressed pages and the page being filled) passes this, so
	// that large raw_result values cannot make a RowGroupSize-row group take
	// gigabytes of memory. Each of the Workers encoders holds up to about
	// twice this (its pages, then the group as a file).
	maxRowGroupBytes = 64 << 20
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
	// 128Ki. A row group is also cut when it grows past 64 MiB buffered.
	RowGroupSize int
	// Workers is the number of row groups encoded and compressed at once;
	// default one per CPU (GOMAXPROCS), at most 4.
	Workers int
	// Now is the clock; default time.Now. Its UTC date is the dt= partition
	// and its instant the exported_at of every row.
	Now func() time.Time

	// Lock, when set (the Store), keeps Export and Compact of the job to
	// one worker at a time across machines: each takes the job's "export"
	// lock, waiting up to LockWait (default 10m) while another holds it,
	// renews it every LockTTL/3 (default TTL 30s), and renews it once more
	// right before making a file visible, so that a worker that lost it
	// (stalled past the TTL) commits nothing. Holding it, Export also
	// settles what interrupted exports of other workers left (their pending
	// sidecars). Without it, only one process may export a job at a time.
	Lock     Locker
	LockTTL  time.Duration
	LockWait time.Duration
	// Log receives the few things an export says on its own (waiting for
	// the lock); nil discards them.
	Log *slog.Logger

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
	// Failures is the location of the failures CSV written beside the
	// file (every rejected and failed record in it), "" if none.
	Failures string
	// Recovered counts records that an earlier, interrupted export had
	// already committed to a file: they were only marked exported now.
	Recovered int
}

// ErrMarkExported wraps a failure to mark records exported after their file
// was committed: the file is there and stays, and so does its pending
// sidecar, so the next export only marks them (see Export).
var ErrMarkExported = errors.New("export: file committed but records not marked exported")

// Export first settles what an earlier export of this job and worker left
// half done (see the package documentation, "Exactly once"), then writes
// every record of e.Job that is in an end state (final, rejected, failed)
// and not yet exported into one file,
//
//	job=<job>/dt=<YYYY-MM-DD>/part-<run_id>-<worker>.parquet
//
// (with a -2, -3... suffix when that name is taken), and the rejected and
// failed ones also into
//
//	job=<job>/_failures/dt=<YYYY-MM-DD>/failures-<run_id>-<worker>.csv
//
// commits them, and only then marks the records exported. With nothing to
// export it creates no file and returns an empty Report.
//
// Failure before the commit (listing, writing, uploading, ctx cancelled)
// leaves nothing visible and marks nothing: the next export writes the same
// records. Failure after the commit, while marking, returns the Report and
// an error wrapping ErrMarkExported; the next export marks the rest without
// writing them again. Each record is therefore in exactly one committed
// file, whatever the crash.
func (e *Exporter) Export(ctx context.Context, st Source) (Report, error) {
	rep := Report{ByOutcome: map[string]int{}}
	if err := e.check(); err != nil {
		return rep, err
	}
	opts, err := e.writerOptions()
	if err != nil {
		return rep, err
	}
	lk, err := e.acquireLock(ctx)
	if err != nil {
		return rep, err
	}
	defer lk.release(ctx)
	if lk != nil {
		e.removeStale(ctx)
	}
	if rep.Recovered, err = e.resolvePending(ctx, st, lk != nil); err != nil {
		return rep, err
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	at := now().UTC().Truncate(time.Microsecond)
	pageSize := cmpOr(e.pageSize, listPageSize)
	markSize := cmpOr(e.markSize, markBatch)

	var (
		rel      string
		file     File
		w        *parallelWriter
		ids      []int64
		failures failuresBuf // the failures CSV's rows
	)
	// abort discards the file, if any; the error returned is err.
	abort := func(err error) (Report, error) {
		if w != nil {
			w.Abort()
		}
		if file != nil {
			if aerr := file.Abort(); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return Report{ByOutcome: map[string]int{}, Recovered: rep.Recovered}, err
	}
	// Pages are listed and turned into rows one ahead by a goroutine, so
	// that reading the Store overlaps with encoding and compressing.
	lctx, stopList := context.WithCancel(ctx)
	pages := listRecords(lctx, st, pipeline.ListQuery{
		Job:         e.Job,
		States:      endStates,
		NotExported: true,
		Limit:       pageSize,
	})
	defer func() {
		stopList()
		for range pages { // wait for the lister: st is not used after Export returns
		}
	}()
	for listed := range pages {
		if listed.err != nil {
			return abort(listed.err)
		}
		pg := toRows(listed.recs, e.RunID, at)
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		if len(pg.rows) == 0 {
			continue
		}
		if file == nil {
			if rel, err = e.freePartPath(ctx, at); err != nil {
				return abort(err)
			}
			if file, err = e.Dest.Create(ctx, rel); err != nil {
				return abort(fmt.Errorf("export: create %s: %w", rel, err))
			}
			w = e.newWriter(file, opts)
		}
		ids = append(ids, pg.ids...)
		for i := range pg.rows {
			rep.ByOutcome[pg.rows[i].Outcome]++
		}
		for _, rec := range pg.fails {
			failures.add(rec)
		}
		if err := w.Write(pg.rows); err != nil {
			return abort(fmt.Errorf("export: write %s: %w", rel, err))
		}
	}
	if err := ctx.Err(); err != nil { // the lister stops early when ctx ends
		return abort(err)
	}
	if file == nil {
		return rep, nil
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	err = w.Close()
	w = nil // closed: nothing left to abort
	if err != nil {
		return abort(fmt.Errorf("export: write %s: %w", rel, err))
	}

	// The pending sidecar names the file, its failures CSV and its records;
	// it is durable before either becomes visible.
	pend := pending{File: rel, ExportedAt: at, IDs: ids}
	if failures.len() > 0 {
		pend.Failures = e.failuresPath(rel, at)
	}
	side := e.pendingPath(rel)
	if err := lk.check(ctx); err != nil { // before the failures CSV is visible
		return abort(err)
	}
	if err := e.putPending(ctx, side, pend); err != nil {
		return abort(err)
	}
	if pend.Failures != "" {
		if err := e.putFailures(ctx, pend.Failures, &failures); err != nil {
			r, err := abort(err)
			_ = e.Dest.Delete(context.WithoutCancel(ctx), side) // best effort: resolution deletes it anyway
			return r, err
		}
	}
	if err := lk.check(ctx); err != nil {
		// Best effort (resolution removes them too): the file was never
		// visible, so neither is what describes it.
		r, err := abort(err)
		dctx := context.WithoutCancel(ctx)
		if pend.Failures == "" || e.Dest.Delete(dctx, pend.Failures) == nil {
			_ = e.Dest.Delete(dctx, side)
		}
		return r, err
	}
	if err := file.Commit(); err != nil {
		// The sidecar stays: a commit that failed on our side may still
		// have completed (a lost answer); the next export checks.
		return Report{ByOutcome: map[string]int{}, Recovered: rep.Recovered}, fmt.Errorf("export: commit %s: %w", rel, err)
	}
	rep.Files = []string{e.Dest.Location(rel)}
	if pend.Failures != "" {
		rep.Failures = e.Dest.Location(pend.Failures)
	}
	rep.Rows = len(ids)
	pipeline.CrashPoint(pipeline.CrashExportCommitted)

	// The file is durable: from here on a failure must not hide it. Marking
	// uses a context that survives a first cancellation briefly, so that a
	// soft stop after the commit does not leave the work to the next export.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := markAll(mctx, st, ids, at, markSize); err != nil {
		return rep, fmt.Errorf("%w: records of %s (the next export marks them): %w", ErrMarkExported, rep.Files[0], err)
	}
	if err := e.Dest.Delete(mctx, side); err != nil {
		// Harmless: the next export finds the file and marks nothing new.
		return rep, fmt.Errorf("export: records marked, but the pending sidecar %s was not removed: %w", side, err)
	}
	return rep, nil
}

// listedPage is one Source.List answer, or the error that ended listing.
type listedPage struct {
	recs []pipeline.Record
	err  error
}

// listRecords lists q's records page by page (q.Limit per page, ids
// ascending from q.AfterID) in a goroutine, one page ahead of the reader.
// The channel is closed after the last page, after an error (sent as the
// last page), or when ctx ends.
func listRecords(ctx context.Context, st Source, q pipeline.ListQuery) <-chan listedPage {
	pages := make(chan listedPage, 1)
	go func() {
		defer close(pages)
		for {
			if ctx.Err() != nil {
				return
			}
			recs, err := st.List(ctx, q)
			if err != nil {
				err = fmt.Errorf("export: list records of job %s: %w", q.Job, err)
			}
			prev := q.AfterID
			for i := range recs {
				q.AfterID = max(q.AfterID, recs[i].ID)
			}
			if err == nil && len(recs) > 0 && q.AfterID == prev {
				err = fmt.Errorf("export: list records of job %s: ids do not advance past %d", q.Job, prev)
			}
			select {
			case pages <- listedPage{recs: recs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) < q.Limit {
				return
			}
		}
	}()
	return pages
}

// rowsPage is a listed page as rows.
type rowsPage struct {
	rows  []Row
	ids   []int64           // ids[i] is the record of rows[i]
	fails []pipeline.Record // the rejected and failed records among them
}

// toRows maps the records of a page that are in an end state and not
// exported to rows (RowFromRecord).
func toRows(recs []pipeline.Record, runID string, at time.Time) rowsPage {
	pg := rowsPage{rows: make([]Row, 0, len(recs)), ids: make([]int64, 0, len(recs))}
	for i := range recs {
		rec := &recs[i]
		if !rec.State.End() || !rec.ExportedAt.IsZero() {
			continue // not ours to export; a Store honouring the query never returns it
		}
		pg.rows = append(pg.rows, RowFromRecord(*rec, runID, at))
		pg.ids = append(pg.ids, rec.ID)
		if rec.State == pipeline.StateRejected || rec.State == pipeline.StateFailed {
			pg.fails = append(pg.fails, *rec)
		}
	}
	return pg
}

// markAll marks ids exported at at, n per call.
func markAll(ctx context.Context, st Source, ids []int64, at time.Time, n int) error {
	for len(ids) > 0 {
		k := min(len(ids), n)
		if err := st.MarkExported(ctx, ids[:k], at); err != nil {
			return fmt.Errorf("%d records not marked: %w", len(ids), err)
		}
		ids = ids[k:]
	}
	return nil
}

// markTimeout bounds the marking after a commit, which runs even if the
// export's context was cancelled meanwhile.
const markTimeout = 2 * time.Minute

// newWriter starts the file writer of an export or a compaction with the
// Exporter's workers and row group limits.
func (e *Exporter) newWriter(out io.Writer, opts []parquet.WriterOption) *parallelWriter {
	return newParallelWriter(out, cmpOr(e.Workers, defaultWorkers()),
		cmpOr(e.RowGroupSize, DefaultRowGroupSize), cmp.Or(e.groupBytes, maxRowGroupBytes), opts)
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
		opts = append(opts, parquet.Compression(sharedZstd))
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
