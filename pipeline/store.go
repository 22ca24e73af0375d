package pipeline

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned by Store.Transition when the record is no longer in
// the expected state (or version): another worker, a webhook or a rescuer
// moved it first. The caller re-reads the record and decides again.
var ErrConflict = errors.New("pipeline: record changed concurrently")

// ErrNotFound is returned when no record matches a lookup.
var ErrNotFound = errors.New("pipeline: record not found")

// ErrScanRefTaken is returned (wrapped) by Store.Transition when its Patch
// gives a record a scanRef that another record already holds: a scanRef
// belongs to exactly one record. Nothing changes. It is never retried: it
// means two records were attributed one verification, a bug to report.
var ErrScanRefTaken = errors.New("pipeline: scanRef held by another record")

// ErrLocked is returned (wrapped, with the holder and its expiry) by
// Store.Lock when another owner holds the lock.
var ErrLocked = errors.New("pipeline: held by another owner")

// LoadStats tells what a manifest load did.
type LoadStats struct {
	Inserted  int `json:"inserted"`  // new records
	Updated   int `json:"updated"`   // changed rows of records not yet submitted (pending or rejected): input replaced, back to pending (or rejected, when the new row is bad)
	Unchanged int `json:"unchanged"` // identical rows
	Kept      int `json:"kept"`      // changed rows of records already submitted: the stored input is kept
	// NewRejects counts the records this load left rejected by writing a bad
	// row (inserted, or replacing a pending or rejected record's row): the
	// bad rows this load ended, not those an earlier or concurrent load
	// stored. A key given twice in one call counts once, by its last row.
	NewRejects int      `json:"new_rejects"`
	KeptKeys   []string `json:"-"` // their keys (client ids: personal data, never in the summary)

	// Filled by the caller that reads the manifest, not by the Store:
	Rows       int            `json:"rows"`               // manifest rows read
	RejectedBy map[string]int `json:"rejected_by_reason"` // bad rows in the manifest, by reason
}

// ClaimRequest asks for up to Limit records of Job in one of States whose
// NotBefore has passed and whose lease is free or expired.
type ClaimRequest struct {
	Job    string
	States []State
	Owner  string
	Limit  int
	Lease  time.Duration
	Now    time.Time
	// DeadBefore, when non-zero, frees the leases of dead workers: a lease
	// whose owner is a registered worker that stopped, or whose last
	// heartbeat is before DeadBefore, is claimable whatever its LeaseUntil —
	// except by that owner itself (a worker whose heartbeat lagged never
	// takes its own records in flight for a dead worker's). Owners that
	// never registered keep their lease until LeaseUntil.
	DeadBefore time.Time
}

// Transition moves one record from From to To, applying Patch, if and only if
// the record is still in From (and, when Version is non-zero, still at that
// Version). Versions start at 1 and every write (claims included) bumps
// them, so a lease is enforced by passing the Version the claim returned: a
// worker whose lease was rescued and re-claimed gets ErrConflict. It increments the version, sets updated_at to Now, and clears the
// lease unless Patch.KeepLease. It is the only way a record changes state.
type Transition struct {
	ID      int64
	From    State
	Version int64
	To      State
	Now     time.Time
	Patch   Patch
}

// Patch lists the fields a transition writes; a nil pointer leaves a field alone.
type Patch struct {
	Input          *Input
	Attempts       *int
	NotBefore      *time.Time
	ScanRef        *string
	AuthToken      *string
	TokenExpiresAt *time.Time
	IntentAt       *time.Time
	SubmittedAt    *time.Time
	ResultAt       *time.Time
	ExportedAt     *time.Time
	DeletedAt      *time.Time
	Outcome        *Outcome
	RejectReason   *string
	ErrorCode      *string
	ErrorMessage   *string
	Hashes         map[Side]string // nil leaves them alone
	Result         *Result         // nil leaves it alone
	RunID          *string
	KeepLease      bool
	// LeaseUntil, with KeepLease, extends the lease the caller holds (the
	// version check proves it still holds it). Writers renew it before each
	// paid call, so a long wait on the rate limiter never lets another worker
	// take a record that is in flight.
	LeaseUntil *time.Time
}

