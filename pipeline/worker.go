package pipeline

import (
	"context"
	"time"
)

// Worker is a process that claims records (a `run`, on any machine), as
// registered in the Store. Whether a record is a worker's is decided by
// liveness: a worker heartbeats every HeartbeatEvery; one whose heartbeat is
// older than WorkerTimeout, or that stopped, is dead, and the leases it holds
// are free at once (ClaimRequest.DeadBefore) — records are taken over under
// the crash rules, without waiting for their lease. A lease only bounds a
// worker that is alive but stuck.
type Worker struct {
	ID          string // the lease owner of its claims: unique per process
	Job         string
	Name        string // w<N>: the worker's index (Kubernetes, AWS Batch, -worker)
	Host        string
	PID         int
	Command     string // run, demo, serve, ...
	RunID       string
	StartedAt   time.Time
	HeartbeatAt time.Time
	StoppedAt   time.Time // zero while it runs; set on a clean exit, or when it is known dead
}

// Alive reports whether w counts as alive at now: not stopped and
// heartbeating within timeout.
func (w Worker) Alive(now time.Time, timeout time.Duration) bool {
	return w.StoppedAt.IsZero() && now.Sub(w.HeartbeatAt) < timeout
}

// Liveness defaults: a worker beats every HeartbeatEvery and is dead after
// WorkerTimeout without a beat (five missed beats).
const (
	HeartbeatEvery = 2 * time.Second
	WorkerTimeout  = 10 * time.Second
)

// WorkerRegistry is the part of the Store that keeps workers. Every method
// is atomic and durable when it returns nil.
type WorkerRegistry interface {
	// RegisterWorker inserts w (HeartbeatAt = StartedAt when zero), or
	// replaces the row of the same ID.
	RegisterWorker(ctx context.Context, w Worker) error
	// Heartbeat sets the worker's HeartbeatAt to now. ErrNotFound if no such
	// worker is registered.
	Heartbeat(ctx context.Context, id string, now time.Time) error
	// StopWorker sets the worker's StoppedAt (its leases are free at once);
	// a worker already stopped keeps its first StoppedAt. Unknown IDs are
	// ignored.
	StopWorker(ctx context.Context, id string, at time.Time) error
	// Workers lists the workers of job (all jobs when job is ""), most
	// recently started first, at most n (all when n <= 0).
	Workers(ctx context.Context, job string, n int) ([]Worker, error)
}

// RunLocker is implemented by Stores that allow one `run` at a time (the
// embedded SQLite Store: an OS file lock held for the life of the process).
// LockRun takes it for holder (a text naming the process: pid, host, since);
// when another live process holds it, the error wraps ErrLocked and names
// that holder. Taking it proves every worker registered before is dead: the
// Store marks them stopped, so their records resume at once. The returned
// function releases it (also released by the OS when the process dies).
type RunLocker interface {
	LockRun(ctx context.Context, holder string, now time.Time) (unlock func() error, err error)
}

// BudgetStore keeps account-wide token buckets, so that every worker on a
// shared Store draws its API calls from one budget: the sum of all workers'
// calls never exceeds the account's limit, whatever their number, and a
// worker that joins, idles or dies changes the others' share at once.
type BudgetStore interface {
	// UpdateBudget reads the bucket name (a new one: Level 0, At now,
	// Factor 1), lets fn change it, and writes it back, atomically across
	// every handle and machine sharing the Store. fn gets the Store's clock
	// where it has one (PostgreSQL), else now; it must only compute (it
	// runs inside the Store's transaction). TakeBudget and submit's
	// SharedBudget are built on it.
	UpdateBudget(ctx context.Context, name string, now time.Time, fn func(b *Budget, now time.Time)) error
	// Budget reads the bucket name as last written, without writing
	// anything: found is false, and no bucket is created, when none of that
	// name exists (nobody has drawn from it). With a bucket, clock is the
	// instant to read b at (Budget.Rate, Budget.State): the Store's clock
	// where it has one (PostgreSQL: At, Until and LastCut are on it), else
	// now.
	Budget(ctx context.Context, name string, now time.Time) (b Budget, clock time.Time, found bool, err error)
}
