package idenfy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limiter paces requests. The client calls Wait before every HTTP attempt
// (retries included) and Throttled after every 429 / TOO_MANY_REQUESTS. If
// the Limiter also has a method Succeeded(), the client calls it after every
// answer that is not a 429 (adaptive limiters use it to measure the rate
// the server accepts).
type Limiter interface {
	Wait(ctx context.Context) error     // called before every HTTP request
	Throttled(retryAfter time.Duration) // called after each 429/TOO_MANY_REQUESTS (retryAfter 0 if no Retry-After header)
}

// Config configures a Client. Only APIKey and APISecret are required.
type Config struct {
	BaseURL   string // default DefaultBaseURL
	APIKey    string
	APISecret string

	// ProcessTokenField is the JSON key of the token in /process:
	// "authToken" (default, every request example of the docs) or "token"
	// (newest docs). Any other non-empty value is sent verbatim.
	ProcessTokenField string

	// HTTPClient is used for every call; nil = a client with a 60 s overall
	// timeout per attempt. Its Timeout bounds an upload too: a 20 MB /process
	// body needs about 3 Mbit/s to fit in 60 s.
	HTTPClient *http.Client
	Limiter    Limiter // nil = none

	// MaxRetries is how many times a retryable failure is retried (so at most
	// MaxRetries+1 attempts). 0 = default 5; negative = never retry.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff with jitter
	// between retries. Defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryWait caps a single wait: a Retry-After longer than this ends the
	// retries and returns the *APIError (RetryAfter set) so the caller can
	// reschedule. Default 2 min.
	MaxRetryWait time.Duration

	// Logger receives one debug line per attempt and a warning per retry:
	// endpoint, attempt, HTTP status, identifier, duration. Never bodies,
	// personal data, tokens, URLs of files or secrets. nil = discard.
	Logger *slog.Logger
}

// Client calls iDenfy's KYC API. It is safe for concurrent use.
//
// Retries: before every attempt the client calls Limiter.Wait. A 429 (or
// TOO_MANY_REQUESTS) is retried on every endpoint after Limiter.Throttled,
// honouring Retry-After, because the request was not processed. /status,
// /data, /files, /delete and /add-dummy-status are idempotent: 5xx,
// INTERNAL_ERROR and network errors are retried too. /token and /process
// cost money and are not idempotent: they are retried only when the
// request certainly never left (no connection was obtained: dial, DNS, TLS
// errors); a 5xx, INTERNAL_ERROR or any later network failure is returned at
// once, wrapping ErrAmbiguous, and never retried.
type Client struct {
	baseURL      string
	key, secret  string
	tokenField   string
	hc           *http.Client
	lim          Limiter
	maxRetries   int
	minBackoff   time.Duration
	maxBackoff   time.Duration
	maxRetryWait time.Duration
	log          *slog.Logger
}

// Log keys.
const (
	logEndpoint   = "endpoint"
	logAttempt    = "attempt"
	logHTTPStatus = "http_status"
	logIdentifier = "identifier"
	logDuration   = "duration"
	logWait       = "wait"
	logError      = "err" // as pipeline.LogKeyErr
)

const (
	maxErrorBody   = 64 << 10 // bytes of an error body read
	maxErrorText   = 512      // characters of a non-JSON error body kept
	maxSuccessBody = 16 << 20 // bytes of a success body read
)

