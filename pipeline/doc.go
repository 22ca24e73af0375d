// Package pipeline is the domain of idbatch: the Record and its lifecycle
// State, the Store contract that persists every record's state, and the
// Runner that drives the stages (ingest, submit, results, export).
// CollectStatus reads a job's status (what `idbatch status` shows) from a
// Store, every count made by the Store itself (Store.Stats).
//
// pipeline imports none of the stage packages. Stages import pipeline and
// declare the narrow interfaces they need; cmd/idbatch wires concrete types.
//
// # Lifecycle
//
//	pending ──prepare──▶ (in memory) ──intent──▶ tokening ──token stored──▶ tokened ──process──▶ submitted ──result──▶ final
//	   │                                          │                           │                    │
//	   └─▶ rejected                               └─▶ orphan (crash)         └─▶ failed/expired   └─▶ (waits across runs)
//
// Images are never written to disk: a record is fetched and normalized in
// memory right before its token is created. A record in pending costs nothing;
// from tokening on, money may have been spent, and every transition is a
// compare-and-set so that no record is ever submitted twice.
//
// # Recovery: liveness decides
//
// Every process that claims records registers as a Worker in the Store and
// heartbeats (HeartbeatEvery, 2 s). A worker that stopped, or whose last
// beat is older than WorkerTimeout (10 s), is dead, and the leases it holds
// are free at once (ClaimRequest.DeadBefore): the Runner takes its records
// under the crash rules — tokening becomes a possible orphan, tokened is
// reconciled with /status, pending is simply claimed. A lease only bounds a
// worker that is alive but stuck. On SQLite, one run at a time holds the
// Store's RunLocker (an OS file lock): taking it proves the previous run is
// gone, so a restart right after a SIGKILL resumes without waiting.
//
// A possible orphan (StateOrphan) carries in NotBefore the instant any token
// it may have has certainly expired (intent + expiryTime + margin); it is
// then claimed, goes back to pending (its attempt counted) and gets a new
// token, unless its token's expiry callback (matched by externalRef) sent it
// back earlier. Never a second /process; at most one extra token.
//
// # One account, many workers
//
// Every API call of every worker on a shared Store draws from one token
// bucket per account kept in the Store (BudgetStore): the sum never exceeds
// the account's limit, whatever the number of workers, and shares follow the
// live workers at once. BudgetStore.Budget reads a bucket without writing,
// for `idbatch status` (Status.Budget) and the metrics.
package pipeline