// Run is one execution of a command against a job, as recorded in the Store.
type Run struct {
	ID         string
	Job        string
	Command    string
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	Summary    []byte // the JSON summary
}

// Store persists records and runs: every record's state, its lease and the
// crash protocol's intents and tokens. Implementations: pipeline/sqlitestore
// (one machine), pipeline/pgstore (many machines); pipeline/storetest is the
// conformance suite both pass, and pins down what these comments leave open.
//
// Every method is safe for concurrent use by many goroutines, and by several
// Stores on one database (processes; for PostgreSQL, machines). Every write
// is atomic and durable when the method returns nil: a record's state after
// a crash (kill -9) is the last state a Transition returned nil for.
//
// Errors: ErrConflict (wrapped) means the compare-and-set lost, nothing
// changed, re-read and decide again; ErrNotFound means no such record or
// run; ErrScanRefTaken means a scanRef would belong to two records. Any
// other error is infrastructure (database unreachable, disk full, context
// done): the write may or may not have happened only for Load (which is
// idempotent, so retrying is safe); for every other write nothing changed.
type Store interface {
	// Load inserts or refreshes manifest records of job, keyed by Record.Key,
	// in one atomic batch (all or nothing). Idempotent: loading the same
	// records twice changes nothing (Unchanged). A changed row (by
	// Input.Hash) of a record in pending or rejected replaces its input and
	// makes it pending (or rejected, if the new row carries a RejectReason)
	// again, bumping its version so that a worker holding its lease loses its
	// next versioned Transition (Updated); a changed row of a record in any
	// other state — a token was asked for, money may be spent — is kept
	// as stored and reported in Kept/KeptKeys. Records given with State
	// rejected (bad manifest rows) are stored so; only pending and rejected
	// can be loaded. Concurrent loads of one manifest (N workers starting)
	// insert each record once.
	Load(ctx context.Context, job string, recs []Record, now time.Time) (LoadStats, error)

	// Claim leases up to req.Limit records of req.Job in one of req.States
	// whose NotBefore is zero or <= req.Now and whose lease is free or
	// expired (LeaseUntil <= req.Now), atomically: it sets LeaseOwner =
	// req.Owner, LeaseUntil = req.Now + req.Lease and bumps the version.
	// Two claims never return the same record while its lease runs, on any
	// number of connections. A lease is not renewed: a worker that takes
	// longer than its lease may see another claim take the record (rescue of
	// a dead worker's records), and then loses its next versioned
	// Transition with ErrConflict. Records are returned in id order (lowest
	// first). An empty result means nothing is claimable now.
	Claim(ctx context.Context, req ClaimRequest) ([]Record, error)

	// Transition is the compare-and-set that every state change goes
	// through; see Transition. ErrConflict if the record is no longer in
	// t.From (or at t.Version), ErrNotFound if it does not exist,
	// ErrScanRefTaken if the patch's scanRef is another record's; nothing
	// changes then. A transition to the same state is allowed (a patch, or
	// releasing a lease).
	Transition(ctx context.Context, t Transition) error

	// Get returns one record by id; ErrNotFound if absent.
	Get(ctx context.Context, id int64) (Record, error)
	// ByScanRef returns the record holding scanRef; ErrNotFound if none.
	ByScanRef(ctx context.Context, scanRef string) (Record, error)
	// ByRef returns the record with that externalRef; ErrNotFound if none.
	ByRef(ctx context.Context, ref string) (Record, error)

	// List returns up to q.Limit records (all when Limit <= 0) of q.Job in
	// q.States (all states when empty) with id > q.AfterID, in id order,
	// filtered as ListQuery says. For paging through a job. Read-only: it
	// takes no lease, so what it returns may change before it is used.
	List(ctx context.Context, q ListQuery) ([]Record, error)

	// MarkExported sets exported_at on the given records (of any end state)
	// that have none yet; records already exported, not in an end state or
	// unknown are left alone. Idempotent. Called only after the file holding
	// them is committed.
	MarkExported(ctx context.Context, ids []int64, at time.Time) error

	// Counts returns the number of records of job per state (0 or no entry
	// for a state without records).
	Counts(ctx context.Context, job string) (map[State]int, error)

	// StartRun and FinishRun record runs (an ID started twice is an error;
	// FinishRun of an unknown ID is ErrNotFound); Runs lists the latest n of
	// a job (all when n <= 0), most recently started first. A run without
	// FinishedAt is running, or was killed.
	StartRun(ctx context.Context, r Run) error
	FinishRun(ctx context.Context, r Run) error
	Runs(ctx context.Context, job string, n int) ([]Run, error)

	// Lock takes job's lock called name for owner until until (a lease):
	// it succeeds when the lock is free, expired at now, or owner's already
	// (which renews it to until), and otherwise returns an error wrapping
	// ErrLocked. Atomic and durable: of concurrent callers, on any handle
	// or machine sharing the Store, one at most holds a lock at an instant.
	// Locks keep work that must not run twice at once for a job (an
	// export) to one worker; a holder that dies loses its lock at until,
	// or at once when owner is "<worker ID>/…" of a registered worker that
	// stopped or has not heartbeated for WorkerTimeout.
	Lock(ctx context.Context, job, name, owner string, now, until time.Time) error
	// Renew extends owner's lock to until, even if it expired meanwhile,
	// provided nobody took it since: it returns an error wrapping ErrLocked
	// when the lock is another owner's or free (taken and released by
	// another owner). A holder renews before acting on the lock, so that it
	// never acts after another owner did.
	Renew(ctx context.Context, job, name, owner string, until time.Time) error
	// Unlock releases the lock if owner holds it, and otherwise does
	// nothing.
	Unlock(ctx context.Context, job, name, owner string) error

	// Stats returns the numbers `status`, the summary and the wait for
	// outstanding work need, counted by the Store (see JobStats).
	Stats(ctx context.Context, q StatsQuery) (JobStats, error)

	WorkerRegistry
	BudgetStore

	Close() error
}

