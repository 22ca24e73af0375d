// Package sqlitestore is the default pipeline.Store: one SQLite file, through
// the pure-Go modernc.org/sqlite driver (no cgo).
//
//	s, err := sqlitestore.OpenDSN(ctx, "sqlite://./idbatch.db") // or Open(ctx, "./idbatch.db")
//
// Everything after "sqlite://" is a file path, never a query string:
// "sqlite://./idbatch.db" is relative to the working directory,
// "sqlite:///var/lib/idbatch.db" is absolute.
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines. Several Stores, or
// processes (idbatch run and idbatch serve), may share a file on one machine:
// the database runs in WAL mode, so readers never wait; writers are one at a
// time. Within a Store, writers queue on a token in Go; between Stores,
// every write transaction begins IMMEDIATE (it takes the write lock up front,
// so two transactions can never deadlock upgrading a read lock) and waits up
// to 10 s (busy_timeout) for the lock. Several machines need PostgreSQL
// (pipeline/pgstore); a SQLite file on a network file system is not supported.
//
// Claim is a single UPDATE … WHERE id IN (SELECT … ORDER BY id LIMIT n)
// RETURNING …; Transition a single UPDATE … WHERE id = ? AND state = ?
// [AND version = ?]. Neither reads then writes, so neither can race.
//
// # Durability
//
// Every connection runs with synchronous=FULL: a transition is fsynced to
// the WAL before Transition returns. With synchronous=NORMAL a committed
// transaction already survives a crash or kill -9 of the process (the WAL is
// in the operating system's cache); only a power loss or kernel crash could
// lose the last commits. That is exactly the failure that would cost money
// here: a record whose "tokening" intent was lost after its /token call went
// out would be given a second token. An fsync per transition costs about a
// millisecond, nothing next to the API's rate limit (about 3 requests per
// second), so transitions, claims, MarkExported and runs are FULL.
//
// Load is the exception: its transaction runs with synchronous=NORMAL (the
// connection is set back to FULL before it returns to the pool). A lost Load
// batch is harmless, because loading is idempotent and the next run loads
// it again; and it cannot be lost behind a later transition, because the WAL
// is one append-only file and that transition's fsync makes everything
// before it durable as well. This makes loading a large manifest about half
// again as fast.
//
// # Schema
//
// Migrations are embedded (migrations/NNNN_name.sql) and applied in order, in
// one transaction (TestMigrateFromPreviousVersion opens a database holding
// records at the previous version), recording each version in schema_migrations; reopening
// applies nothing. A database that records a version this binary does not
// know (written by a newer idbatch) is refused.
//
// Table records has a column per pipeline.Record field. Times are INTEGER
// microseconds since the Unix epoch, NULL for the zero time; they come back
// in UTC, truncated to the microsecond. Input, Hashes and Result are JSON
// text; Result.Raw is kept apart, byte for byte, in result_raw. scan_ref and
// lease_owner are NULL when empty. Indexes:
//
//   - UNIQUE (job, key): Load's upsert key.
//   - UNIQUE (ref): ByRef, and one externalRef per record across jobs.
//   - UNIQUE (scan_ref) WHERE scan_ref IS NOT NULL: ByScanRef; a scanRef
//     belongs to one record (a Transition that would give it to a second
//     one fails).
//   - (job, state, id, not_before, lease_until): Claim and List. Equality on
//     job and state leaves the index in id order, so ORDER BY id LIMIT n
//     reads about n entries however many records the job has; a request for
//     several states runs one such scan per state and merges them.
//   - (job, id) WHERE exported_at IS NULL AND state IN (final, rejected,
//     failed): the records waiting for export, for List with NotExported.
//   - (job, submitted_at) WHERE state = 'submitted' (migration 0002): results
//     awaiting, by submission time, for overdue results.
//
// Table runs holds one row per pipeline.Run, Summary as a BLOB.
//
// Inspect (the pre-flight of validate -check) reads a database without
// creating, migrating or converting anything: a missing file is reported
// as "run will create it" once its nearest existing directory is known to
// be writable.
//
// # Load
//
// Load upserts a batch in one transaction: it reads the stored (id,
// input_hash, state) of the batch's keys in one query, then inserts the new
// keys and updates the changed ones with prepared statements. A record it
// inserts starts at version 1. Besides what pipeline.Store promises, it fills
// an empty Ref with pipeline.RefFor(job, Key), stores an empty State as
// pending, gives a rejected record without an Outcome OutcomeRejected, and
// refuses (failing the whole batch) an empty Key, a record of another Job and
// a State other than pending or rejected. A changed row of a pending or
// rejected record rewrites its input, line, state, outcome, reject reason,
// error code and message and run id, clears exported_at and hashes, and
// increments its version: a worker holding the record's lease with the old
// input loses its next versioned transition. Its lease, attempts, not_before
// and token history are kept.
//
// Loading costs about one random page write per row per index on a random
// key: the ref index always (refs are hashes), the (job, key) index when
// client ids are random; each commit writes the pages it dirtied to the WAL.
// On a 2-vCPU VM, a manifest of 1,000,000 records with sequential client ids
// loads at about 17,000 rows/s in batches of 1,000 and 24,000 rows/s in
// batches of 10,000 (one minute, 42 s); reloading it unchanged runs at
// 100,000 rows/s or more. Callers loading millions of records should pass
// batches of 10,000.
package sqlitestore
