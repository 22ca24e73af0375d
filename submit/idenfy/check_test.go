package idenfy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

func TestCheckCredentialsAccepted(t *testing.T) {
	t.Parallel()
	lim := &fakeLimiter{}
	srv, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{Limiter: lim})
	if err := c.CheckCredentials(t.Context()); err != nil {
		t.Fatalf("CheckCredentials with the sandbox's keys: %v", err)
	}
	if n := srv.Requests()[idenfy.PathStatus]; n != 1 || len(srv.Requests()) != 1 {
		t.Errorf("requests = %v, want one /status", srv.Requests())
	}
	if ch := srv.Charges(); ch.TokensCreated != 0 || ch.ProcessesAccepted != 0 {
		t.Errorf("charges = %+v, want none", ch)
	}
	if waits, _ := lim.snapshot(); waits != 1 {
		t.Errorf("limiter waits = %d, want 1: the check is paced like any call", waits)
	}
	// A WithBeforeSend hook runs for it as for any call.
	ran := false
	if err := c.CheckCredentials(idenfy.WithBeforeSend(t.Context(), func() error { ran = true; return nil })); err != nil || !ran {
		t.Errorf("with a before-send hook: err %v, hook ran %v", err, ran)
	}
}

func TestCheckCredentialsRejected(t *testing.T) {
	t.Parallel()
	for _, cfg := range []idenfy.Config{
		{APIKey: idenfytest.DefaultAPIKey, APISecret: "wrong-secret-value"},
		{APIKey: "wrong-key-value", APISecret: idenfytest.DefaultAPISecret},
	} {
		srv, c := newSandbox(t, idenfytest.Options{}, cfg)
		err := c.CheckCredentials(t.Context())
		if !errors.Is(err, idenfy.ErrCredentialsRejected) || errors.Is(err, idenfy.ErrUnreachable) {
			t.Fatalf("err = %v, want ErrCredentialsRejected", err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "iDenfy rejected the API key/secret (HTTP 401: Invalid authorization credentials)") {
			t.Errorf("message = %q", msg)
		}
		if strings.Contains(msg, "wrong-") || strings.Contains(msg, idenfytest.DefaultAPISecret) {
			t.Errorf("message leaks a credential: %q", msg)
		}
		var ae *idenfy.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized || !idenfy.IsFatal(err) {
			t.Errorf("errors.As APIError: %v", ae)
		}
		if n := srv.Requests()[idenfy.PathStatus]; n != 1 {
			t.Errorf("requests = %d, want 1 (401 is not retried)", n)
		}
	}
}

func TestCheckCredentialsUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	lim := &fakeLimiter{}
	c := idenfy.New(idenfy.Config{BaseURL: "http://user:pw-in-url@" + addr, APIKey: "k", APISecret: "s", Limiter: lim,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	err = c.CheckCredentials(t.Context())
	if !errors.Is(err, idenfy.ErrUnreachable) || errors.Is(err, idenfy.ErrCredentialsRejected) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	want := "cannot reach base_url http://" + addr + ": dial tcp " + addr + ": connect: connection refused"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if waits, _ := lim.snapshot(); waits != 1 {
		t.Errorf("attempts = %d, want 1 (the pre-flight makes exactly one call, not MaxRetries)", waits)
	}

	// Unknown host.
	c = idenfy.New(idenfy.Config{BaseURL: "http://idbatch-no-such-host.invalid", APIKey: "k", APISecret: "s", MaxRetries: -1})
	if err := c.CheckCredentials(t.Context()); !errors.Is(err, idenfy.ErrUnreachable) ||
		!strings.HasPrefix(err.Error(), "cannot reach base_url http://idbatch-no-such-host.invalid: ") {
		t.Errorf("unknown host: %v", err)
	}
}

func TestCheckCredentialsNoAnswer(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); ts.Close() })
	c := idenfy.New(idenfy.Config{BaseURL: ts.URL, APIKey: "k", APISecret: "s"})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := c.CheckCredentials(ctx)
	if !errors.Is(err, idenfy.ErrUnreachable) || !strings.HasPrefix(err.Error(), "no answer from base_url "+ts.URL+": ") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckCredentialsOtherAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		faults   []idenfytest.Fault
		wrongURL bool
		is       error  // wrapped sentinel, nil = none
		ok       bool   // CheckCredentials returns nil
		prefix   string // of the message
		requests int
	}{
		{name: "partner inactive", faults: []idenfytest.Fault{{Status: 403, Message: "Partner inactive"}},
			is: idenfy.ErrAccountRefused, prefix: "iDenfy refused the account (HTTP 403: Partner inactive)", requests: 1},
		{name: "no funds", faults: []idenfytest.Fault{{Status: 402, Message: "Action not allowed due to lack of funds or exceeded limit."}},
			is: idenfy.ErrAccountRefused, prefix: "iDenfy refused the account (HTTP 402: Action not allowed", requests: 1},
		{name: "UNAUTHORIZED identifier", faults: []idenfytest.Fault{{Status: 400, Identifier: "UNAUTHORIZED", Message: "Bad key."}},
			is: idenfy.ErrCredentialsRejected, prefix: "iDenfy rejected the API key/secret (HTTP 400 UNAUTHORIZED: Bad key.)", requests: 1},
		{name: "rate limited", faults: []idenfytest.Fault{
			{Status: 429, Identifier: "TOO_MANY_REQUESTS", Message: "Requests per hour limit has been reached.", RetryAfter: "0"}},
			prefix: "iDenfy rate-limited the check (HTTP 429 TOO_MANY_REQUESTS", requests: 1},
		{name: "server error", faults: []idenfytest.Fault{
			{Status: 500, Identifier: "INTERNAL_ERROR", Message: "Internal server error."}},
			prefix: "iDenfy failed to answer (HTTP 500 INTERNAL_ERROR: Internal server error.): credentials not confirmed", requests: 1},
		{name: "gateway error", faults: []idenfytest.Fault{{Status: 503}}, prefix: "iDenfy failed to answer (HTTP 503", requests: 1},
		{name: "validation error after auth", faults: []idenfytest.Fault{{Status: 400, Identifier: "BAD_VALUE", Message: "Invalid scanRef."}},
			ok: true, requests: 1},
		{name: "wrong base URL", wrongURL: true, prefix: "base_url http://", requests: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := idenfytest.New(idenfytest.Options{})
			ts := httptest.NewServer(srv)
			t.Cleanup(func() { ts.Close(); srv.Close() })
			srv.InjectFault(idenfy.PathStatus, tc.faults...)
			base := ts.URL
			if tc.wrongURL {
				base += "/v1"
			}
			lim := &fakeLimiter{}
			c := idenfy.New(idenfy.Config{BaseURL: base, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret,
				Limiter: lim, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			err := c.CheckCredentials(t.Context())
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
			} else {
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.HasPrefix(err.Error(), tc.prefix) {
					t.Errorf("message = %q, want prefix %q", err, tc.prefix)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("err = %v, want it to wrap %v", err, tc.is)
				}
				if tc.is == nil && (errors.Is(err, idenfy.ErrCredentialsRejected) || errors.Is(err, idenfy.ErrAccountRefused)) {
					t.Errorf("err = %v: the credentials are not known to be bad", err)
				}
			}
			if n := srv.Requests()[idenfy.PathStatus]; n != tc.requests {
				t.Errorf("requests = %d, want %d", n, tc.requests)
			}
			if strings.HasPrefix(tc.name, "rate limited") {
				if _, throttled := lim.snapshot(); len(throttled) != 1 {
					t.Errorf("Throttled calls = %d, want 1 (the limiter hears of the 429)", len(throttled))
				}
			}
		})
	}
}

// blockingLimiter never grants a call.
type blockingLimiter struct{}

func (blockingLimiter) Wait(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
func (blockingLimiter) Throttled(time.Duration)        {}

func TestCheckCredentialsLimiterTimeout(t *testing.T) {
	t.Parallel()
	srv, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{Limiter: blockingLimiter{}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := c.CheckCredentials(ctx)
	if err == nil || errors.Is(err, idenfy.ErrUnreachable) || errors.Is(err, idenfy.ErrCredentialsRejected) ||
		err.Error() != "no call made: the rate limiter did not grant one before the deadline; credentials not confirmed" {
		t.Errorf("err = %v", err)
	}
	if n := srv.Requests()[idenfy.PathStatus]; n != 0 {
		t.Errorf("requests = %d, want none", n)
	}
}
