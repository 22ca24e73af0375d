package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Worker identity. N copies of `idbatch run` on one PostgreSQL Store (a
// Kubernetes Indexed Job, an AWS Batch array job; README "Scale out") tell
// their part files, log lines and metrics apart by a worker index: the
// -worker flag, else the index the engine gives each copy, else 0. The name
// is "w<N>": part files are part-<run_id>-w<N>.parquet.
//
// The index is a label, not a partition of the work: workers claim records
// from the Store (SKIP LOCKED), so two copies with the same index are safe,
// only harder to tell apart (their part files still differ by run id).

// Where the worker index comes from, in order of precedence after -worker.
const (
	envK8sIndex   = "JOB_COMPLETION_INDEX"      // Kubernetes Indexed Job
	envBatchIndex = "AWS_BATCH_JOB_ARRAY_INDEX" // AWS Batch array job child
)

// defaultWorkerName labels a process that was given no index.
const defaultWorkerName = "w0"

// workerIndex resolves the worker from, in order, the -worker flag (when
// flagValue is not empty), JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX,
// or 0. The first source that is set decides: an invalid value is an error
// naming that source, never a fall-through to the next one (a mistyped flag
// must not silently label every worker alike). name is "w<index>".
func workerIndex(flagValue string, getenv func(string) string) (index int, name string, err error) {
	sources := []struct{ name, value string }{
		{"-worker", flagValue},
		{envK8sIndex, getenv(envK8sIndex)},
		{envBatchIndex, getenv(envBatchIndex)},
	}
	for _, s := range sources {
		v := strings.TrimSpace(s.value)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", fmt.Errorf("worker index from %s: %q is not a non-negative integer", s.name, s.value)
		}
		return n, "w" + strconv.Itoa(n), nil
	}
	return 0, defaultWorkerName, nil
}

// workerFlag is the -worker flag of the commands that take a worker
// identity. Parsing only records the flag; parseFlags then calls
// resolveWorker, which resolves it with the environment, so a command adds
// one line: worker := addWorkerFlag(fs).
type workerFlag struct {
	value string // as given; "" = not given
	index int
	name  string // "w<index>" once resolved
}

// addWorkerFlag registers -worker on fs.
func addWorkerFlag(fs *flag.FlagSet) *workerFlag {
	w := &workerFlag{}
	fs.Var(w, "worker", "worker index `N`: part files -wN, log lines (default $"+envK8sIndex+", else $"+envBatchIndex+", else 0)")
	return w
}

// String and Set make workerFlag a flag.Value.
func (w *workerFlag) String() string {
	if w == nil {
		return ""
	}
	return w.value
}

func (w *workerFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty worker index")
	}
	w.value = s
	return nil
}

// label is the worker's name: "w<N>" once resolved, "w0" for a command
// without -worker (demo) or a nil flag.
func (w *workerFlag) label() string {
	if w == nil || w.name == "" {
		return defaultWorkerName
	}
	return w.name
}

// resolveWorker resolves fs's -worker flag, when fs has one, with the
// environment (workerIndex). An invalid index is a usage error (exit 2)
// naming its source.
func resolveWorker(fs *flag.FlagSet) error {
	f := fs.Lookup("worker")
	if f == nil {
		return nil
	}
	w, ok := f.Value.(*workerFlag)
	if !ok {
		return nil
	}
	idx, name, err := workerIndex(w.value, os.Getenv)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	w.index, w.name = idx, name
	return nil
}
