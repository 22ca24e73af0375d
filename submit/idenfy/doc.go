// Package idenfy is the HTTP client of iDenfy's KYC API as idbatch uses it:
// session tokens, Direct Processing uploads, status/data/files retrieval,
// deletion, dummy results, and the result webhook. It owns every wire format
// (requests, responses, the webhook payload, the error body), the webhook
// signature, and the classification of errors. It imports only the standard
// library; the reference is ../shared/idenfy-api.md.
//
// # Calls and what is retried
//
// Every call is a POST with a JSON body, HTTP Basic auth (API key and
// secret) and Content-Type application/json. Limiter.Wait runs before every
// attempt, so retries are paced like first attempts.
//
//	call            idempotent  retried on
//	CreateToken     no (money)  429; network errors before a connection existed
//	Process         no (money)  429; network errors before a connection existed
//	Status, Data,   yes         429, 5xx, INTERNAL_ERROR, any network error
//	Files, Delete,
//	AddDummyStatus
//	CheckCredentials yes        as Status, but once at most (a /status
//	                            of a made-up scanRef; see its comment)
//
// Retries use exponential backoff with jitter (Config.MinBackoff,
// Config.MaxBackoff), honour Retry-After (seconds or HTTP-date) and stop when
// the context ends. After a 429 the client calls Limiter.Throttled.
//
// CreateToken and Process are never repeated once the request may have left:
// a timeout, a reset connection, a cancelled context after sending, an
// unreadable success body, or a 5xx / INTERNAL_ERROR answer returns an error
// wrapping ErrAmbiguous. The caller reconciles (a /status of the scanRef
// says ACTIVE when the upload never landed) instead of paying twice.
//
// # Errors
//
// A non-success answer is an *APIError (HTTP status, identifier, message,
// Retry-After, endpoint). Classify with IsFatal (stop the run: credentials,
// credits, account), IsRetryable (transient), IsTokenNotValid, IsConflict
// (409, active session for the clientId), IsNotFound, IsOutOfCredits, and
// errors.Is with ErrPhotoRejected (/process answered 200 with a message: no
// document detected) and ErrAmbiguous. Check ErrAmbiguous before
// IsRetryable: an ambiguous call is transient but may have taken effect.
//
// # Decoding
//
// Responses and webhooks are decoded tolerantly: unknown fields are ignored,
// null is the zero value, enums are open strings, and one field of an
// unexpected JSON type never fails a whole result. Each wire type lists its
// keys in a table of small field decoders (lenient.go), without reflection.
// Every decoded string is valid UTF-8 (invalid bytes become U+FFFD). Each
// decoded type keeps the bytes it came from in Raw, as received.
//
// # Webhooks
//
// Verify the raw body with VerifySignature (HMAC-SHA256, hex, constant-time)
// before ParseWebhook. Store results with SanitizeRaw: it removes the
// pre-signed URLs (fileUrls and additionalStepPdfUrls at any depth, and any
// string that looks like a pre-signed URL), which are credentials to
// personal images, and makes every string valid UTF-8, so the stored JSON is
// readable by every engine.
//
// # Logs
//
// The client logs endpoint, attempt, HTTP status, identifier and timing only:
// never bodies, names, images, tokens, file URLs or secrets.
package idenfy
