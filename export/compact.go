package export

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/idbatch/idbatch/objstore"
)

// Compaction defaults.
const (
	// DefaultCompactThreshold: a partition is compacted when it holds more
	// than this many small part files.
	DefaultCompactThreshold = 8
	// DefaultSmallFileBytes: part files at least this large are left alone.
	DefaultSmallFileBytes = 128 << 20
)

// CompactOptions tune Exporter.Compact.
type CompactOptions struct {
	// Threshold: compact a partition holding more than this many small
	// part files; default DefaultCompactThreshold.
	Threshold int
	// SmallFileBytes: files at least this large are never merged; default
	// DefaultSmallFileBytes. The merge reads one small file at a time in memory.
	SmallFileBytes int64
	// Before: only partitions whose dt is before this UTC date are
	// compacted; zero means the date of e.Now (today), since exports write
	// into today's partition.
	Before time.Time
}

// CompactReport tells what Compact did.
type CompactReport struct {
	Partitions []string // compacted partitions (job=J/dt=D)
	Merged     int      // part files merged away
	Files      []string // new compacted files
	Rows       int64    // rows in the new files
}

// compactJournal is written before a compaction makes anything visible; a
// compaction interrupted after that is finished (or rolled back) by the next
// Compact: if Target exists, the sources are deleted (S3) or the swapped-out
// directory removed (local); otherwise the staging is discarded.
type compactJournal struct {
	Partition string   `json:"partition"` // job=J/dt=D
	Target    string   `json:"target"`    // the compacted file, relative to the destination
	Sources   []string `json:"sources"`   // the files it replaces
	Staging   string   `json:"staging,omitempty"`
}

func (e *Exporter) compactDir() string { return e.jobDir() + "/_compact" }

