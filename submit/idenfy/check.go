package idenfy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// CheckScanRef is the scanRef CheckCredentials asks about: the nil UUID.
// iDenfy's scanRefs are time-based UUIDs (version 1), so it names no
// verification on any account, and a log line showing it is recognisably
// a check.
const CheckScanRef = "00000000-0000-0000-0000-000000000000"

var (
	// ErrCredentialsRejected is wrapped by CheckCredentials when iDenfy
	// answered 401 (or UNAUTHORIZED): wrong or missing API key or secret,
	// or a key of another environment.
	ErrCredentialsRejected = errors.New("iDenfy rejected the API key/secret")
	// ErrAccountRefused is wrapped by CheckCredentials when iDenfy accepted
	// the key but refuses the account: 402 (no funds), 403 (partner
	// inactive, endpoint not available for the environment),
	// PERMISSIONS_ERROR or PARTNER_CONTRACT_ERROR. A run would stop at its
	// first call (IsFatal).
	ErrAccountRefused = errors.New("iDenfy refused the account")
	// ErrUnreachable is wrapped by CheckCredentials when no HTTP answer came
	// from the base URL (DNS, connection refused, TLS, timeout).
	ErrUnreachable = errors.New("cannot reach iDenfy")
)

// errLimiter is wrapped by the error of a call that its Limiter's Wait
// refused (context ended while waiting): nothing was sent.
var errLimiter = errors.New("limiter")

// checkRetries is how many times CheckCredentials retries a transient
// failure: none. The pre-flight promises exactly one call, and a 429 it
// met must not be followed by another (on a shared Store it pauses the
// account); a blip fails the check, which says so, and running it again is
// cheap.
const checkRetries = 0

// CheckCredentials makes the cheapest authenticated call iDenfy offers and
// reports whether the API key and secret are accepted. It returns nil when
// they are, or an error wrapping ErrCredentialsRejected (401),
// ErrAccountRefused (402/403, PERMISSIONS_ERROR, PARTNER_CONTRACT_ERROR),
// ErrUnreachable (no answer), or describing another answer (a 404 that is
// not iDenfy's, a 5xx, a 429) under which the credentials stay unconfirmed.
// Error messages name the base URL (without any userinfo) and never the key
// or the secret.
//
// The call is POST /api/v2/status for CheckScanRef, a verification that
// does not exist. Why that call (idenfy-api.md):
//
//   - Every server-side endpoint needs HTTP Basic auth, and authentication
//     comes before the request is handled: a wrong key or secret is 401
//     "Invalid authorization credentials" (§9.2), whatever the body.
//   - /status is a read: it creates nothing and costs no verification.
//     /token would also prove the key, but it creates a session (a scanRef
//     that stays ACTIVE until expiry, an entry in the Dashboard, and a
//     credit at risk: "repeated tokens can consume extra credits", §2.2).
//     /data and /files are reads too but return personal data for a real
//     scanRef; /delete is destructive.
//   - For a scanRef that does not exist, iDenfy answers with its standard
//     error body (an identifier: the sandbox says 404 NOT_FOUND; the real
//     code is not documented, a 400 BAD_VALUE would read the same). Any
//     answer carrying an identifier other than UNAUTHORIZED,
//     PERMISSIONS_ERROR, PARTNER_CONTRACT_ERROR, TOO_MANY_REQUESTS or
//     INTERNAL_ERROR was produced after authentication, so the key is
//     accepted. A 404 without an identifier is not iDenfy's: the base URL
//     points elsewhere.
//   - Polling /status is discouraged (§4), but one call per pre-flight is
//     not polling.
//
// The call goes through the client's Limiter like every other (Wait before
// each attempt, Throttled after a 429), so a shared account budget counts
// it, and a WithBeforeSend hook on ctx runs as for any call. Transient
// failures (network, 5xx, 429) are not retried (checkRetries): the check
// is one call, and says what stopped it.
func (c *Client) CheckCredentials(ctx context.Context) error {
	body, err := json.Marshal(ScanRefRequest{ScanRef: CheckScanRef})
	if err != nil {
		return err
	}
	_, _, err = c.doRetries(ctx, PathStatus, true, body, min(c.maxRetries, checkRetries))
	return c.checkError(err)
}

