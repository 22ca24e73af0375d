package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Exit codes (DESIGN.md).
const (
	exitOK          = 0
	exitFatal       = 1
	exitUsage       = 2
	exitTooManyFail = 3
	exitInterrupted = 130
)

const usage = `idbatch re-verifies identity documents in bulk through iDenfy's Direct Processing API.

Usage:
  idbatch <command> [-c config.yaml] [flags]

Commands:
  run       the scheduled job: load the manifest, submit, wait for results, export, summary
  demo      the whole pipeline on embedded defaults with generated records (no credentials, no services)
  validate  dry run: read the manifest, fetch and normalize every image, report rejections; no API call
  status    counts per state for a job, overdue results, orphans, last runs
  export    export final results not yet exported
  report    write a run's HTML report again (-run ID), or the job's report across all runs
  serve     long-running webhook receiver (and poller, /healthz, /metrics) writing into the Store
  sandbox   run the iDenfy sandbox standalone on a port
  version   print the version

Run 'idbatch <command> -h' for the flags of a command.
Exit codes: 0 done, 1 fatal, 2 usage, 3 too many failures, 130 interrupted.
`

var version = "dev"

// usageError is an error in the command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run is main without the process: a test can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	var err error
	switch cmd {
	case "run":
		code, err = runRun(ctx, rest, stdout, stderr)
	case "demo":
		code, err = runDemo(ctx, rest, stdout, stderr)
	case "validate":
		code, err = runValidate(ctx, rest, stdout, stderr)
	case "status":
		code, err = runStatus(ctx, rest, stdout, stderr)
	case "export":
		code, err = runExport(ctx, rest, stdout, stderr)
	case "sandbox":
		code, err = runSandbox(ctx, rest, stdout, stderr)
	case "serve":
		code, err = runServe(ctx, rest, stdout, stderr)
	case "delete":
		code, err = runDelete(ctx, rest, stdout, stderr)
	case "report":
		code, err = runReport(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "idbatch", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "idbatch: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	if err != nil {
		var ue *usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "idbatch %s: %v\n", cmd, err)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "idbatch %s: %v\n", cmd, err)
			if code == exitOK {
				code = exitFatal
			}
		}
	}
	return code
}

// commonFlags are the flags every config-driven command takes.
type commonFlags struct {
	config string
	job    string
	store  string
}

func newFlagSet(name string, stderr io.Writer, cf *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("idbatch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if cf != nil {
		fs.StringVar(&cf.config, "c", "", "config file (YAML)")
		fs.StringVar(&cf.job, "job", "", "job name (overrides the config)")
		fs.StringVar(&cf.store, "store", "", "store DSN (overrides the config)")
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return resolveWorker(fs)
}

// loadConfig reads -c and applies the common overrides.
func loadConfig(cf commonFlags) (Config, error) {
	if cf.config == "" {
		return Config{}, &usageError{msg: "-c config.yaml is required"}
	}
	cfg, err := LoadConfig(cf.config)
	if err != nil {
		return cfg, err
	}
	if cf.job != "" {
		cfg.Job = cf.job
	}
	if cf.store != "" {
		cfg.Store = cf.store
	}
	return cfg, nil
}

// softStop returns a context that the first SIGINT/SIGTERM does NOT cancel,
// and a channel closed by that first signal (the soft stop: finish in-flight
// work, export, exit 130). The second signal cancels the context (hard stop).
func softStop(parent context.Context, stderr io.Writer) (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	soft := make(chan struct{})
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var once sync.Once
		first := func() {
			once.Do(func() {
				fmt.Fprintln(stderr, "\nidbatch: stopping: finishing records in flight and exporting (signal again to abort)")
				close(soft)
			})
		}
		pd := parent.Done()
		signals := 0
		for {
			select {
			case <-sig:
				signals++
				first()
				if signals >= 2 {
					fmt.Fprintln(stderr, "idbatch: aborting")
					cancel()
					return
				}
			case <-pd:
				// The first signal also reaches the parent context: not a second one.
				pd = nil
				first()
			case <-done:
				return
			}
		}
	}()
	return ctx, soft, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}
