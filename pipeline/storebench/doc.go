// Package storebench holds the benchmarks that span ingest and the Stores:
// a manifest read by ingest.ReadManifest and loaded into each Store. They
// live here, not in pipeline/storetest, so that storetest and the Stores'
// own tests import only pipeline (no AWS SDK, no image codecs).
package storebench
