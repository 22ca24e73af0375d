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
	"time"

	"github.com/idbatch/idbatch/config"
)

// Exit codes (DESIGN.md, README "Exit codes"). exitCodeOf is the one place
// that maps a command's error to one.
const (
	exitOK          = 0
	exitFatal       = 1
	exitUsage       = 2
	exitTooManyFail = 3
	exitInterrupted = 130
)

var version = "dev"

// usageError is an error in the command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// outcomeError ends a command with an exit code that is neither 0 nor
// fatal: a run with too many failures (3) or interrupted (130). err, when
// not nil, is printed; the run's summary has said the rest.
type outcomeError struct {
	code int
	err  error
}

func (e *outcomeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *outcomeError) Unwrap() error { return e.err }

// withExitCode returns what a command that ended with code and err returns:
// nil for 0 without an error, err itself when the code says no more than
// the error does (0 or 1 with an error: fatal), else an *outcomeError.
func withExitCode(code int, err error) error {
	if (code == exitOK || code == exitFatal) && err != nil {
		return err
	}
	if code == exitOK {
		return nil
	}
	return &outcomeError{code: code, err: err}
}

// exitCodeOf maps a command's error to its exit code: none 0 (and -h), a
// usage error 2, a run's outcome its code, any other error (config, Store,
// credentials, out of credits) 1.
func exitCodeOf(err error) int {
	var ue *usageError
	var oe *outcomeError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &oe):
		return oe.code
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitFatal
}

// commandFunc runs one subcommand; its error decides the exit code.
type commandFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commandFuncs are the subcommands by name (help, version and completion
// aside: they run without a context).
var commandFuncs = map[string]commandFunc{
	"run": runRun, "demo": runDemo, "validate": runValidate, "status": runStatus, "export": runExport,
	"sandbox": runSandbox, "serve": runServe, "delete": runDelete, "report": runReport,
}

// run is main without the process: a test can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, globalUsage())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch f, ok := commandFuncs[cmd]; {
	case ok:
		err = f(ctx, rest, stdout, stderr)
	case cmd == "version" || cmd == "--version":
		fmt.Fprint(stdout, versionString())
	case cmd == "help" || cmd == "-h" || cmd == "-help" || cmd == "--help":
		err = runHelp(ctx, rest, stdout, stderr)
	case cmd == "completion":
		err = runCompletion(rest, stdout)
	default:
		msg := fmt.Sprintf("idbatch: unknown command %q", cmd)
		if s := suggestCommand(cmd); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		fmt.Fprintf(stderr, "%s\n\n%s", msg, globalUsage())
		return exitUsage
	}
	var oe *outcomeError
	if err != nil && !errors.Is(err, flag.ErrHelp) && !(errors.As(err, &oe) && oe.err == nil) {
		fmt.Fprintf(stderr, "idbatch %s: %v\n", cmd, err)
	}
	return exitCodeOf(err)
}

// commonFlags are the flags every config-driven command takes.
type commonFlags struct {
	config string
	job    string
	store  string
	stderr io.Writer // where loadConfig prints its warnings
}

// newFlagSet returns a command's flag set; -h prints the command's help
// (description, examples, flags).
func newFlagSet(name string, stderr io.Writer, cf *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("idbatch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandHelp(fs.Output(), name, fs) }
	if cf != nil {
		cf.stderr = stderr
		fs.StringVar(&cf.config, "c", "", "config file (YAML); required")
		fs.StringVar(&cf.job, "job", "", "job name (overrides job:)")
		fs.StringVar(&cf.store, "store", "", "Store DSN, sqlite://PATH or postgres://… (overrides store:; a relative path is relative to the working directory)")
	}
	return fs
}

// suggestCommand returns the command nearest to a mistyped one, or "".
func suggestCommand(name string) string {
	best, bestD := "", 3
	for _, c := range commands {
		if d := config.Levenshtein(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	return best
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

// loadConfig reads -c, applies the common overrides and checks what every
// command needs (job name, Store DSN, the range of every number and
// duration). It prints the config's warnings (literal secrets, …) on stderr.
func loadConfig(cf commonFlags) (config.Config, error) {
	if cf.config == "" {
		return config.Config{}, &usageError{msg: "-c config.yaml is required"}
	}
	if cf.job != "" {
		if err := config.CheckJobName(cf.job); err != nil {
			return config.Config{}, &usageError{msg: "-job: " + err.Error()}
		}
	}
	if cf.store != "" {
		if _, err := config.ParseStoreDSN(cf.store); err != nil {
			return config.Config{}, &usageError{msg: "-store: " + err.Error()}
		}
	}
	cfg, err := config.Load(cf.config)
	if err != nil {
		return cfg, err
	}
	if cf.stderr != nil {
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(cf.stderr, "idbatch: warning: %s\n", w)
		}
	}
	if cf.job != "" {
		cfg.Job = cf.job
	}
	if cf.store != "" {
		cfg.Store = cf.store
	}
	return cfg, cfg.Check()
}

// softStop returns a context that the first SIGINT/SIGTERM does NOT cancel,
// and a channel closed by that first signal (the soft stop: finish in-flight
// work, export, exit 130). The second signal cancels the context (hard stop).
// duplicateSignalWindow: signals this close to the first count as one.
const duplicateSignalWindow = time.Second

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
		var firstAt time.Time
		for {
			select {
			case <-sig:
				// A signal within a second of the first is the same stop
				// delivered twice (timeout(1) signals the process group, a
				// supervisor forwards it too), not a request to abort.
				if firstAt.IsZero() {
					firstAt = time.Now()
				} else if time.Since(firstAt) >= duplicateSignalWindow {
					fmt.Fprintln(stderr, "idbatch: aborting")
					cancel()
					return
				}
				first()
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

// checkRunFlags refuses negative values of run's overriding flags (their
// default, -1, means "not given": the config's value stands).
func checkRunFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "max-submissions", "wait-for-results":
			if v, ok := f.Value.(flag.Getter); ok && err == nil {
				switch x := v.Get().(type) {
				case int:
					if x < 0 {
						err = &usageError{msg: fmt.Sprintf("-%s must be 0 (no cap) or more, got %d", f.Name, x)}
					}
				case time.Duration:
					if x < 0 {
						err = &usageError{msg: fmt.Sprintf("-%s must be 0 (do not wait) or more, got %s", f.Name, x)}
					}
				}
			}
		}
	})
	return err
}
