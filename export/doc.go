// Package export writes the records that reached an end state to Parquet for
// analysts (DuckDB, Athena, Spark), on a local directory or S3, and marks them
// exported in the Store.
//
// # Output
//
// One Exporter.Export call writes at most one file:
//
//	<destination>/job=<job>/dt=<YYYY-MM-DD>/part-<run_id>-<worker>.parquet
//
// dt is the UTC date of the export (not of the result). The job is escaped as
// Hive escapes partition values (%XX for / = : and the like); run_id and
// worker keep [A-Za-z0-9._-], anything else becomes '_'. Nothing is created
// when there is nothing to export.
//
// The columns are those of Row, in DESIGN.md's order, snake_case, with real
// DATE, TIMESTAMP (microseconds, isAdjustedToUTC) and 3-level LIST types,
// PLAIN or dictionary-encoded strings in data pages v1, zstd by default.
// testdata/schema.golden holds the schema; `go test ./export -update`
// refreshes it, and a change to it is a change to a user-facing contract.
//
// # Atomicity and the one duplicate window
//
// A file is written under a temporary name (local: <name>.tmp-<random> in the
// same directory, fsynced and renamed; S3: a streamed multipart upload,
// completed on commit and aborted otherwise), so a reader never sees a partial
// file. Records are marked exported only after their file is committed; any
// failure before that leaves no file and marks nothing, and the next export
// writes the same records again.
//
// A crash (or a Store failure) after the commit and before every record is
// marked leaves a committed file whose records the next export writes again,
// into its own part file: export is at-least-once. A reader that needs one
// row per record keeps, per (job, client_id, scan_ref), the row with the
// latest exported_at.
//
// Closing that window needs one more Store operation, not a different file
// name: before creating the file, record in the Store which file each
// record is going to (an export_file column set on the ids, in one
// statement); then write and commit; then MarkExported. The next export
// first looks for records with an export_file and no exported_at: if that
// file exists at the destination, it only marks them; if it does not, it
// rewrites exactly those records under exactly that name. Since the set of
// records is fixed before the file exists, the name identifies the set and a
// record can never be in two files.
//
// # Destinations
//
// OpenDestination takes a plain path, file://path or s3://bucket/prefix/.
// Destination.Create returns a File: an io.Writer with Commit and Abort.
// The S3 destination streams through an io.Pipe into the SDK's multipart
// uploader, so a file is never held whole in memory nor written to disk (at
// most three 16 MiB parts are buffered).
//
// # Tests
//
// The tests read every file they write with DuckDB through package
// exporttest (Node.js and @duckdb/node-api, installed with
// `npm ci --prefix .ci/duckdb`); they are skipped without it, and fail
// without it when $CI is set.
package export
