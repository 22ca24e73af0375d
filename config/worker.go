package config

import (
	"fmt"
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
	EnvK8sIndex   = "JOB_COMPLETION_INDEX"      // Kubernetes Indexed Job
	EnvBatchIndex = "AWS_BATCH_JOB_ARRAY_INDEX" // AWS Batch array job child
)

// DefaultWorkerName labels a process that was given no index.
const DefaultWorkerName = "w0"

// WorkerIndex resolves the worker from, in order, the -worker flag (when
// flagValue is not empty), JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX,
// or 0. The first source that is set decides: an invalid value is an error
// naming that source, never a fall-through to the next one (a mistyped flag
// must not silently label every worker alike). name is "w<index>".
func WorkerIndex(flagValue string, getenv func(string) string) (index int, name string, err error) {
	sources := []struct{ name, value string }{
		{"-worker", flagValue},
		{EnvK8sIndex, getenv(EnvK8sIndex)},
		{EnvBatchIndex, getenv(EnvBatchIndex)},
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
	return 0, DefaultWorkerName, nil
}
