// Package pipeline is the domain of idbatch: the Record and its lifecycle
// State, the Store contract that persists every record's state, and the
// Runner that drives the stages (ingest, submit, results, export).
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
package pipeline
