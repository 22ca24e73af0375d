package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// TestReleaseBinaryHasNoCrashPoints: crash points compile only under the
// build tag "crashpoints". A binary built without it (as released; here with
// the flags of the tests' binary, so that only pipeline and the packages
// above it are compiled again) never reads IDBATCH_CRASH_AT: the name is not
// in it. The tests' binary, built with the tag, has it.
func TestReleaseBinaryHasNoCrashPoints(t *testing.T) {
	t.Parallel()
	release := filepath.Join(t.TempDir(), "idbatch")
	if out, err := goBuild(t.Context(), release); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		bin  string
		want bool
	}{{release, false}, {binPath, true}} {
		b, err := os.ReadFile(c.bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte(pipeline.CrashEnv)); got != c.want {
			t.Errorf("%s holds %q: %v, want %v", c.bin, pipeline.CrashEnv, got, c.want)
		}
	}
}
