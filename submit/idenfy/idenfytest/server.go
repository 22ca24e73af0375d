package idenfytest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
)

// Defaults of Options.
const (
	DefaultAPIKey          = "sandbox-key"
	DefaultAPISecret       = "sandbox-secret"
	DefaultSigningKey      = "sandbox-signing-key"
	DefaultAutoDelay       = 50 * time.Millisecond
	DefaultManualDelay     = 200 * time.Millisecond
	DefaultMaxImageBytes   = 6_000_000
	DefaultMaxRequestBytes = 20_000_000
	DefaultExpiryTime      = 3600 // seconds
)

// MessagePhotoRejected is the message of a /process answered 200 because
// photo validation failed (PhotoRejectRate). The real body is not
// documented; the sandbox sends the standard error body with identifier
// VALIDATION_ERROR.
const MessagePhotoRejected = "Document was not detected."

// Options configures a Server. The zero value is valid: default keys, no
// webhook delivery, automatic results only (ManualReview false).
// DefaultOptions returns the iDenfy-like setup with manual review.
type Options struct {
	APIKey, APISecret string // expected Basic auth; defaults DefaultAPIKey / DefaultAPISecret
	SigningKey        string // webhook HMAC key; default DefaultSigningKey

	// WebhookURL receives the result callbacks; a token's callbackUrl
	// overrides it. "" = no delivery (results are still visible to /status).
	WebhookURL string

	// AutoDelay and ManualDelay are the times after /process at which the
	// automatic and the manual result exist (and their callbacks are sent).
	// Defaults 50 ms / 200 ms; negative = immediately. ManualDelay is raised to
	// AutoDelay if lower: the manual result is always last.
	AutoDelay, ManualDelay time.Duration

	// ManualReview true: two callbacks, automatic (final:false) then manual
	// (final:true), and /status shows the manual fields after ManualDelay.
	// false: one callback, final:true, and the manual fields stay empty, as
	// on an account without human review.
	ManualReview bool

	// MaxImageBytes is the limit per decoded image (default 6,000,000); the
	// base64 text of an image may be at most its encoded length (8,000,000).
	// Over → 400 BAD_VALUE.
	MaxImageBytes int
	// MaxRequestBytes is the limit of a whole request body (default
	// 20,000,000). Over → 413 with identifier BAD_VALUE (what a proxy in
	// front of the API would answer; the real code is not documented).
	MaxRequestBytes int

	Logger *slog.Logger     // nil = discard; logs paths, codes and scanRefs, never personal data
	Now    func() time.Time // clock of statuses, expiry and timestamps; default time.Now

	// Webhook delivery on a non-2xx answer or a network error: up to
	// WebhookRetries retries (default 3; negative = none), WebhookRetryInterval
	// apart (default 500 ms), each attempt bounded by WebhookTimeout
	// (default 10 s). Then the delivery is recorded as failed.
	WebhookRetries       int
	WebhookRetryInterval time.Duration
	WebhookTimeout       time.Duration

	// RateLimit, if > 0, is the number of requests allowed per RateWindow
	// (default one hour, iDenfy's documented unit: 10,000 per hour) over all
	// API endpoints. It is a token bucket refilled at RateLimit/RateWindow
	// holding at most RateBurst requests (default: one second's worth, at
	// least 1). Above it the answer is 429 TOO_MANY_REQUESTS with the
	// standard error body and Retry-After in whole seconds (at least 1).
	// Scaled example: RateLimit 36000 per hour = 10/s; RateLimit 100 with
	// RateWindow time.Second = 100/s.
	RateLimit  float64
	RateWindow time.Duration
	RateBurst  int
	// RateSliding makes the limit a sliding window instead of a bucket: at
	// most RateLimit requests in any RateWindow (RateBurst unused), the
	// strictest reading of "N requests per hour". Retry-After is the time
	// until the oldest request in the window leaves it.
	RateSliding bool

	// Fault rates, each a probability in [0, 1] applied independently per
	// request or per callback; 0 = off. FaultSeed seeds the draws, so a test
	// that sends its requests one after the other sees the same faults on
	// every run. Faults queued with InjectFault take precedence over these.
	FaultSeed int64
	// ServerErrorRate: any API request is answered 500 with the standard
	// body, identifier INTERNAL_ERROR, without being handled (no effect).
	ServerErrorRate float64
	// Latency is added to every API answer (before it is handled).
	Latency time.Duration
	// ProcessAnswerLostRate: a /process is handled (charged, token consumed
	// when accepted), then the connection is closed without an answer.
	ProcessAnswerLostRate float64
	// PhotoRejectRate: a valid /process without skipAnalysis: true is
	// answered 200 with the error body "Document was not detected." (photo
	// validation): the token is consumed, no process is charged, no result
	// will come, and /status says EXPIRED.
	PhotoRejectRate float64
	// WebhookDuplicateRate: a callback is delivered a second time right
	// after it was delivered successfully.
	WebhookDuplicateRate float64
	// WebhookReorderRate: with ManualReview, the manual (final) callback of a
	// verification is delivered before its automatic one (both at the manual
	// result's time).
	WebhookReorderRate float64
	// WebhookDropRate: a callback is never delivered (not even attempted or
	// retried). /status still completes by time, so polling alone can finish.
	WebhookDropRate float64

	// TokenLimit, if > 0, is the number of tokens the account can pay for;
	// the next /token answers 400 PERMISSIONS_ERROR "Partner reached token limit.".
	TokenLimit int

	// ConflictOnActiveClient makes /token answer 409 while the clientId
	// already has an active (unused, unexpired) token.
	ConflictOnActiveClient bool
}