// StatsQuery asks Store.Stats about a job at Now; Owner is the asking
// worker (its own leases are not counted as held), DeadBefore as in
// ClaimRequest. OverdueBefore, when non-zero, also counts the submitted
// records whose submitted_at is before it (JobStats.Overdue).
type StatsQuery struct {
	Job           string
	Owner         string
	Now           time.Time
	DeadBefore    time.Time
	OverdueBefore time.Time
}

// JobStats counts a job's records in the ways recovery needs.
type JobStats struct {
	States map[State]int // records per state
	// Held: records (pending, tokening, tokened, orphan) whose lease is held
	// by another live worker; HeldUntil is the latest of those leases.
	Held      int
	HeldUntil time.Time
	// Orphans waiting for any token they may have to expire (NotBefore in
	// the future); OrphansRetryFrom/Until bound the instants they are
	// retried.
	OrphansWaiting   int
	OrphansRetryFrom time.Time
	OrphansRetryAt   time.Time
	// Parked: pending or tokened records whose NotBefore is in the future
	// (a retry's backoff, a 409); ParkedUntil is the latest.
	Parked      int
	ParkedUntil time.Time
	// AwaitingExport: ended records (final, rejected, failed) not yet
	// exported.
	AwaitingExport int
	// Overdue: submitted records (no final result yet) whose submitted_at
	// is before StatsQuery.OverdueBefore; OldestOverdue is the earliest of
	// their submitted_at. Zero when OverdueBefore is.
	Overdue       int
	OldestOverdue time.Time
}

// ListQuery selects records for List.
type ListQuery struct {
	Job             string
	States          []State // empty = all
	AfterID         int64
	Limit           int
	NotExported     bool      // only records with no exported_at
	SubmittedBefore time.Time // non-zero: only records submitted before this instant
	NotBefore       time.Time // non-zero: only records whose not_before <= this instant
}
