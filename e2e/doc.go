// Package e2e holds the tests that drive the idbatch binary as a user or an
// operator does: `idbatch run` against the iDenfy sandbox over HTTP, a real
// S3-compatible server and a real Store, killed with SIGKILL at crash points
// and at random moments, several workers on one PostgreSQL Store, `serve`,
// `demo`, `report` and `status`; and the recovery and account-limit
// benchmarks.
//
// TestMain builds the binary once, with the race detector and the build tag
// "crashpoints" (pipeline.CrashPoint is compiled in only with it):
//
//	go build -race -tags crashpoints ./cmd/idbatch
//
// leaving only the image codecs and compressors uninstrumented. With -bench
// it builds without -race, so that the benchmarks measure a release build.
//
// The package has no code of its own beyond this comment; it follows the
// layout of s5cmd's e2e directory. The tests run with every `go test ./...`.
package e2e