// DefaultOptions returns Options with every default filled in and
// ManualReview true, the behaviour of an iDenfy account with human review.
func DefaultOptions() Options {
	o := Options{ManualReview: true}
	o.fill()
	return o
}

func (o *Options) fill() {
	if o.APIKey == "" {
		o.APIKey = DefaultAPIKey
	}
	if o.APISecret == "" {
		o.APISecret = DefaultAPISecret
	}
	if o.SigningKey == "" {
		o.SigningKey = DefaultSigningKey
	}
	switch {
	case o.AutoDelay == 0:
		o.AutoDelay = DefaultAutoDelay
	case o.AutoDelay < 0:
		o.AutoDelay = 0
	}
	switch {
	case o.ManualDelay == 0:
		o.ManualDelay = DefaultManualDelay
	case o.ManualDelay < 0:
		o.ManualDelay = 0
	}
	o.ManualDelay = max(o.ManualDelay, o.AutoDelay)
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.WebhookRetries == 0:
		o.WebhookRetries = 3
	case o.WebhookRetries < 0:
		o.WebhookRetries = 0
	}
	if o.WebhookRetryInterval <= 0 {
		o.WebhookRetryInterval = 500 * time.Millisecond
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Hour
	}
	if o.RateLimit > 0 && o.RateBurst <= 0 {
		o.RateBurst = max(1, int(math.Ceil(o.ratePerSecond())))
	}
}

// ratePerSecond is the refill rate of the rate-limit bucket.
func (o *Options) ratePerSecond() float64 {
	return o.RateLimit / o.RateWindow.Seconds()
}

// Stats counts what the sandbox did to its clients (see Server.Stats).
type Stats struct {
	Throttled          int // requests answered 429 by the rate limit
	ServerErrors       int // requests answered 500 by ServerErrorRate
	AnswersLost        int // /process handled, then the connection closed (ProcessAnswerLostRate)
	PhotosRejected     int // /process answered 200 with a message (PhotoRejectRate)
	WebhooksDuplicated int // callbacks delivered a second time
	WebhooksReordered  int // verifications whose manual callback was sent first
	WebhooksDropped    int // callbacks never sent
}

