package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// pending is the sidecar written, durably, before a part file is committed:
// which file, which failures CSV, and which records it holds. It is removed
// once the records are marked exported. See the package documentation,
// "Exactly once".
type pending struct {
	File       string    `json:"file"`               // the part file, relative to the destination
	Failures   string    `json:"failures,omitempty"` // its failures CSV, "" if none
	ExportedAt time.Time `json:"exported_at"`        // the exported_at written in the file
	IDs        []int64   `json:"ids"`                // Store ids of the records in the file
}

// jobDir is the job's partition directory, job=<escaped job>.
func (e *Exporter) jobDir() string { return "job=" + escapePartition(e.Job) }

// pendingDir holds this worker's pending sidecars. An export holding the
// job's lock settles every worker's; without the lock a worker settles only
// its own: another worker's sidecar may belong to a file being committed
// right now.
func (e *Exporter) pendingDir() string {
	return e.jobDir() + "/_pending/worker=" + safeName(e.worker())
}

// pendingPath is the sidecar of part file rel (job=J/dt=D/part-X.parquet).
func (e *Exporter) pendingPath(rel string) string {
	dt := path.Base(path.Dir(rel))
	return e.pendingDir() + "/" + dt + "/" + path.Base(rel) + ".json"
}

// failuresPath is the failures CSV of part file rel:
// job=J/_failures/dt=D/failures-<run>-<worker>[-n].csv. It is outside every
// dt= directory, so Hive-style readers (Athena, Spark, Trino), which read
// every file under a partition's prefix, never see it.
func (e *Exporter) failuresPath(rel string, at time.Time) string {
	base := strings.TrimSuffix(strings.TrimPrefix(path.Base(rel), "part-"), ".parquet")
	return e.jobDir() + "/_failures/dt=" + at.UTC().Format(time.DateOnly) + "/failures-" + base + ".csv"
}

// freePartPath returns partPath(at), or partPath with a -2, -3, ... suffix
// when a file of that name exists already (a second Export in one run), so
// that a commit never replaces an earlier file.
func (e *Exporter) freePartPath(ctx context.Context, at time.Time) (string, error) {
	base := e.partPath(at)
	for n := 1; n < 10000; n++ {
		rel := base
		if n > 1 {
			rel = strings.TrimSuffix(base, ".parquet") + "-" + strconv.Itoa(n) + ".parquet"
		}
		_, err := e.Dest.Stat(ctx, rel)
		if errors.Is(err, ErrNotExist) {
			return rel, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("export: no free file name for %s", base)
}

func (e *Exporter) putPending(ctx context.Context, rel string, p pending) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("export: pending sidecar: %w", err)
	}
	return e.put(ctx, rel, func(f File) error { _, err := f.Write(b); return err })
}

func (e *Exporter) putFailures(ctx context.Context, rel string, rows *failuresBuf) error {
	return e.put(ctx, rel, func(f File) error { return rows.writeTo(f) })
}

// put writes and commits one small file.
func (e *Exporter) put(ctx context.Context, rel string, write func(File) error) error {
	f, err := e.Dest.Create(ctx, rel)
	if err != nil {
		return fmt.Errorf("export: create %s: %w", rel, err)
	}
	if err := write(f); err != nil {
		_ = f.Abort()
		return fmt.Errorf("export: write %s: %w", rel, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("export: commit %s: %w", rel, err)
	}
	return nil
}

// resolvePending settles the sidecars left by an export that stopped
// between writing its sidecar and removing it: when the part file exists,
// its records are marked exported (at the exported_at written in the file);
// when it does not, its failures CSV (if any) is removed. The sidecar is
// removed last. It returns how many records it marked. With all (the job's
// lock held: no other export is running) it settles every worker's
// sidecars, and otherwise only this worker's.
func (e *Exporter) resolvePending(ctx context.Context, st Source, all bool) (int, error) {
	dir := e.pendingDir()
	if all {
		dir = e.jobDir() + "/_pending"
	}
	sides, err := e.Dest.List(ctx, dir)
	if err != nil {
		return 0, err
	}
	marked := 0
	for _, s := range sides {
		if !strings.HasSuffix(s.Rel, ".json") {
			continue
		}
		b, err := e.Dest.ReadFile(ctx, s.Rel)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return marked, err
		}
		var p pending
		if err := json.Unmarshal(b, &p); err != nil || p.File == "" {
			return marked, fmt.Errorf("export: pending sidecar %s is unreadable (%v); it names a part file and the records in it: inspect it, it is not removed", e.Dest.Location(s.Rel), err)
		}
		_, err = e.Dest.Stat(ctx, p.File)
		switch {
		case err == nil:
			if err := markAll(ctx, st, p.IDs, p.ExportedAt, cmpOr(e.markSize, markBatch)); err != nil {
				return marked, fmt.Errorf("%w: records of %s: %w", ErrMarkExported, e.Dest.Location(p.File), err)
			}
			marked += len(p.IDs)
		case errors.Is(err, ErrNotExist):
			if p.Failures != "" {
				if err := e.Dest.Delete(ctx, p.Failures); err != nil {
					return marked, err
				}
			}
		default:
			return marked, err
		}
		if err := e.Dest.Delete(ctx, s.Rel); err != nil {
			return marked, err
		}
	}
	return marked, nil
}