// checkError turns the outcome of the check call into CheckCredentials'
// answer.
func (c *Client) checkError(err error) error {
	if err == nil {
		return nil // a 2xx: authenticated (odd for a made-up scanRef, but not a refusal)
	}
	where := c.BaseURL()
	var ae *APIError
	if !errors.As(err, &ae) {
		var te *transportError
		if errors.As(err, &te) && te.sent {
			return &checkError{msg: fmt.Sprintf("no answer from base_url %s: %v", where, rootCause(te)), wrapped: []error{ErrUnreachable, err}}
		}
		var ns *notSentError
		if errors.As(err, &ns) {
			return err // the caller's hook stopped it
		}
		if errors.Is(err, errLimiter) {
			why := "the rate limiter did not grant one before the deadline"
			if !errors.Is(err, context.DeadlineExceeded) {
				why = err.Error()
			}
			return &checkError{msg: "no call made: " + why + "; credentials not confirmed", wrapped: []error{err}}
		}
		return &checkError{msg: fmt.Sprintf("cannot reach base_url %s: %v", where, rootCause(err)), wrapped: []error{ErrUnreachable, err}}
	}
	what := answerText(ae)
	switch {
	case ae.HTTPStatus == http.StatusUnauthorized || ae.Identifier == IdentifierUnauthorized:
		return &checkError{msg: fmt.Sprintf("%v (%s): check the key and the secret, and that they belong to the environment (DEV/TEST/PROD) meant; base_url %s",
			ErrCredentialsRejected, what, where), wrapped: []error{ErrCredentialsRejected, err}}
	case ae.HTTPStatus == http.StatusPaymentRequired || ae.HTTPStatus == http.StatusForbidden ||
		ae.Identifier == IdentifierPermissionsError || ae.Identifier == IdentifierPartnerContractError:
		return &checkError{msg: fmt.Sprintf("%v (%s): the key is valid, but a run would stop at its first call", ErrAccountRefused, what),
			wrapped: []error{ErrAccountRefused, err}}
	case ae.Throttled():
		return &checkError{msg: fmt.Sprintf("iDenfy rate-limited the check (%s): credentials not confirmed, try again later", what), wrapped: []error{err}}
	case ae.ServerError():
		return &checkError{msg: fmt.Sprintf("iDenfy failed to answer (%s): credentials not confirmed", what), wrapped: []error{err}}
	case ae.Identifier != "":
		return nil // handled after authentication: e.g. 404 NOT_FOUND for the made-up scanRef
	}
	text := ""
	if ae.Message != "" {
		text = " (" + ae.Message + ")"
	}
	return &checkError{msg: fmt.Sprintf("base_url %s answered POST %s with HTTP %d%s without iDenfy's error body: is base_url the API's address?",
		where, PathStatus, ae.HTTPStatus, text), wrapped: []error{err}}
}

// answerText is "401: message" or "404 NOT_FOUND: message".
func answerText(ae *APIError) string {
	s := fmt.Sprintf("HTTP %d", ae.HTTPStatus)
	if ae.Identifier != "" {
		s += " " + ae.Identifier
	}
	if ae.Message != "" {
		s += ": " + ae.Message
	}
	return s
}

// rootCause returns the innermost error of a transport failure (the dial,
// DNS or TLS error) without the client's prefixes: "dial tcp
// 127.0.0.1:1: connect: connection refused".
func rootCause(err error) error {
	for {
		var next error
		switch e := err.(type) {
		case *transportError:
			for _, w := range e.wrapped {
				if w != ErrAmbiguous {
					next = w
				}
			}
		case *url.Error:
			next = e.Err
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// BaseURL returns the API base URL the client calls, without any userinfo
// (safe to show).
func (c *Client) BaseURL() string {
	u, err := url.Parse(c.baseURL)
	if err != nil || u.Host == "" {
		return c.baseURL
	}
	u.User = nil
	return u.String()
}

// checkError is an error of CheckCredentials: a message written for the
// operator, and what it wraps for errors.Is and errors.As.
type checkError struct {
	msg     string
	wrapped []error
}

func (e *checkError) Error() string   { return e.msg }
func (e *checkError) Unwrap() []error { return e.wrapped }
