//go:build race

package ingest

// raceEnabled: the race detector slows pixel loops about tenfold, so tests
// that push megapixels through use smaller images under it.
const raceEnabled = true
