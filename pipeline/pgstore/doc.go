// Package pgstore is the pipeline.Store on PostgreSQL (github.com/jackc/pgx/v5),
// for several workers on several machines sharing one job.
//
//	s, err := pgstore.Open(ctx, "postgres://idbatch:${PGPASSWORD}@db:5432/idbatch?sslmode=require")
//
// The DSN is handed to pgx as it is (postgres:// or postgresql://); its query
// may set search_path (a schema per environment), pool_max_conns and every
// libpq parameter pgx knows. Sessions run with timezone UTC and
// application_name idbatch. Errors never repeat the DSN's password.
//
// # Concurrency
//
// Every method is one statement (Load: one transaction), safe for any number
// of goroutines, pools, processes and machines at once:
//
//   - Claim locks, per requested state, up to Limit claimable rows in id order
//     with FOR UPDATE SKIP LOCKED (a row another claim holds is skipped, never
//     waited for; one that a committed claim leased meanwhile is re-checked by
//     PostgreSQL and skipped), keeps the Limit lowest ids and sets their
//     lease_owner, lease_until = Now + Lease and version + 1. A lease expires
//     at lease_until: any claim at or after that instant may take the record
//     (the worker that held it is too slow), and the version bump makes
//     the old holder's next versioned Transition fail with ErrConflict. With
//     DeadBefore, the lease of a worker that stopped or stopped heartbeating
//     (the workers table) is free at once: a dead worker's records resume
//     within WorkerTimeout, whatever the lease. Clocks:
//     Now comes from the caller, so workers on several machines need clocks
//     within a small fraction of the lease (NTP); the default lease is minutes.
//   - Transition is UPDATE … WHERE id = $ AND state = $ [AND version = $]: a
//     compare-and-set that never reads then writes.
//   - Load takes a transaction-level advisory lock on (schema, job), so N
//     workers loading the same manifest at start each see the others' rows
//     instead of failing on the unique key; inserts go through COPY, updates
//     through one UPDATE … FROM unnest(…) that re-checks the state, so a row
//     claimed and moved on since it was read is reported Kept, not rewritten.
//   - Migrations run in one transaction under an advisory lock on the schema.
//
// # Durability
//
// A Transition returns after its commit; with PostgreSQL's default
// synchronous_commit=on the commit is flushed to the WAL first. Do not turn
// synchronous_commit off for idbatch's database: a lost "tokening" intent
// after a crash of the database server is a record that could be given a
// second token. (The test cluster of .ci/setup.sh runs with fsync off; it is
// thrown away.)
//
// # Schema
//
// Migrations are embedded (migrations/NNNN_name.sql) and applied in order,
// recording each version in schema_migrations; reopening applies nothing,
// and a database that records a version this binary does not know is
// refused. The table and index layout is that of pipeline/sqlitestore, in
// PostgreSQL types: times are timestamptz (microseconds, NULL = never),
// Input, Hashes and Result are JSON text, Result.Raw is bytea byte for byte.
// Indexes: UNIQUE (job, key) for Load; UNIQUE (ref); UNIQUE (scan_ref) WHERE
// scan_ref IS NOT NULL (a Transition that would give a scanRef to a second
// record fails with pipeline.ErrScanRefTaken); (job, state, id) for Claim and
// List; (job, id) WHERE exported_at IS NULL AND state is an end state, for the
// export; (job, submitted_at) WHERE state = 'submitted', for overdue results.
//
// Load, Claim and the rest behave exactly as pipeline/storetest pins down,
// and as pipeline/sqlitestore documents (defaults of Load, validation of
// Claim and Transition arguments). A key given twice in one Load batch is
// one record holding the last row.
//
// Inspect (the pre-flight of validate -check) reads the database over one
// connection without creating or migrating anything, and checks that the
// role could create idbatch's tables (when there are none yet) or read and
// write them.
package pgstore