// New returns a Client for cfg. It does not contact the API.
func New(cfg Config) *Client {
	c := &Client{
		baseURL:      strings.TrimRight(cfg.BaseURL, "/"),
		key:          cfg.APIKey,
		secret:       cfg.APISecret,
		tokenField:   cfg.ProcessTokenField,
		hc:           cfg.HTTPClient,
		lim:          cfg.Limiter,
		maxRetries:   cfg.MaxRetries,
		minBackoff:   cfg.MinBackoff,
		maxBackoff:   cfg.MaxBackoff,
		maxRetryWait: cfg.MaxRetryWait,
		log:          cfg.Logger,
	}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.tokenField == "" {
		c.tokenField = "authToken"
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		// Shorter than the usual server/load-balancer keep-alive (60–75 s): a
		// POST written to a connection the server is closing fails after
		// sending, which makes a /process ambiguous for nothing.
		tr.IdleConnTimeout = 30 * time.Second
		tr.ResponseHeaderTimeout = 60 * time.Second
		c.hc = &http.Client{Timeout: 60 * time.Second, Transport: tr}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = 5
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.minBackoff <= 0 {
		c.minBackoff = 500 * time.Millisecond
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = 30 * time.Second
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	if c.maxRetryWait <= 0 {
		c.maxRetryWait = 2 * time.Minute
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// CreateToken creates a verification session (POST /api/v2/token) and
// returns its scanRef and authToken. HTTP 200 and 201 are success. Not
// idempotent: see Client for what is retried. A success body that cannot be
// read or lacks scanRef/authToken is an error wrapping ErrAmbiguous (a token
// may exist).
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	body, err := json.Marshal(req.body())
	if err != nil {
		return TokenResponse{}, fmt.Errorf("idenfy %s: encode request: %w", PathToken, err)
	}
	status, resp, err := c.do(ctx, PathToken, false, body)
	if err != nil {
		return TokenResponse{}, err
	}
	var tr TokenResponse
	if err := decodeInto(resp, &tr); err != nil {
		return TokenResponse{}, fmt.Errorf("idenfy %s: HTTP %d: unreadable success body: %w: %w", PathToken, status, ErrAmbiguous, err)
	}
	if tr.ScanRef == "" || tr.AuthToken == "" {
		return TokenResponse{}, fmt.Errorf("idenfy %s: HTTP %d: success body without scanRef or authToken: %w", PathToken, status, ErrAmbiguous)
	}
	tr.HTTPStatus = status
	return tr, nil
}

// Process uploads the images of a verification (POST /api/v2/process,
// Direct Processing). It consumes the token. nil means iDenfy queued the
// verification; its result arrives by webhook. A 200 that carries a
// message or identifier is an *APIError wrapping ErrPhotoRejected. Never
// retried blindly: see Client.
func (c *Client) Process(ctx context.Context, req ProcessRequest) error {
	body, err := c.processBody(req)
	if err != nil {
		return err
	}
	status, resp, err := c.do(ctx, PathProcess, false, body)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimSpace(resp)
	if len(trimmed) == 0 {
		return nil
	}
	var eb ErrorBody
	if trimmed[0] != '{' || decodeInto(trimmed, &eb) != nil {
		// Not documented; a body that is not an error object is not a
		// rejection (treating it as one would make the caller pay twice).
		c.log.Warn("idenfy: unexpected /process success body, treated as accepted",
			logEndpoint, PathProcess, logHTTPStatus, status, "bytes", len(trimmed))
		return nil
	}
	if eb.Message == "" && eb.Identifier == "" {
		return nil
	}
	return &APIError{
		HTTPStatus: status,
		Identifier: eb.Identifier,
		Message:    capText(eb.Message),
		Endpoint:   PathProcess,
		wrapped:    []error{ErrPhotoRejected},
	}
}

// processBody writes the /process JSON without copying the images more than
// once: base64 text is JSON-safe and is written straight into the buffer.
func (c *Client) processBody(req ProcessRequest) ([]byte, error) {
	size := 256 + len(req.AuthToken) + len(req.Country) + len(req.DocumentType)
	sides := make([]string, 0, len(req.Images))
	for side, img := range req.Images {
		if len(img) == 0 {
			return nil, fmt.Errorf("idenfy %s: image %q is empty", PathProcess, side)
		}
		sides = append(sides, side)
		size += len(side) + 8 + base64.StdEncoding.EncodedLen(len(img))
	}
	slices.Sort(sides)
	var b bytes.Buffer
	b.Grow(size)
	str := func(s string) {
		q, _ := json.Marshal(s)
		b.Write(q)
	}
	b.WriteByte('{')
	str(c.tokenField)
	b.WriteByte(':')
	str(req.AuthToken)
	b.WriteString(`,"country":`)
	str(req.Country)
	if req.DocumentType != "" {
		b.WriteString(`,"documentType":`)
		str(req.DocumentType)
	}
	b.WriteString(`,"images":{`)
	for i, side := range sides {
		if i > 0 {
			b.WriteByte(',')
		}
		str(side)
		b.WriteString(`:"`)
		enc := base64.NewEncoder(base64.StdEncoding, &b)
		enc.Write(req.Images[side])
		enc.Close()
		b.WriteByte('"')
	}
	b.WriteByte('}')
	if req.SkipAnalysis {
		b.WriteString(`,"skipAnalysis":true`)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Status returns the current status of a verification (POST
// /api/v2/status). Idempotent and retried. iDenfy discourages regular
// polling: call it sparingly.
func (c *Client) Status(ctx context.Context, scanRef string) (StatusResponse, error) {
	var sr StatusResponse
	err := c.scanRefCall(ctx, PathStatus, scanRef, func(b []byte) error { return decodeInto(b, &sr) })
	return sr, err
}

// Data returns the parsed document data of a verification (POST
// /api/v2/data). Idempotent and retried.
func (c *Client) Data(ctx context.Context, scanRef string) (DataResponse, error) {
	var dr DataResponse
	err := c.scanRefCall(ctx, PathData, scanRef, func(b []byte) error { return decodeInto(b, &dr) })
	return dr, err
}

// Files returns the pre-signed download URLs of a verification's photos by
// side (POST /api/v2/files). The response schema is not documented: string
// values of the top-level object (or of a nested "fileUrls" object) are
// returned, nulls skipped. The URLs are credentials: do not log them.
func (c *Client) Files(ctx context.Context, scanRef string) (map[string]string, error) {
	var urls map[string]string
	var body []byte
	err := c.scanRefCall(ctx, PathFiles, scanRef, func(b []byte) error {
		body = b
		return decodeLenient(b, fields{"fileUrls": textMap(&urls)})
	})
	if err != nil {
		return nil, err
	}
	if urls != nil {
		return urls, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("idenfy %s: %w", PathFiles, err)
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		switch k {
		case "scanRef", "clientId", "message":
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			out[k] = s
		}
	}
	return out, nil
}

// Delete removes a verification's personal data at iDenfy (POST
// /api/v2/delete). Refused (PARTNER_ERROR "Token has not expired yet.")
// while the token is still active. Retried like the other idempotent calls.
func (c *Client) Delete(ctx context.Context, scanRef string) error {
	return c.scanRefCall(ctx, PathDelete, scanRef, nil)
}

// AddDummyStatus sets the manual result of a dummy verification (POST
// /api/v2/add-dummy-status, DEV environments only; §7.2). iDenfy then sends
// a final webhook. Retried like the idempotent calls.
func (c *Client) AddDummyStatus(ctx context.Context, scanRef, manualFace, manualDocument string) error {
	if scanRef == "" {
		return fmt.Errorf("idenfy %s: empty scanRef", PathAddDummyStatus)
	}
	body, err := json.Marshal(DummyStatusRequest{ScanRef: scanRef, ManualFaceMatchResult: manualFace, ManualDocumentValidity: manualDocument})
	if err != nil {
		return err
	}
	_, _, err = c.do(ctx, PathAddDummyStatus, true, body)
	return err
}

// scanRefCall posts {"scanRef": scanRef} to an idempotent endpoint and
// decodes the answer with decode (nil = ignore the body).
func (c *Client) scanRefCall(ctx context.Context, path, scanRef string, decode func([]byte) error) error {
	if scanRef == "" {
		return fmt.Errorf("idenfy %s: empty scanRef", path)
	}
	body, err := json.Marshal(ScanRefRequest{ScanRef: scanRef})
	if err != nil {
		return err
	}
	status, resp, err := c.do(ctx, path, true, body)
	if err != nil || decode == nil {
		return err
	}
	if err := decode(resp); err != nil {
		return fmt.Errorf("idenfy %s: HTTP %d: unreadable body: %w", path, status, err)
	}
	return nil
}

// do sends body to path with retries and returns the status and body of a
// 2xx answer, or an error: *APIError for any other answer, a transport
// error otherwise. idempotent selects the retry policy (see Client).
func (c *Client) do(ctx context.Context, path string, idempotent bool, body []byte) (int, []byte, error) {
	return c.doRetries(ctx, path, idempotent, body, c.maxRetries)
}

// doRetries is do with at most maxRetries retries instead of the client's.
func (c *Client) doRetries(ctx context.Context, path string, idempotent bool, body []byte, maxRetries int) (int, []byte, error) {
	beforeSend, _ := ctx.Value(beforeSendKey{}).(func() error)
	for attempt := 0; ; attempt++ {
		if c.lim != nil {
			if err := c.lim.Wait(ctx); err != nil {
				return 0, nil, newTransportError(path, false, false, ctx.Err() != nil, fmt.Errorf("%w: %w", errLimiter, err))
			}
		}
		if beforeSend != nil {
			// Once, after the limiter granted the first attempt and before
			// anything leaves: the caller records its intent here.
			if err := beforeSend(); err != nil {
				return 0, nil, &notSentError{endpoint: path, err: err}
			}
			beforeSend = nil
		}
		start := time.Now()
		status, header, resp, sent, err := c.attempt(ctx, path, body)
		log := c.log.With(logEndpoint, path, logAttempt, attempt+1)
		if err != nil {
			if ctx.Err() != nil {
				// The caller gave up. If the request may have left, a
				// token/process call is ambiguous.
				return 0, nil, newTransportError(path, sent, sent && !idempotent, true, err)
			}
			if sent && !idempotent {
				log.Warn("idenfy: no answer to a non-idempotent call, not retried", logDuration, time.Since(start), logError, err)
				return 0, nil, newTransportError(path, true, true, false, err)
			}
			if attempt >= maxRetries {
				return 0, nil, newTransportError(path, sent, false, false, err)
			}
			wait := c.backoff(attempt)
			log.Warn("idenfy: network error, retrying", logWait, wait, logError, err)
			if err := sleep(ctx, wait); err != nil {
				return 0, nil, newTransportError(path, sent, false, true, err)
			}
			continue
		}
		if status >= 200 && status < 300 {
			c.succeeded()
			log.Debug("idenfy: call done", logHTTPStatus, status, logDuration, time.Since(start))
			return status, resp, nil
		}
		ae := parseAPIError(path, status, header, resp)
		if !ae.Throttled() {
			c.succeeded()
		}
		log = log.With(logHTTPStatus, status, logIdentifier, ae.Identifier)
		switch {
		case ae.Throttled():
			if c.lim != nil {
				c.lim.Throttled(ae.RetryAfter)
			}
			wait := ae.RetryAfter
			if wait <= 0 {
				wait = c.backoff(attempt)
			}
			if attempt >= maxRetries || wait > c.maxRetryWait {
				return 0, nil, ae
			}
			log.Warn("idenfy: rate limited, retrying", logWait, wait)
			if err := sleep(ctx, wait); err != nil {
				return 0, nil, newTransportError(path, false, false, true, err)
			}
			continue
		case ae.ServerError() && !idempotent && path == PathToken && ae.Identifier != "":
			// iDenfy itself answered with its standard error body: the
			// request was handled and refused, no token was created. A
			// failed call, not a lost answer; the caller retries it
			// through the limiter (a 409 on the retry would mean the first
			// did create a token after all).
			log.Warn("idenfy: /token refused with a server error (nothing created), not retried here")
			return 0, nil, ae
		case ae.ServerError() && !idempotent:
			// A gateway's 502/503/504 without iDenfy's body, or a /process
			// that failed: it may have taken effect.
			ae.wrapped = append(ae.wrapped, ErrAmbiguous)
			log.Warn("idenfy: server error on a non-idempotent call, not retried")
			return 0, nil, ae
		case ae.ServerError():
			wait := max(ae.RetryAfter, c.backoff(attempt))
			if attempt >= maxRetries || wait > c.maxRetryWait {
				return 0, nil, ae
			}
			log.Warn("idenfy: server error, retrying", logWait, wait)
			if err := sleep(ctx, wait); err != nil {
				return 0, nil, newTransportError(path, false, false, true, err)
			}
			continue
		default:
			log.Debug("idenfy: call refused", logDuration, time.Since(start))
			return 0, nil, ae
		}
	}
}

// succeeded tells the limiter, if it wants to know, that a request got an
// answer other than 429.
func (c *Client) succeeded() {
	if s, ok := c.lim.(interface{ Succeeded() }); ok {
		s.Succeeded()
	}
}

// attempt makes one HTTP request. sent reports whether the request may have
// reached the server: false only when no connection was ever obtained.
func (c *Client) attempt(ctx context.Context, path string, body []byte) (status int, header http.Header, resp []byte, sent bool, err error) {
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, false, err
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	r, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, gotConn.Load() || !preSend(err), err
	}
	defer r.Body.Close()
	limit := int64(maxSuccessBody)
	if r.StatusCode < 200 || r.StatusCode > 299 {
		limit = maxErrorBody
	}
	resp, err = io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		return 0, nil, nil, true, fmt.Errorf("HTTP %d: reading body: %w", r.StatusCode, err)
	}
	// Drain a little more so the connection can be reused.
	io.CopyN(io.Discard, r.Body, 4<<10)
	return r.StatusCode, r.Header, resp, true, nil
}

// preSend reports whether a request error is one that happens before any
// connection exists (used as a second opinion next to the GotConn trace).
func preSend(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}

// parseAPIError builds the *APIError of a non-2xx answer.
func parseAPIError(path string, status int, header http.Header, body []byte) *APIError {
	ae := &APIError{HTTPStatus: status, Endpoint: path, RetryAfter: parseRetryAfter(header.Get("Retry-After"), time.Now())}
	trimmed := bytes.TrimSpace(body)
	var eb ErrorBody
	if len(trimmed) > 0 && trimmed[0] == '{' && decodeInto(trimmed, &eb) == nil {
		ae.Identifier = eb.Identifier
		ae.Message = capText(eb.Message)
		if ae.Message == "" {
			var detail, errText string
			if decodeLenient(trimmed, fields{"detail": text(&detail), "error": text(&errText)}) == nil {
				ae.Message = capText(cmp.Or(detail, errText))
			}
		}
		return ae
	}
	ae.Message = capText(string(trimmed))
	if ae.Message == "" {
		ae.Message = http.StatusText(status)
	}
	return ae
}

// capText collapses whitespace, drops control characters and caps s at
// maxErrorText characters.
func capText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > maxErrorText {
		r := []rune(s)
		s = string(r[:maxErrorText]) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP-date.
// Invalid or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 365*24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// backoff returns the wait before retry number attempt+1: exponential from
// minBackoff, capped at maxBackoff, with "equal jitter" (half fixed, half
// random) so that concurrent workers spread out.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff
	for i := 0; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
