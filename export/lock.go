package export

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// Locker keeps the exports and compactions of a job to one at a time,
// across processes and machines (a pipeline.Store is one; see Store.Lock).
type Locker interface {
	Lock(ctx context.Context, job, name, owner string, now, until time.Time) error
	Renew(ctx context.Context, job, name, owner string, until time.Time) error
	Unlock(ctx context.Context, job, name, owner string) error
}

var _ Locker = pipeline.Store(nil)

// lockName is the name of the job lock that Export and Compact hold.
const lockName = "export"

// Lock defaults.
const (
	// DefaultLockTTL is short because a killed holder keeps the lock until
	// it passes: the rerun after a kill -9 waits that long to export.
	// Renewals every TTL/3 are one small write each.
	DefaultLockTTL  = 30 * time.Second
	DefaultLockWait = 10 * time.Minute
)

// ErrLockWait is returned (wrapped) when another export of the job held the
// lock for longer than Exporter.LockWait.
var ErrLockWait = errors.New("export: another export or compaction of the job is running")

// jobLock is a held job lock, renewed in the background until released.
type jobLock struct {
	l          Locker
	job, owner string
	ttl        time.Duration
	stop       context.CancelFunc
	done       chan struct{}
}

// acquireLock takes the job's lock, waiting up to e.LockWait while another
// export or compaction holds it. With no Locker it returns nil (no lock):
// then only one process may export the job at a time.
func (e *Exporter) acquireLock(ctx context.Context) (*jobLock, error) {
	if e.Lock == nil {
		return nil, nil
	}
	ttl := e.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	wait := e.LockWait
	if wait <= 0 {
		wait = DefaultLockWait
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	owner := e.RunID + "/" + e.worker() + "/" + hex.EncodeToString(b[:])
	deadline := time.Now().Add(wait)
	logged := false
	for {
		now := time.Now()
		err := e.Lock.Lock(ctx, e.Job, lockName, owner, now, now.Add(ttl))
		if err == nil {
			break
		}
		if !errors.Is(err, pipeline.ErrLocked) {
			return nil, fmt.Errorf("export: take the job's export lock: %w", err)
		}
		if now.After(deadline) {
			return nil, fmt.Errorf("%w (waited %s): %w", ErrLockWait, wait, err)
		}
		if !logged {
			e.logger().Info("waiting for another export or compaction of the job", pipeline.LogKeyJob, e.Job, "lock", err.Error())
			logged = true
		}
		t := time.NewTimer(min(ttl/4, time.Second, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	jl := &jobLock{l: e.Lock, job: e.Job, owner: owner, ttl: ttl, stop: stop, done: make(chan struct{})}
	go jl.renewLoop(rctx, e.logger())
	return jl, nil
}

// renewLoop renews the lock every ttl/3 until stopped. A failed renewal is
// retried at the next tick; whether the lock is still held is checked
// before anything is made visible (check).
func (jl *jobLock) renewLoop(ctx context.Context, log *slog.Logger) {
	defer close(jl.done)
	t := time.NewTicker(jl.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := jl.renew(ctx); err != nil && ctx.Err() == nil {
				log.Warn("renewing the job's export lock failed", pipeline.LogKeyJob, jl.job, pipeline.LogKeyErr, err.Error())
			}
		}
	}
}

func (jl *jobLock) renew(ctx context.Context) error {
	return jl.l.Renew(ctx, jl.job, lockName, jl.owner, time.Now().Add(jl.ttl))
}

// check renews the lock now and fails if it is no longer held (another
// worker took it after it expired): called right before committing a file,
// so that a file is only ever made visible by the lock's holder, within
// ttl of a renewal that proved nobody else held it meanwhile. Nil-safe.
func (jl *jobLock) check(ctx context.Context) error {
	if jl == nil {
		return nil
	}
	if err := jl.renew(ctx); err != nil {
		return fmt.Errorf("export: the job's export lock was lost, nothing committed: %w", err)
	}
	return nil
}

// release stops renewing and releases the lock. Nil-safe.
func (jl *jobLock) release(ctx context.Context) {
	if jl == nil {
		return
	}
	jl.stop()
	<-jl.done
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = jl.l.Unlock(uctx, jl.job, lockName, jl.owner) // if lost, it expires
}

// removeStale removes the temporary files that killed writes of the job
// left in a local destination (S3: an upload never completed stays an
// incomplete multipart upload, which a bucket lifecycle rule aborts; see
// docs/analysts.md). Called with the job's lock held. Best effort.
func (e *Exporter) removeStale(ctx context.Context) {
	d, ok := e.Dest.(interface {
		RemoveStale(ctx context.Context, prefix string) (int, error)
	})
	if !ok {
		return
	}
	n, err := d.RemoveStale(ctx, e.jobDir())
	if err != nil {
		e.logger().Warn("removing temporary files of interrupted exports failed", pipeline.LogKeyJob, e.Job, pipeline.LogKeyErr, err.Error())
	} else if n > 0 {
		e.logger().Info("removed temporary files of interrupted exports", pipeline.LogKeyJob, e.Job, "files", n)
	}
}

func (e *Exporter) worker() string { return cmp.Or(e.Worker, DefaultWorker) }

func (e *Exporter) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}
