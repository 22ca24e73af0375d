package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/idbatch/idbatch/config"
)

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
	fs.Var(w, "worker", "worker index `N`: part files -wN, log lines (default $"+config.EnvK8sIndex+", else $"+config.EnvBatchIndex+", else 0)")
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
		return config.DefaultWorkerName
	}
	return w.name
}

// resolveWorker resolves fs's -worker flag, when fs has one, with the
// environment (config.WorkerIndex). An invalid index is a usage error (exit 2)
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
	idx, name, err := config.WorkerIndex(w.value, os.Getenv)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	w.index, w.name = idx, name
	return nil
}
