//go:build !crashpoints

package pipeline_test

import (
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// A release build (no "crashpoints" tag) never reads IDBATCH_CRASH_AT: an
// armed crash point does nothing.
func TestCrashPointsCompiledOut(t *testing.T) {
	t.Setenv(pipeline.CrashEnv, pipeline.CrashBeforeToken)
	pipeline.CrashPoint(pipeline.CrashBeforeToken) // would SIGKILL the test binary if compiled in
}
