// Package results collects verification results: an http.Handler for
// iDenfy's signed webhooks, and a sparse poller for results that are overdue.
// Both store results through pipeline.ApplyResult, so a record never moves
// backwards and duplicates or out-of-order deliveries are harmless.
package results
