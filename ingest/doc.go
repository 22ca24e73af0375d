// Package ingest reads where records come from and prepares their images:
// manifests (CSV or JSONL, local or on S3, streamed), listings of an S3
// prefix (or a local directory) grouped by a key template, object fetch,
// and image normalization. It spends no API call and writes nothing to disk.
//
// # Records
//
// ReadManifest and List turn every manifest row, or every group of listed
// objects, into exactly one pipeline.Record: pending when the input is
// usable, rejected with a stable reason code (pipeline.Reject*) when it is
// not. A bad row is data, never an error; only I/O errors, an unusable
// header or bad options, and the callback's errors stop them. Keys are
// unique per row: the client id, or "#line:N" (manifests) / "#id:<hash>"
// (listings) when the client id is unusable. Duplicate client ids across
// rows are not detected here (that needs memory proportional to the
// manifest): they share a Key, and the Store's Load decides.
//
// # Objects
//
// Objects.Get fetches one image by reference: s3://bucket/key, a key in the
// manifest's bucket, file:///path, or a local path relative to the
// manifest's directory. Input faults are *pipeline.RejectError
// (missing_object, empty_object, cannot_fit_size_limit); everything else
// (403, 5xx, network, missing bucket, a cancelled context) is an
// infrastructure error the caller may retry. S3 answers 403 instead of 404
// for a missing key when the caller lacks s3:ListBucket; that stays an
// infrastructure error, so grant ListBucket to get missing_object.
//
// # Normalization
//
// Normalize sniffs the format by magic bytes, reads the header to refuse
// decompression bombs (too_large_pixels) and small images (too_small)
// before decoding a pixel, and then:
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
// # Personal data
//
// No error text or reject detail holds a personal field or an object key
// (keys often contain client ids); SDK errors are rewritten with the key
// redacted, the original staying in the chain for errors.As. The package
// logs nothing.
package ingest