// Fault is a failure injected into the next request to a path (see
// Server.InjectFault). Exactly one of Drop, DropAfterApply or Status is
// meant to be set; Delay combines with any of them, or alone.
type Fault struct {
	// Delay waits before anything else happens (bounded by the request's context).
	Delay time.Duration
	// Drop reads the whole request, then closes the connection without an
	// answer. The request has no effect.
	Drop bool
	// DropAfterApply handles the request normally (a /process is charged and
	// consumes its token), then closes the connection without an answer: the
	// client sees a request that "may have been processed".
	DropAfterApply bool
	// Status answers with this HTTP status without handling the request: the
	// body is Body if set, else the standard error body from Identifier and
	// Message, or nothing when both are empty. Status 200 with a Message on
	// /process imitates a photo rejected at upload.
	Status     int
	Identifier string
	Message    string
	Body       string
	RetryAfter string // Retry-After header value, e.g. "1"
}

// Charges is a snapshot of what the sandbox account was billed for.
type Charges struct {
	TokensCreated     int
	ProcessesAccepted int
	PerClient         map[string]ClientCharges // by clientId
}

// ClientCharges is the billing of one clientId.
type ClientCharges struct {
	Tokens    int
	Processes int
	ScanRefs  []string // in creation order
}

// Verification is a snapshot of one verification, for tests.
type Verification struct {
	ScanRef, ClientID, ExternalRef string
	TokenType                      string
	Status                         string // overall status now, as /status would say
	Final                          bool   // no further result will come
	Dummy                          bool   // created with dummyStatus
	Processed                      bool   // /process accepted
	PhotoRejected                  bool   // /process answered 200 with a message (token spent)
	Country, DocumentType          string // as sent to /process
	Sides                          []string
	Decision                       Decision // zero until processed (or dummy)
	CreatedAt, ProcessedAt         time.Time
	WebhooksDelivered              int // callbacks answered 2xx
	WebhooksFailed                 int // callbacks given up after retries
	LastWebhookError               string
}

// Server is an in-memory iDenfy sandbox: an http.Handler serving the KYC
// endpoints and a webhook sender. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	hc   *http.Client

	ctx    context.Context // cancelled by Close; bounds deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines and the listener

	mu        sync.Mutex
	closed    bool
	httpSrv   *http.Server
	byToken   map[string]*verification
	byScan    map[string]*verification
	all       []*verification
	tokens    int
	processes int
	perClient map[string]*ClientCharges
	requests  map[string]int
	faults    map[string][]Fault
	bucket    float64
	bucketAt  time.Time
	window    []time.Time // RateSliding: accepted requests within the window, oldest first
	rng       *rand.Rand  // fault draws, seeded by Options.FaultSeed
	stats     Stats
}

// New returns a Server for opts (zero fields take their defaults).
func New(opts Options) *Server {
	opts.fill()
	ctx, cancel := context.WithCancel(context.Background())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "idenfytest"),
		hc:        &http.Client{Timeout: opts.WebhookTimeout, Transport: tr},
		ctx:       ctx,
		cancel:    cancel,
		byToken:   make(map[string]*verification),
		byScan:    make(map[string]*verification),
		perClient: make(map[string]*ClientCharges),
		requests:  make(map[string]int),
		faults:    make(map[string][]Fault),
		bucket:    float64(opts.RateBurst),
		bucketAt:  time.Now(),
		rng:       rand.New(rand.NewPCG(uint64(opts.FaultSeed), 0x1de9f7)),
	}
	return s
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// Start listens on addr ("" = 127.0.0.1:0) and serves in the background
// until Close. It returns the base URL to give idenfy.Config.BaseURL.
func (s *Server) Start(addr string) (baseURL string, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("idenfytest: server closed")
	}
	if s.httpSrv != nil {
		return "", errors.New("idenfytest: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.httpSrv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("idenfytest: serve", "err", err)
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// Close stops the listener started by Start (if any), cancels every pending
// timer and webhook delivery, and waits for the delivery goroutines to end.
// Requests served after Close get answers but schedule nothing. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, v := range s.all {
		if v.expiryTimer != nil {
			v.expiryTimer.Stop()
		}
	}
	srv := s.httpSrv
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.cancel()
	s.wg.Wait()
	s.hc.CloseIdleConnections()
	return err
}

