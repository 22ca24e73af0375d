package idenfy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Identifiers of the standard error body (§9.1 of idenfy-api.md). Match on
// these, never on messages. The list is open: iDenfy may add identifiers.
const (
	IdentifierInternalError        = "INTERNAL_ERROR"
	IdentifierBadValue             = "BAD_VALUE"
	IdentifierMissingValue         = "MISSING_VALUE"
	IdentifierUnauthorized         = "UNAUTHORIZED"
	IdentifierEncodingError        = "ENCODING_ERROR"
	IdentifierJSONError            = "JSON_ERROR"
	IdentifierTokenNotValid        = "TOKEN_NOT_VALID"
	IdentifierPartnerContractError = "PARTNER_CONTRACT_ERROR"
	IdentifierMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	IdentifierPermissionsError     = "PERMISSIONS_ERROR"
	IdentifierTooManyRequests      = "TOO_MANY_REQUESTS"
	IdentifierValidationError      = "VALIDATION_ERROR"
	IdentifierPartnerError         = "PARTNER_ERROR"
	// IdentifierNotFound is what the idenfytest sandbox answers (HTTP 404) for
	// an unknown scanRef; the real API's answer to that is not documented.
	IdentifierNotFound = "NOT_FOUND"
)

// MessageTokenLimit is the message of the PERMISSIONS_ERROR that means the
// account is out of verification credits.
const MessageTokenLimit = "Partner reached token limit."

// DocumentationURL is the "documentation" value of iDenfy's error bodies.
const DocumentationURL = "https://documentation.idenfy.com"

// ErrorBody is the standard error body of the API (§9.1). Token errors that
// happen before request processing (§9.2) carry only Message.
type ErrorBody struct {
	Identifier    string `json:"identifier,omitempty"`
	Message       string `json:"message"`
	Documentation string `json:"documentation,omitempty"`
	Severity      string `json:"severity,omitempty"`
}

func (e *ErrorBody) fields() fields {
	return fields{
		"identifier": text(&e.Identifier), "message": text(&e.Message),
		"documentation": text(&e.Documentation), "severity": text(&e.Severity),
	}
}

var (
	// ErrPhotoRejected is wrapped by the *APIError returned when /process
	// answers HTTP 200 with a message or identifier: iDenfy did not detect a
	// document (or face) in a photo. The verification did not start. A resend
	// (better photo, or SkipAnalysis) needs a new token.
	ErrPhotoRejected = errors.New("idenfy: photo rejected at upload (document not detected)")

	// ErrAmbiguous is wrapped when a call to /token or /process may have taken
	// effect at iDenfy but its outcome is unknown: the request was (or may
	// have been) sent and no usable answer came (timeout, connection reset,
	// cancellation after sending, unreadable success body), or iDenfy answered
	// 5xx/INTERNAL_ERROR. Such calls are never retried by the client. The
	// caller reconciles (/status of the scanRef: ACTIVE means the upload did
	// not land) before spending anything again.
	ErrAmbiguous = errors.New("idenfy: request may have been processed, outcome unknown")
)

// APIError is an answer from iDenfy that is not a success: any non-2xx
// response, and a 200 from /process that carries a message (ErrPhotoRejected).
type APIError struct {
	HTTPStatus int           // HTTP status code of the answer
	Identifier string        // §9.1 identifier, "" when the body had none (e.g. §9.2 token errors)
	Message    string        // server message, or the trimmed text of a non-JSON body (capped)
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
	Endpoint   string        // API path, e.g. "/api/v2/process"

	// wrapped is ErrPhotoRejected and/or ErrAmbiguous when they apply.
	wrapped []error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("idenfy ")
	b.WriteString(e.Endpoint)
	fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	if e.Identifier != "" {
		b.WriteString(" ")
		b.WriteString(e.Identifier)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap lets errors.Is find ErrPhotoRejected and ErrAmbiguous.
func (e *APIError) Unwrap() []error { return e.wrapped }

// Throttled reports whether the answer is a rate-limit refusal (HTTP 429 or
// TOO_MANY_REQUESTS). The request was not processed.
func (e *APIError) Throttled() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.Identifier == IdentifierTooManyRequests
}

// ServerError reports whether the answer is an iDenfy-side failure (5xx or
// INTERNAL_ERROR).
func (e *APIError) ServerError() bool {
	return e.HTTPStatus >= 500 || e.Identifier == IdentifierInternalError
}

// beforeSendKey carries the hook of WithBeforeSend.
type beforeSendKey struct{}

// WithBeforeSend returns a context that makes the next call run fn once,
// after the Limiter granted its first attempt and right before the request
// leaves. If fn returns an error, nothing is sent and the call returns an
// error wrapping it (never ErrAmbiguous). The submit stage writes its intent
// there, so that a kill while a call waits on the limiter leaves nothing
// ambiguous behind.
func WithBeforeSend(ctx context.Context, fn func() error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, fn)
}

