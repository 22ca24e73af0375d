// Package results collects verification results: an http.Handler for
// iDenfy's signed webhooks, and a sparse poller for results that are overdue.
// Both store results through pipeline.ApplyResult, so a record never moves
// backwards and duplicates or out-of-order deliveries are harmless.
//
// It also ends a result's life: Delete deletes old, exported, final
// verifications at iDenfy (GDPR), records deleted_at in the Store and
// rewrites the job's deletions log (DeletionsLogPath) beside the export.
//
// # When a result is final
//
// A final result ends the record (state final) with an outcome from the
// exported enum: APPROVED, DENIED, SUSPECTED or EXPIRED. A result is final
// only when its overall status says so:
//
//   - EXPIRED, EXPIRED-DELETED and DELETED are final, whatever the payload's
//     final flag says (the verification never happened or is gone);
//   - APPROVED, DENIED and SUSPECTED are final when the webhook says
//     final:true, or, when polled, once the manual fields are filled (or
//     results.expect_manual_review is false);
//   - any other overall status — REVIEWING, ACTIVE, ARCHIVED, empty, or a
//     value iDenfy may add — is never final, even in a webhook with
//     final:true. It is stored as an automatic result (kept whole in
//     raw_result), the record keeps waiting, and the poller asks /status
//     for it once it is overdue. A final:true that contradicts the status is
//     treated as a sender's error, not as a verdict.
//
// pipeline.Result.Outcome maps anything else to FAILED as a last guard, and
// the export writes such a row with error_code unexpected_status.
//
// # What is stored
//
// Every string of a stored result is valid UTF-8 (idenfy decodes invalid
// bytes as U+FFFD), and the raw payload is stored sanitized by
// idenfy.SanitizeRaw: pre-signed URLs removed at any depth, invalid UTF-8
// replaced, otherwise as iDenfy sent it.
//
// # Pre-flight
//
// CheckWebhook (for validate -check) checks the webhook settings without
// sending anything: the callback URL iDenfy will call (https, reachable
// host), the receiver's listen address (bound and closed at once), its path
// and the presence of the signing key.
package results