// InjectFault queues faults for the next requests to path (an API path such
// as idenfy.PathProcess, or "*" for any API path). Each request consumes
// one fault; path-specific faults go before "*" ones.
func (s *Server) InjectFault(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faults...)
}

// Charges returns a snapshot of the billing counters.
func (s *Server) Charges() Charges {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Charges{TokensCreated: s.tokens, ProcessesAccepted: s.processes, PerClient: make(map[string]ClientCharges, len(s.perClient))}
	for id, cc := range s.perClient {
		c.PerClient[id] = ClientCharges{Tokens: cc.Tokens, Processes: cc.Processes, ScanRefs: slices.Clone(cc.ScanRefs)}
	}
	return c
}

// Stats returns a snapshot of the fault and throttling counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// rollLocked draws one fault with probability p (never when p <= 0).
func (s *Server) rollLocked(p float64) bool {
	return p > 0 && s.rng.Float64() < p
}

// Requests returns how many requests each API path received (all of them:
// refused, throttled and faulted ones included).
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		m[k] = v
	}
	return m
}

// Verifications returns a snapshot of every verification in creation order.
func (s *Server) Verifications() []Verification {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	out := make([]Verification, 0, len(s.all))
	for _, v := range s.all {
		ph := s.phaseLocked(v, now)
		out = append(out, Verification{
			ScanRef:           v.scanRef,
			ClientID:          v.clientID,
			ExternalRef:       v.externalRef,
			TokenType:         v.tokenType,
			Status:            s.statusLocked(v, ph).Status,
			Final:             s.finalLocked(v, ph),
			Dummy:             v.dummy,
			Processed:         !v.processedAt.IsZero(),
			PhotoRejected:     v.photoRejected,
			Country:           v.country,
			DocumentType:      v.documentType,
			Sides:             slices.Clone(v.sides),
			Decision:          v.decision,
			CreatedAt:         v.createdAt,
			ProcessedAt:       v.processedAt,
			WebhooksDelivered: v.delivered,
			WebhooksFailed:    v.failed,
			LastWebhookError:  v.lastWebhookError,
		})
	}
	return out
}

// routes maps each API path to its handler.
var routes = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage){
	idenfy.PathToken:          (*Server).handleToken,
	idenfy.PathProcess:        (*Server).handleProcess,
	idenfy.PathStatus:         (*Server).handleStatus,
	idenfy.PathData:           (*Server).handleData,
	idenfy.PathFiles:          (*Server).handleFiles,
	idenfy.PathDelete:         (*Server).handleDelete,
	idenfy.PathAddDummyStatus: (*Server).handleAddDummyStatus,
}