// notSentError is a call that the WithBeforeSend hook stopped before it left.
type notSentError struct {
	endpoint string
	err      error
}

func (e *notSentError) Error() string {
	return "idenfy " + e.endpoint + ": request not sent: " + e.err.Error()
}
func (e *notSentError) Unwrap() error { return e.err }

// transportError is a failure to get an HTTP answer at all.
type transportError struct {
	endpoint string
	sent     bool // the request may have reached the server
	ctxDone  bool // the caller's context ended; wrapped holds its error
	wrapped  []error
}

func (e *transportError) Error() string {
	msg := "idenfy " + e.endpoint + ": "
	if e.sent {
		msg += "no answer: "
	} else {
		msg += "request not sent: "
	}
	for i, w := range e.wrapped {
		if i > 0 {
			msg += ": "
		}
		msg += w.Error()
	}
	return msg
}

func (e *transportError) Unwrap() []error { return e.wrapped }

func newTransportError(endpoint string, sent, ambiguous, ctxDone bool, err error) error {
	te := &transportError{endpoint: endpoint, sent: sent, ctxDone: ctxDone}
	if ambiguous {
		te.wrapped = append(te.wrapped, ErrAmbiguous)
	}
	te.wrapped = append(te.wrapped, err)
	return te
}

// IsRetryable reports whether err is transient: a network error, HTTP 429 or
// TOO_MANY_REQUESTS, HTTP 5xx or INTERNAL_ERROR. The client has already
// retried such failures as far as that was safe; a caller that retries later
// (record-level backoff) must first check errors.Is(err, ErrAmbiguous): an
// ambiguous /token or /process call is also retryable in this sense but may
// have taken effect, so it must be reconciled, not repeated.
// Context cancellation is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Throttled() || ae.ServerError()
	}
	var te *transportError
	if errors.As(err, &te) {
		return !te.ctxDone
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsFatal reports whether err means the whole run must stop: bad or missing
// credentials (401, UNAUTHORIZED), no funds or spending limit (402), a
// forbidden account or environment (403), out of verification credits
// (PERMISSIONS_ERROR "Partner reached token limit."), or any other
// PERMISSIONS_ERROR / PARTNER_CONTRACT_ERROR: those describe the account or
// the contract, so every further record would fail the same way.
func IsFatal(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.HTTPStatus {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden:
		return true
	}
	switch ae.Identifier {
	case IdentifierUnauthorized, IdentifierPermissionsError, IdentifierPartnerContractError:
		return true
	}
	return false
}

// IsOutOfCredits reports whether err says the account cannot pay for more
// verifications (402, or PERMISSIONS_ERROR "Partner reached token limit.").
// Such errors are also IsFatal.
func IsOutOfCredits(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.HTTPStatus == http.StatusPaymentRequired ||
		(ae.Identifier == IdentifierPermissionsError && strings.Contains(strings.ToLower(ae.Message), "token limit"))
}

// IsTokenNotValid reports whether err is TOKEN_NOT_VALID: the token is
// unknown, expired, or already used (possibly by an earlier upload of the
// same record that landed after all).
func IsTokenNotValid(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Identifier == IdentifierTokenNotValid
}

// IsConflict reports whether err is HTTP 409: the clientId already has an
// active session. Wait for the token to expire, or use another clientId.
func IsConflict(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == http.StatusConflict
}

// IsNotFound reports whether err is HTTP 404 (unknown scanRef in the sandbox;
// a wrong base URL against the real API).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound
}
