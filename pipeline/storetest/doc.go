// Package storetest is the conformance suite every pipeline.Store must pass.
//
// A Store's own test calls Run with a function that opens a fresh, empty
// Store (a new SQLite file, a new PostgreSQL schema) and arranges for it to be
// closed when the test ends:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) pipeline.Store {
//			s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "idbatch.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite has one file per area of the contract (load.go, claim.go,
// transition.go, lookup.go, list.go, export.go, runs.go, lifecycle.go,
// locks.go, concurrent.go), each with a runX function that Run calls; it
// imports only pipeline. Benchmarks that need ingest live in
// pipeline/storebench.
//
// Subtests run in parallel, each on its own Store, so open is called
// concurrently. A Store that several handles or processes can share also runs
// Concurrent with several handles on one database (for SQLite: two Stores on
// one file, that is, separate connections).
//
// Beyond the comments of pipeline.Store, the suite pins down what they leave
// open, so that every Store behaves the same:
//
//   - Times round-trip at microsecond precision and compare with time.Equal;
//     the zero time means "never" and round-trips as the zero time.
//   - Versions start at a positive value and every write (Load update, Claim,
//     Transition, MarkExported) increments them.
//   - Load fills in an empty Ref (pipeline.RefFor), Job and State (pending);
//     a record without a Key, of another job or in a state other than
//     pending or rejected, or a Ref that another record holds, fails the
//     whole batch; a key given twice in one batch is one record, the last row.
//   - Load takes Key, Ref, Line, Input, State (empty = pending), RejectReason,
//     ErrorCode, ErrorMessage, Outcome and RunID from each record; a record
//     loaded rejected without an Outcome gets OutcomeRejected. An updated
//     record has its input, line, state and reasons replaced, exported_at
//     cleared and its version incremented, so that a worker holding it loses
//     its next versioned transition (ErrConflict).
//   - Claim is called with Job, Owner, States and a positive Lease; a lease
//     expires at LeaseUntil (a claim at exactly that instant may take the
//     record). Claiming increments the version, so a worker whose lease
//     expired and was taken over loses its next versioned transition.
//   - Transition of a missing id wraps ErrNotFound, of a record in another
//     state or version wraps ErrConflict; either way nothing changes. Setting
//     a scanRef that another record holds is an error and changes nothing.
//   - Result.Raw round-trips byte for byte.
//   - List with Limit <= 0 returns every match; SubmittedBefore is strict and
//     excludes records never submitted; NotBefore keeps records without one.
//   - MarkExported ignores records not in an end state and records already
//     exported; Counts returns 0 (or no entry) for empty states.
//   - Runs lists the latest runs first; FinishRun of an unknown run wraps
//     ErrNotFound.
//   - Lock is held by one owner at a time per job and name until it expires
//     or is released; its holder renews it (Lock or Renew), Renew even after
//     the expiry unless another owner took it meanwhile; another owner's
//     Unlock does nothing; of 8 owners racing for a free lock one gets it.
package storetest
