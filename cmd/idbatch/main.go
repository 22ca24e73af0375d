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

func main() {
	// Normalized images are large and short-lived: without a soft limit the
	// garbage collector lets the heap reach about twice the live images. 300 MiB
	// keeps peak RSS under 400 MB at any normalize concurrency (ingest/bench/rss).
	// GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(300 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