// Compact merges, in every partition of e.Job older than opts.Before, the
// small part files into one when there are more than opts.Threshold of them.
// Rows are copied unchanged (run_id and exported_at stay those of their
// export). Partitions named in a pending sidecar (an export not settled yet)
// are skipped. It must not run while an export of the same job writes into
// a partition it compacts: with e.Lock set it holds the job's export lock,
// which excludes exports; without, the caller must see to it. By default it
// only compacts partitions of past days, and exports write into today's.
//
// Local destination (Linux): the new partition directory is built under
// job=J/_compact/ (hard links to the files kept, plus the merged file), then
// exchanged with job=J/dt=D by one renameat2(RENAME_EXCHANGE): a reader
// listing job=*/dt=*/*.parquet sees either every old file or the new set,
// never both, never neither. Readers that glob **/*.parquet also descend
// into _compact/ and can see the staged copy for the moment it exists.
//
// S3: there is no atomic multi-object operation. The merged file is
// uploaded (one CompleteMultipartUpload makes it visible), then the sources
// are removed with one DeleteObjects request. No row is ever missing; a
// listing that falls between the two requests sees the rows twice. A crash
// between them is finished by the next Compact (the journal).
func (e *Exporter) Compact(ctx context.Context, opts CompactOptions) (CompactReport, error) {
	var rep CompactReport
	if err := e.check(); err != nil {
		return rep, err
	}
	wopts, err := e.writerOptions()
	if err != nil {
		return rep, err
	}
	lk, err := e.acquireLock(ctx)
	if err != nil {
		return rep, err
	}
	defer lk.release(ctx)
	if err := e.resolveCompactions(ctx); err != nil {
		return rep, err
	}
	threshold := cmpOr(opts.Threshold, DefaultCompactThreshold)
	small := cmp.Or(opts.SmallFileBytes, DefaultSmallFileBytes)
	before := opts.Before
	if before.IsZero() {
		before = time.Now()
		if e.Now != nil {
			before = e.Now()
		}
	}
	cutoff := "dt=" + before.UTC().Format(time.DateOnly)

	all, err := e.Dest.List(ctx, e.jobDir())
	if err != nil {
		return rep, err
	}
	busy := map[string]bool{} // partitions with a pending sidecar
	parts := map[string][]FileInfo{}
	for _, f := range all {
		rest := strings.TrimPrefix(f.Rel, e.jobDir()+"/")
		if strings.HasPrefix(rest, "_pending/") {
			if b, err := e.Dest.ReadFile(ctx, f.Rel); err == nil {
				var p pending
				if json.Unmarshal(b, &p) == nil {
					busy[path.Dir(p.File)] = true
				}
			}
			continue
		}
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(name, "/") || !strings.HasPrefix(dir, "dt=") || dir >= cutoff ||
			!strings.HasPrefix(name, "part-") || !strings.HasSuffix(name, ".parquet") {
			continue
		}
		parts[e.jobDir()+"/"+dir] = append(parts[e.jobDir()+"/"+dir], f)
	}
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, part := range keys {
		var srcs []FileInfo
		for _, f := range parts[part] {
			if f.Size < small {
				srcs = append(srcs, f)
			}
		}
		if len(srcs) <= threshold || busy[part] {
			continue
		}
		target, rows, err := e.compactPartition(ctx, lk, part, srcs, wopts)
		if err != nil {
			return rep, fmt.Errorf("export: compact %s: %w", part, err)
		}
		rep.Partitions = append(rep.Partitions, part)
		rep.Merged += len(srcs)
		rep.Files = append(rep.Files, e.Dest.Location(target))
		rep.Rows += rows
	}
	return rep, nil
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// compactPartition merges srcs of partition part into one file.
func (e *Exporter) compactPartition(ctx context.Context, lk *jobLock, part string, srcs []FileInfo, wopts []parquet.WriterOption) (string, int64, error) {
	id := randomID()
	name := "part-" + safeName(e.RunID) + "-" + safeName(cmp.Or(e.Worker, DefaultWorker)) + "-compacted-" + id + ".parquet"
	target := part + "/" + name
	j := compactJournal{Partition: part, Target: target}
	for _, s := range srcs {
		j.Sources = append(j.Sources, s.Rel)
	}
	journal := e.compactDir() + "/" + id + ".json"
	ld, local := e.Dest.(*objstore.Local)
	writeAt := target
	if local {
		j.Staging = e.compactDir() + "/" + id + "/" + path.Base(part)
		writeAt = j.Staging + "/" + name
	}
	b, err := json.Marshal(j)
	if err != nil {
		return "", 0, err
	}
	if err := e.put(ctx, journal, func(f File) error { _, err := f.Write(b); return err }); err != nil {
		return "", 0, err
	}
	rows, err := e.mergeInto(ctx, lk, writeAt, srcs, wopts)
	if err != nil {
		_ = e.Dest.Delete(context.WithoutCancel(ctx), journal)
		return "", 0, err
	}
	if local {
		if err := lk.check(ctx); err != nil {
			return "", 0, err // the next Compact discards the staging (journal)
		}
		if err := swapPartition(ld, j); err != nil {
			return "", 0, err
		}
	}
	// Visible now (local: swapped in; S3: uploaded). Finish.
	if err := e.finishCompaction(ctx, j); err != nil {
		return "", 0, err
	}
	return target, rows, e.Dest.Delete(ctx, journal)
}

// mergeInto writes the rows of srcs into one new file at rel (row groups
// of RowGroupSize rows; the order of rows is not kept, see parallelWriter).
func (e *Exporter) mergeInto(ctx context.Context, lk *jobLock, rel string, srcs []FileInfo, wopts []parquet.WriterOption) (int64, error) {
	f, err := e.Dest.Create(ctx, rel)
	if err != nil {
		return 0, err
	}
	w := e.newWriter(f, wopts)
	abort := func() {
		w.Abort()
		_ = f.Abort()
	}
	var total int64
	for _, s := range srcs {
		b, err := e.Dest.ReadFile(ctx, s.Rel)
		if err != nil {
			abort()
			return 0, err
		}
		pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			abort()
			return 0, fmt.Errorf("%s: %w", s.Rel, err)
		}
		r := parquet.NewGenericReader[Row](pf)
		var n int64
		for {
			buf := make([]Row, writeBatch) // the writer keeps it
			k, err := r.Read(buf)
			if k > 0 {
				if werr := w.Write(buf[:k]); werr != nil {
					abort()
					return 0, werr
				}
				n += int64(k)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				abort()
				return 0, fmt.Errorf("%s: %w", s.Rel, err)
			}
		}
		_ = r.Close()
		if n != pf.NumRows() {
			abort()
			return 0, fmt.Errorf("%s: read %d rows of %d", s.Rel, n, pf.NumRows())
		}
		total += n
	}
	if err := w.Close(); err != nil {
		_ = f.Abort()
		return 0, err
	}
	if err := lk.check(ctx); err != nil {
		_ = f.Abort()
		return 0, err
	}
	if err := f.Commit(); err != nil {
		return 0, err
	}
	return total, nil
}

// finishCompaction removes what the compacted file replaced.
func (e *Exporter) finishCompaction(ctx context.Context, j compactJournal) error {
	if j.Staging != "" {
		// Local: after the exchange the staging path holds the old directory.
		return e.Dest.(*objstore.Local).RemoveAll(path.Dir(j.Staging))
	}
	return e.Dest.Delete(ctx, j.Sources...)
}

// resolveCompactions finishes or rolls back compactions a crash interrupted.
func (e *Exporter) resolveCompactions(ctx context.Context) error {
	files, err := e.Dest.List(ctx, e.compactDir())
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.Count(strings.TrimPrefix(f.Rel, e.compactDir()+"/"), "/") != 0 || !strings.HasSuffix(f.Rel, ".json") {
			continue
		}
		b, err := e.Dest.ReadFile(ctx, f.Rel)
		if err != nil {
			return err
		}
		var j compactJournal
		if err := json.Unmarshal(b, &j); err != nil || j.Target == "" {
			return fmt.Errorf("export: compaction journal %s is unreadable (%v)", e.Dest.Location(f.Rel), err)
		}
		_, err = e.Dest.Stat(ctx, j.Target)
		switch {
		case err == nil: // visible: finish
			if err := e.finishCompaction(ctx, j); err != nil {
				return err
			}
		case errors.Is(err, ErrNotExist): // never visible: discard
			if j.Staging != "" {
				if err := e.Dest.(*objstore.Local).RemoveAll(path.Dir(j.Staging)); err != nil {
					return err
				}
			}
		default:
			return err
		}
		if err := e.Dest.Delete(ctx, f.Rel); err != nil {
			return err
		}
	}
	return nil
}
