// Package idenfytest is an in-memory iDenfy sandbox: an http.Handler that
// serves the KYC endpoints idbatch uses, with the documented validation,
// billing, single-use tokens, timed results and signed webhooks. Tests use it
// through httptest, `idbatch demo` in process, and `idbatch sandbox`
// standalone (Server.Start). Wire formats come from package idenfy, so the
// client and the sandbox cannot drift apart silently.
//
// # Behaviour
//
//   - Every API call needs Basic auth with Options.APIKey/APISecret, else 401
//     {"message":"Invalid authorization credentials"} (no identifier, like
//     the real /token). Wrong method: 405 METHOD_NOT_ALLOWED. Bad JSON: 400
//     JSON_ERROR. Content-Type other than application/json: 415
//     ENCODING_ERROR. Body over MaxRequestBytes: 413 BAD_VALUE. Errors use
//     the standard body {identifier, message, documentation, severity}.
//   - /api/v2/token answers 201 with the request echoed (defaults filled,
//     names upper-cased), message, authToken (40 chars) and scanRef (UUID),
//     and bills one token. dummyStatus creates the verification at once and
//     sends its automatic callback (final unless ManualReview; EXPIRED is
//     always final); a dummy token cannot be used for /process.
//   - /api/v2/process validates token (single use, consumed only by an
//     accepted call; unknown, used, expired or dummy → 400 TOKEN_NOT_VALID),
//     country, documentType and images (FRONT always; BACK for ID_CARD,
//     DRIVER_LICENSE, RESIDENCE_PERMIT; FACE for IDENTIFICATION tokens;
//     UTILITY_BILL when the token asked for it; each a base64 JPEG or PNG
//     within MaxImageBytes). Accepts the token under "authToken" or "token".
//     Success: 200 with an empty body, one process billed, results scheduled.
//   - Results exist AutoDelay (automatic) and ManualDelay (manual, with
//     ManualReview) after /process. /status, /data and /files reflect the
//     time elapsed by Options.Now whether or not a webhook was delivered, so
//     polling alone can complete a job. Before the automatic result /status
//     says REVIEWING; an unused token is ACTIVE, then EXPIRED after its
//     expiryTime (and an expiry callback, final, is sent).
//   - Unknown scanRef: 404 NOT_FOUND (the real API's answer is not documented).
//   - /api/v2/delete: 400 PARTNER_ERROR "Token has not expired yet." while the
//     token is unused and valid, and "Verification is not finished yet."
//     before the final result; then 200 with an empty body (again on a
//     repeat), status DELETED (EXPIRED-DELETED for a never-used token).
//   - /api/v2/add-dummy-status sets the manual result of a dummy
//     verification and sends a final callback.
//   - Callbacks: POST, JSON, signed with idenfy.SignatureHeader =
//     hex(HMAC-SHA256(SigningKey, body)), to the token's callbackUrl or
//     Options.WebhookURL. Callbacks of one verification are sent in order. A
//     non-2xx or network failure is retried WebhookRetries times (3)
//     WebhookRetryInterval apart (500 ms), then recorded as failed.
//   - Outcomes are deterministic: see Decide.
//
// # Test hooks
//
// Charges, Requests, Verifications and Stats return snapshots. InjectFault
// makes the next request(s) to a path fail: answer a status, close the
// connection without handling the request, or handle it and then close the
// connection (a call that took effect but whose answer was lost). RateLimit
// (per RateWindow, default an hour, with RateBurst), TokenLimit and
// ConflictOnActiveClient switch on 429, out-of-credits and 409 answers.
//
// Random faults, each a rate (0 = off) drawn from a generator seeded with
// FaultSeed: ServerErrorRate (500 INTERNAL_ERROR, no effect), Latency (added
// to every answer), ProcessAnswerLostRate (/process applied, connection
// closed), PhotoRejectRate (/process 200 with a message, token spent),
// WebhookDuplicateRate, WebhookReorderRate (manual before automatic) and
// WebhookDropRate (never delivered; /status still completes by time).
//
// Close cancels every timer and delivery and waits for the goroutines.
package idenfytest
