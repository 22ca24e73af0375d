// Command idbatch re-verifies identity documents in bulk through iDenfy's
// Direct Processing API. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target (GOGC) unless GOGC is set.
const gcPercent = 50

func main() {
	// Normalized images are large and short-lived: without a soft limit the
	// garbage collector lets the heap reach about twice the live images. 300 MiB
	// keeps peak RSS under 400 MB at any normalize concurrency (ingest/bench/rss).
	// GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(300 << 20)
	}
	// Collecting at 50 % growth instead of 100 % keeps the export's peak
	// (two row groups in flight, see export.parallelWriter) near 250 MB
	// instead of 320 MB, for about 5 % more CPU there. GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
