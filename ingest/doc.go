// Package ingest reads where records come from and prepares their images:
// manifests (CSV or JSONL, local or on S3, streamed), listings of an S3
// prefix (or a local directory) grouped by a key template, object fetch,
// and image normalization. It spends no API call and writes nothing to disk.
//
// Two loops over a source live here, for every command: Load streams a
// Source into the Store in batches (what run does first), and
// ValidateRecords is the dry run of validate: it prepares every record as
// a run would, counts the ready, rejected and unfetchable ones, and reports
// its progress (ValidateProgress, with a rate and an ETA once CountRecords
// gave the total); Sample draws a seeded random sample of a source.
//
// # Records
//
// ReadManifest and List turn every manifest row, or every group of listed
// objects, into exactly one pipeline.Record: pending when the input is
// usable, rejected with a stable reason code (pipeline.Reject*) when it is
// not. A bad row is data, never an error; only I/O errors, an unusable
// header or bad options, and the callback's errors stop them. Keys are
// unique per manifest: the client id, or "#line:N" (manifests) /
// "#id:<hash>" (listings) when the client id is unusable or shared.
//
// Manifest rules (see ReadManifest and Validate):
//
//   - A CSV quoting error costs only the lines it spans: the reader knows
//     physical lines (csv.go), reports the first line of a bad multi-line
//     record as bad_manifest_row and reads again from the next line, so
//     every bad line is its own record with its number and later rows
//     survive. A line or record over MaxRowBytes is a bad row too.
//   - Rows that share a client id are all rejected as duplicate_client_id,
//     each under its own "#line:N" key; none of them is verified. Finding
//     them takes a first pass over the manifest (8 bytes per row while it
//     runs), so a manifest is read two or three times: Manifest bodies
//     reopen (an s3:// one only while its ETag is unchanged), other readers
//     seek back or are held in memory up to 64 MiB; a longer stream that
//     can do neither is read once, and then a client id's first row is
//     kept and only its later rows are rejected.
//   - A JSONL object with a key twice is a bad_manifest_row.
//   - first_name and last_name, when given: 1-100 characters, no digit, no
//     control character, none of ~!@#$%^*()_+={}[]|:;",<>/? (iDenfy's
//     rules); date_of_birth: YYYY-MM-DD, a real date from 1900 to today.
//     Otherwise bad_manifest_row with a detail naming the column (never the
//     value), before any API call. Image references: at most MaxRefBytes.
//   - Unknown columns (kept in Input.Extra and exported): at most
//     MaxExtraColumns (64) per row, MaxExtraValueBytes (1 KiB) per value,
//     MaxExtraBytes (16 KiB) per row, names included. A row over them is a
//     bad_manifest_row without its extra values; a CSV header with more
//     than 64 unknown named columns, or more than MaxColumns (1024) in all,
//     is an error (every row would be bad).
//   - A rejected record keeps what was parsed, cut to the bounds a valid
//     row has, so a hostile row costs the Store no more than a good one.
//
// # Objects and their scope
//
// Objects.Get fetches one image by reference, only inside the scope of its
// source. For an s3:// manifest (or listing): keys in its bucket and s3://
// URIs of that bucket or of AllowedBuckets (source.allowed_buckets); never
// a local file, whatever the reference says. For a local manifest: paths
// relative to its directory that stay in it after cleaning, opened through
// an os.Root so that no symlink leads out; s3:// URIs of AllowedBuckets.
// Absolute paths and file:// URIs are accepted only when LocalRoot
// (source.local_root) names a root, and then only inside it; relative paths
// may then leave the manifest's directory but not the root. A listing's
// scope is its own bucket or directory (ListOptions.Objects). Anything else
// is out_of_scope. A local path must be a regular file, checked on the
// descriptor opened with O_NONBLOCK (a FIFO, device, /dev/stdin or directory
// is not_a_regular_file, at once), reads stop when the context is done, and
// MaxBytes (50 MiB when not positive; ObjectOptions.Validate refuses a
// non-positive max_object_bytes) caps every read.
//
// Input faults are *pipeline.RejectError (out_of_scope, not_a_regular_file,
// missing_object, empty_object, cannot_fit_size_limit); everything else
// (403, 5xx, network, missing bucket, a cancelled context) is an
// infrastructure error the caller may retry. S3 answers 403 instead of 404
// for a missing key when the caller lacks s3:ListBucket; that stays an
// infrastructure error, so grant ListBucket to get missing_object.
//
// # Normalization
//
// Normalize sniffs the format by magic bytes, reads the header to refuse
// decompression bombs (too_large_pixels), small images (too_small) and
// JPEGs of more than 100 scans (corrupt_image: each scan walks the whole
// image) before decoding a pixel, and then:
//
//   - passes an upright JPEG that is within MaxSide and MaxImageBytes (and
//     not CMYK) through after a full decode as a check, with only its
//     metadata segments removed (APP1-APP13, APP15, COM): no generation loss;
//   - otherwise decodes (JPEG, PNG, GIF, WebP, BMP, TIFF), works on luma and
//     4:2:0 chroma planes (a JPEG's own YCbCr planes, no RGB round trip;
//     other images flattened onto white and converted), fits the longer
//     side into MaxSide with an integer box pre-shrink where the factor is 4
//     or more and Lanczos-3 for the rest, applies the EXIF orientation to
//     the small result, and encodes a JPEG (no metadata); over
//     MaxImageBytes it lowers the quality, then the scale.
//
// ingest/bench compares this with libvips and imaging in one run.
//
// Preparer.Prepare does all of the above for one record, concurrently per
// side, and checks the size of the /process request. Its result is
// deterministic: the first reject in pipeline.Sides order wins. Memory is
// bounded by bytes in flight (Preparer.MaxBytesInFlight, weighted by each
// image's decoded size from its header), not by record count; Objects
// bounds the GETs in flight (Objects.MaxConcurrent).
//
// # Fuzzing
//
// FuzzReadManifestCSV (also against encoding/csv, wherever that reads the
// input), FuzzReadManifestJSONL, FuzzExifOrientation and FuzzNormalize;
// .ci/fuzz.sh runs them for a bounded time. Crashers found are kept as
// seeds under testdata/fuzz.
//
// # Personal data
//
// No error text or reject detail holds a personal field or an object key
// (keys often contain client ids); SDK errors are rewritten with the key
// redacted, the original staying in the chain for errors.As. The package
// logs nothing.
package ingest
