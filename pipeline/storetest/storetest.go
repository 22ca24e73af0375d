package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// T0 is the suite's clock: every time it writes is T0 plus whole
// microseconds, so that every Store can represent it exactly.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// at returns T0 + d.
func at(d time.Duration) time.Time { return T0.Add(d) }

// Records returns n pending manifest records of job with keys
// "client-<from>" … "client-<from+n-1>", lines from+2 on, and Refs from
// pipeline.RefFor.
func Records(job string, from, n int) []pipeline.Record {
	out := make([]pipeline.Record, n)
	for i := range n {
		key := fmt.Sprintf("client-%d", from+i)
		out[i] = pipeline.Record{
			Job:  job,
			Key:  key,
			Ref:  pipeline.RefFor(job, key),
			Line: from + i + 2,
			Input: pipeline.Input{
				ClientID:     key,
				FirstName:    "Jonas",
				LastName:     "Jonaitis",
				DateOfBirth:  "1990-01-02",
				Country:      "LT",
				DocumentType: "ID_CARD",
				Sources: map[pipeline.Side]string{
					pipeline.SideFront: "customers/" + key + "/front.jpg",
					pipeline.SideFace:  "customers/" + key + "/face.jpg",
				},
				Extra: map[string]string{"branch": "vilnius"},
			},
			State: pipeline.StatePending,
		}
	}
	return out
}

// Run runs the conformance suite. open must return a fresh, empty Store and
// close it when the test ends (t.Cleanup); it is called once per subtest,
// concurrently.
//
// One area of the contract per file, as river's riverdrivertest: each runX
// below runs its area's subtests (flat names: TestConformance/ClaimLease).
// A new area is a new file and one line here.
func Run(t *testing.T, open func(t *testing.T) pipeline.Store) {
	runLoad(t, open)                         // load.go
	runClaim(t, open)                        // claim.go
	runTransition(t, open)                   // transition.go
	runLookup(t, open)                       // lookup.go
	runList(t, open)                         // list.go
	runExport(t, open)                       // export.go
	runRuns(t, open)                         // runs.go
	runLifecycle(t, open)                    // lifecycle.go
	runLocks(t, open)                        // locks.go
	runWorkers(t, open)                      // workers.go
	t.Run("Concurrent", func(t *testing.T) { // concurrent.go
		t.Parallel()
		Concurrent(t, open(t))
	})
}

// parallel runs fn as the parallel subtest name, on a Store of its own.
func parallel(t *testing.T, open func(t *testing.T) pipeline.Store, name string, fn func(t *testing.T, s pipeline.Store)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, open(t))
	})
}