// ServeHTTP serves the API. Order of checks, as a Django REST API in front
// of iDenfy would do them: unknown path 404 → injected fault → Basic auth
// 401 → rate limit 429 → method 405 → body size 413 → media type 415 →
// JSON 400 JSON_ERROR → the endpoint's validation. GET /healthz answers
// "ok" without auth.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	path := strings.TrimRight(r.URL.Path, "/")
	if path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	}
	handler, ok := routes[path]
	if !ok {
		writeJSON(w, http.StatusNotFound, idenfy.ErrorBody{Message: "Not found."})
		return
	}
	s.mu.Lock()
	s.requests[path]++
	f, faulted := s.takeFaultLocked(path)
	if !faulted {
		switch {
		case s.rollLocked(s.opts.ServerErrorRate):
			f, faulted = Fault{Status: http.StatusInternalServerError, Identifier: idenfy.IdentifierInternalError,
				Message: "Internal server error."}, true
			s.stats.ServerErrors++
		case path == idenfy.PathProcess && s.rollLocked(s.opts.ProcessAnswerLostRate):
			f, faulted = Fault{DropAfterApply: true}, true
			s.stats.AnswersLost++
		}
	}
	s.mu.Unlock()
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}

	if faulted {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		switch {
		case f.Drop:
			io.Copy(io.Discard, io.LimitReader(r.Body, int64(s.opts.MaxRequestBytes)+1))
			s.log.Debug("idenfytest: fault: dropped", "path", path)
			abort(w)
			return
		case f.DropAfterApply:
			dw := &discardWriter{h: make(http.Header)}
			s.serveAPI(dw, r, path, handler)
			s.log.Debug("idenfytest: fault: applied then dropped", "path", path, "code", dw.code)
			abort(w)
			return
		case f.Status != 0:
			io.Copy(io.Discard, io.LimitReader(r.Body, int64(s.opts.MaxRequestBytes)+1))
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			switch {
			case f.Body != "":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(f.Status)
				io.WriteString(w, f.Body)
			case f.Identifier != "" || f.Message != "":
				writeError(w, f.Status, f.Identifier, f.Message)
			default:
				w.WriteHeader(f.Status)
			}
			s.log.Debug("idenfytest: fault: status", "path", path, "code", f.Status)
			return
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	s.serveAPI(sw, r, path, handler)
	s.log.Debug("idenfytest: request", "path", path, "code", sw.code, "duration", time.Since(start))
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, path string,
	handler func(*Server, http.ResponseWriter, *http.Request, map[string]json.RawMessage)) {
	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, idenfy.ErrorBody{Message: "Invalid authorization credentials"})
		return
	}
	if wait, ok := s.allow(); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		writeError(w, http.StatusTooManyRequests, idenfy.IdentifierTooManyRequests, "Requests per hour limit has been reached.")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, idenfy.IdentifierMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxRequestBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, idenfy.IdentifierBadValue,
				fmt.Sprintf("Request body is larger than %d bytes.", s.opts.MaxRequestBytes))
			return
		}
		writeError(w, http.StatusBadRequest, idenfy.IdentifierJSONError, "Could not read the request body.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, idenfy.IdentifierEncodingError,
			fmt.Sprintf("Unsupported media type %q in request.", r.Header.Get("Content-Type")))
		return
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil || body == nil {
		msg := "JSON parse error - the body must be a JSON object."
		if err != nil {
			msg = "JSON parse error - " + err.Error()
		}
		writeError(w, http.StatusBadRequest, idenfy.IdentifierJSONError, msg)
		return
	}
	handler(s, w, r, body)
}

func (s *Server) authorized(r *http.Request) bool {
	key, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	k := subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey))
	p := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.APISecret))
	return k&p == 1
}

// allow takes a token from the rate-limit bucket; when empty it returns the
// time until the next token.
func (s *Server) allow() (time.Duration, bool) {
	if s.opts.RateLimit <= 0 {
		return 0, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.opts.RateSliding {
		cut := now.Add(-s.opts.RateWindow)
		i := 0
		for i < len(s.window) && !s.window[i].After(cut) {
			i++
		}
		s.window = s.window[i:]
		if float64(len(s.window)) < s.opts.RateLimit {
			s.window = append(s.window, now)
			return 0, true
		}
		s.stats.Throttled++
		return s.window[0].Add(s.opts.RateWindow).Sub(now), false
	}
	perSec := s.opts.ratePerSecond()
	s.bucket = min(float64(s.opts.RateBurst), s.bucket+now.Sub(s.bucketAt).Seconds()*perSec)
	s.bucketAt = now
	if s.bucket >= 1 {
		s.bucket--
		return 0, true
	}
	s.stats.Throttled++
	return time.Duration((1 - s.bucket) / perSec * float64(time.Second)), false
}

func (s *Server) takeFaultLocked(path string) (Fault, bool) {
	for _, p := range []string{path, "*"} {
		if q := s.faults[p]; len(q) > 0 {
			s.faults[p] = q[1:]
			return q[0], true
		}
	}
	return Fault{}, false
}

// abort closes the client connection without an answer.
func abort(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// writeError writes the standard error body.
func writeError(w http.ResponseWriter, code int, identifier, message string) {
	writeJSON(w, code, idenfy.ErrorBody{
		Identifier:    identifier,
		Message:       message,
		Documentation: idenfy.DocumentationURL,
		Severity:      "NOT_SEVERE",
	})
}

// statusWriter records the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows an answer that will never be sent.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
