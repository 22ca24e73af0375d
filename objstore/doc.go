// Package objstore is idbatch's one door to object storage: the S3 client
// (with an explicit retryer), the one rule for "this object does not exist",
// and the destinations that exports are written to, a local directory
// (dest_local.go) or an S3 prefix (dest_s3.go), behind the Dest interface.
//
// Contracts:
//
//   - NewClient makes no request. Its client retries a failed request at
//     most MaxAttempts times in all, with capped exponential backoff, and has
//     no client-side retry quota: in an outage every request keeps its
//     retries instead of failing at once when a shared token bucket is empty.
//   - IsNotFound is true only for a missing object (NoSuchKey, or a bare 404
//     "NotFound" as HeadObject answers it), never for a missing bucket: a
//     missing bucket is a configuration error, not a missing file.
//   - A Dest makes a file visible at its final name only when File.Commit
//     returns nil, and never a partial one. Delete is idempotent. Both
//     backends pass the same test suite (objstoretest).
//   - Probe writes, reads back and deletes one object under _probe/ of a
//     Dest (the pre-flight of validate -check); a *ProbeError names the
//     failed step and the location, never a credential. It leaves nothing
//     behind, not even a local root it had to create.
//
// The package imports no other idbatch package; ingest (reading objects)
// and export (writing them) import it.
package objstore
