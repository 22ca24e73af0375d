package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// sqliteWithRejected is a SQLite Store holding n rejected records of
// testJob (an end state: all to export).
func sqliteWithRejected(t *testing.T, n int) pipeline.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "idbatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	recs := manyRecords(n)
	for i := range recs {
		recs[i].ID = 0
		recs[i].Ref = pipeline.RefFor(testJob, recs[i].Key)
	}
	if _, err := st.Load(t.Context(), testJob, recs, exportNow); err != nil {
		t.Fatal(err)
	}
	return st
}

// Workers on several machines end their runs with an export of the same
// job at about the same time. With the Store's lock they export one after
// another: each record is in exactly one file, and every one is marked.
func TestExportConcurrentWorkersExactlyOnce(t *testing.T) {
	t.Parallel()
	const n, workers = 3000, 4
	st := sqliteWithRejected(t, n)
	dest, root := localDestination(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		files []string
		rows  int
	)
	for w := range workers {
		wg.Go(func() {
			e := &Exporter{Dest: dest, Job: testJob, RunID: fmt.Sprintf("run-%d", w), Worker: fmt.Sprintf("w%d", w),
				Now: fixedNow, Lock: st, LockTTL: 2 * time.Second}
			rep, err := e.Export(t.Context(), st)
			if err != nil {
				t.Errorf("worker %d: %v", w, err)
				return
			}
			mu.Lock()
			files = append(files, rep.Files...)
			rows += rep.Rows
			mu.Unlock()
		})
	}
	wg.Wait()
	if rows != n || len(files) != 1 {
		t.Errorf("%d rows in files %v, want %d in one (the first export takes all)", rows, files, n)
	}
	left, err := st.List(t.Context(), pipeline.ListQuery{Job: testJob, NotExported: true})
	if err != nil || len(left) != 0 {
		t.Errorf("%d records not marked exported (%v)", len(left), err)
	}
	assertExactlyOnce(t, root, n)
}

// renewBlocker is a Locker whose renewals fail while blocked, as from a
// worker cut off from the Store (or stalled) past its lock's TTL.
type renewBlocker struct {
	Locker
	blocked atomic.Bool
}

var errUnreachable = errors.New("store unreachable")

func (r *renewBlocker) Renew(ctx context.Context, job, name, owner string, until time.Time) error {
	if r.blocked.Load() {
		return errUnreachable
	}
	return r.Locker.Renew(ctx, job, name, owner, until)
}

// A worker whose lock expired while it was cut off, and that another worker
// took, exported and released meanwhile, commits nothing when it comes back:
// its renewal before the commit fails. Each record is in one file.
func TestExportLostLockCommitsNothing(t *testing.T) {
	t.Parallel()
	const n = 500
	st := sqliteWithRejected(t, n)
	dest, root := localDestination(t)
	const ttl = 300 * time.Millisecond

	// Worker A takes the lock, lists its first page, then is cut off.
	locker := &renewBlocker{Locker: st}
	listed, resume := make(chan struct{}), make(chan struct{})
	src := &hookSource{Source: st, afterList: func(call int) {
		if call == 1 {
			locker.blocked.Store(true)
			close(listed)
			<-resume
		}
	}}
	a := &Exporter{Dest: dest, Job: testJob, RunID: "run-a", Worker: "a", Now: fixedNow, Lock: locker, LockTTL: ttl}
	errA := make(chan error, 1)
	go func() {
		_, err := a.Export(t.Context(), src)
		errA <- err
	}()
	<-listed
	time.Sleep(ttl + 100*time.Millisecond) // A's lock expires

	// Worker B takes it over, exports everything and releases it.
	b := &Exporter{Dest: dest, Job: testJob, RunID: "run-b", Worker: "b", Now: fixedNow, Lock: st, LockTTL: ttl, LockWait: 5 * time.Second}
	rep, err := b.Export(t.Context(), st)
	if err != nil || rep.Rows != n {
		t.Fatalf("B: %d rows, %v; want %d", rep.Rows, err, n)
	}

	// A comes back and finishes writing: nothing may become visible.
	locker.blocked.Store(false)
	close(resume)
	if err := <-errA; !errors.Is(err, pipeline.ErrLocked) {
		t.Fatalf("A: %v, want an error wrapping ErrLocked (lock lost)", err)
	}
	for _, f := range files(t, root) {
		if strings.Contains(f, "run-a") {
			t.Errorf("A left %s", f)
		}
	}
	assertExactlyOnce(t, root, n)
}

// A worker that finds the lock held waits for it, then exports what is
// left; past LockWait it gives up with ErrLockWait.
func TestExportWaitsForTheLock(t *testing.T) {
	t.Parallel()
	st := sqliteWithRejected(t, 10)
	dest, root := localDestination(t)
	now := time.Now()
	if err := st.Lock(t.Context(), testJob, lockName, "someone", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e := &Exporter{Dest: dest, Job: testJob, RunID: "run-1", Now: fixedNow, Lock: st, LockWait: 300 * time.Millisecond}
	if _, err := e.Export(t.Context(), st); !errors.Is(err, ErrLockWait) {
		t.Fatalf("held for an hour: %v, want ErrLockWait", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files %v, want none", got)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = st.Unlock(context.Background(), testJob, lockName, "someone")
	}()
	e.LockWait = 10 * time.Second
	if rep, err := e.Export(t.Context(), st); err != nil || rep.Rows != 10 {
		t.Fatalf("after the release: %d rows, %v", rep.Rows, err)
	}
}

// hookSource calls afterList after each List.
type hookSource struct {
	Source
	calls     atomic.Int64
	afterList func(call int)
}

func (h *hookSource) List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	recs, err := h.Source.List(ctx, q)
	h.afterList(int(h.calls.Add(1)))
	return recs, err
}

// Holding the lock, an export removes the temporary files that killed
// writes left (nothing else writes under the job's directory meanwhile).
func TestExportRemovesStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	st := sqliteWithRejected(t, 5)
	dest, root := localDestination(t)
	dir := filepath.Join(root, "job="+testJob, "dt=2025-03-01")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".part-run-0-w0.parquet.tmp-12345")
	keep := filepath.Join(dir, "part-run-0-w0.parquet")
	for _, p := range []string{stale, keep} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := &Exporter{Dest: dest, Job: testJob, RunID: "run-1", Now: fixedNow, Lock: st}
	if _, err := e.Export(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there (%v)", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("committed file removed: %v", err)
	}
}
