// Package export writes the records that reached an end state to Parquet for
// analysts (DuckDB, Athena, Spark), on a local directory or S3, and marks them
// exported in the Store.
//
// # Output
//
// One Exporter.Export call writes at most one part file (and, beside it,
// the failures CSV of its rejected and failed records):
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
// What a row holds is made safe for every reader (RowFromRecord): every
// string is valid UTF-8, outcome is always one of the enum (FAILED with
// error_code unexpected_status otherwise), and raw_result is re-sanitized by
// idenfy.SanitizeRaw (no pre-signed URL at any depth). The failures CSV is
// neutralized for spreadsheets (SpreadsheetSafe, the OWASP CSV-injection
// rule).
//
// # Exactly once
//
// A file is written under a temporary name (local: .<name>.tmp-<random> in
// the same directory, hidden and not *.parquet, fsynced and renamed; S3: a
// streamed multipart upload, completed on commit and aborted otherwise), so
// a reader never sees a partial file. Around the commit, without any Store
// field beyond exported_at:
//
//  1. a pending sidecar job=J/_pending/worker=W/dt=D/<part>.json is
//     committed, naming the part file, its failures CSV, the exported_at
//     written in it and the Store ids of its records;
//  2. the failures CSV is committed (job=J/_failures/dt=D/failures-….csv);
//  3. the part file is committed;
//  4. the records are marked exported (pipeline.CrashExportCommitted is the
//     crash point between 3 and 4);
//  5. the sidecar is deleted.
//
// Every Export starts by settling its worker's sidecars: if the part file
// exists, its records are marked exported (at the exported_at of the file)
// and nothing is written again; if not, the failures CSV is removed and the
// records, still unexported, are exported normally. A crash anywhere thus
// leaves each record in exactly one committed file. A part file name already
// taken gets a -2, -3… suffix, so no commit replaces an earlier file.
//
// Each worker settles only its own sidecars, because another worker's may
// belong to a commit in flight. (Two workers must not export the same job
// at the same time anyway: export does not lease records.)
//
// # Compaction
//
// Exporter.Compact merges the small part files of past partitions; see its
// documentation and docs/analysts.md for what readers see on a local
// directory (an atomic directory exchange) and on S3 (no multi-object
// atomicity: never a missing row, doubles only between two requests).
//
// # Destinations
//
// OpenDestination takes a plain path, file://path or s3://bucket/prefix/.
// Destination.Create returns a File: an io.Writer with Commit and Abort.
// Both destinations live in package objstore (Destination is objstore.Dest),
// which runs one test suite on both. The S3 destination sends a file as a
// multipart upload, part by part, so a file is never held whole in memory
// nor written to disk (at most three 16 MiB parts are buffered).
//
// # Tests
//
// The tests read every file they write with DuckDB through package
// exporttest (Node.js and @duckdb/node-api, installed with
// `npm ci --prefix .ci/duckdb`); they are skipped without it, and fail
// without it when $CI is set. BenchmarkExportVsDuckDB compares the writer
// with DuckDB's COPY ... (FORMAT PARQUET, COMPRESSION ZSTD).
package export
