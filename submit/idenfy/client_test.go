package idenfy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// testJPEG returns a small valid JPEG.
func testJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := 0; x < 16; x++ {
		for y := 0; y < 16; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeLimiter records how the client paced itself.
type fakeLimiter struct {
	mu        sync.Mutex
	waits     int
	throttled []time.Duration
}

func (l *fakeLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waits++
	l.mu.Unlock()
	return ctx.Err()
}

func (l *fakeLimiter) Throttled(d time.Duration) {
	l.mu.Lock()
	l.throttled = append(l.throttled, d)
	l.mu.Unlock()
}

func (l *fakeLimiter) snapshot() (int, []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waits, append([]time.Duration(nil), l.throttled...)
}

// newSandbox serves a sandbox with opts and returns it with a client for it.
func newSandbox(t *testing.T, opts idenfytest.Options, cfg idenfy.Config) (*idenfytest.Server, *idenfy.Client) {
	t.Helper()
	srv := idenfytest.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	cfg.BaseURL = ts.URL
	if cfg.APIKey == "" {
		cfg.APIKey, cfg.APISecret = idenfytest.DefaultAPIKey, idenfytest.DefaultAPISecret
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	}
	return srv, idenfy.New(cfg)
}

// newStub serves h and returns a client for it with fast backoff.
func newStub(t *testing.T, h http.HandlerFunc, cfg idenfy.Config) *idenfy.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg.BaseURL = ts.URL
	cfg.APIKey, cfg.APISecret = "k", "s"
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	}
	return idenfy.New(cfg)
}

func idCardImages(t testing.TB) map[string][]byte {
	j := testJPEG(t)
	return map[string][]byte{"FRONT": j, "BACK": j, "FACE": j}
}

func TestCreateTokenAndProcess(t *testing.T) {
	srv, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{})
	ctx := context.Background()

	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{
		ClientID: "client-1", ExternalRef: "ref-1", FirstName: "John", LastName: "Doe",
		Country: "LT", ExpiryTime: 900,
		Extra: map[string]any{"locale": "lt", "clientId": "ignored-explicit-wins"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.HTTPStatus != http.StatusCreated {
		t.Errorf("HTTPStatus = %d, want 201", tok.HTTPStatus)
	}
	if tok.ScanRef == "" || tok.AuthToken == "" || len(tok.AuthToken) > 40 {
		t.Errorf("scanRef %q authToken length %d", tok.ScanRef, len(tok.AuthToken))
	}
	if tok.ClientID != "client-1" || tok.ExternalRef != "ref-1" || tok.ExpiryTime != 900 || tok.TokenType != "IDENTIFICATION" {
		t.Errorf("echo: %+v", tok)
	}
	if tok.Message != "Token created successfully" {
		t.Errorf("message %q", tok.Message)
	}
	var raw map[string]any
	if err := json.Unmarshal(tok.Raw, &raw); err != nil || raw["locale"] != "lt" || raw["firstName"] != "JOHN" {
		t.Errorf("raw echo: locale %v firstName %v (%v)", raw["locale"], raw["firstName"], err)
	}

	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "ID_CARD", Images: idCardImages(t)}); err != nil {
		t.Fatalf("process: %v", err)
	}
	ch := srv.Charges()
	if ch.TokensCreated != 1 || ch.ProcessesAccepted != 1 {
		t.Errorf("charges %+v", ch)
	}
	pc := ch.PerClient["client-1"]
	if pc.Tokens != 1 || pc.Processes != 1 || len(pc.ScanRefs) != 1 || pc.ScanRefs[0] != tok.ScanRef {
		t.Errorf("per client %+v", pc)
	}
}

func TestProcessTokenIsSingleUse(t *testing.T) {
	srv, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{})
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	req := idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "DE", DocumentType: "PASSPORT", Images: idCardImages(t)}
	if err := c.Process(ctx, req); err != nil {
		t.Fatal(err)
	}
	err = c.Process(ctx, req)
	if !idenfy.IsTokenNotValid(err) {
		t.Fatalf("second process: %v, want TOKEN_NOT_VALID", err)
	}
	if idenfy.IsRetryable(err) || idenfy.IsFatal(err) || errors.Is(err, idenfy.ErrAmbiguous) {
		t.Errorf("TOKEN_NOT_VALID classified as retryable/fatal/ambiguous: %v", err)
	}
	if got := srv.Charges().ProcessesAccepted; got != 1 {
		t.Errorf("processes charged = %d, want 1", got)
	}
}

func TestProcessMissingBack(t *testing.T) {
	_, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{})
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	j := testJPEG(t)
	err = c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "ID_CARD",
		Images: map[string][]byte{"FRONT": j, "FACE": j}})
	var ae *idenfy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if ae.HTTPStatus != 400 || ae.Identifier != "MISSING_VALUE" || ae.Message != "No image provided for step 'BACK'" {
		t.Errorf("got %d %s %q", ae.HTTPStatus, ae.Identifier, ae.Message)
	}
	if idenfy.IsRetryable(err) || idenfy.IsFatal(err) {
		t.Error("a validation error must be neither retryable nor fatal")
	}
	// A refused upload does not consume the token.
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "ID_CARD", Images: idCardImages(t)}); err != nil {
		t.Errorf("retry with the complete images: %v", err)
	}
}

func TestBadCredentialsAreFatal(t *testing.T) {
	srv, c := newSandbox(t, idenfytest.Options{}, idenfy.Config{APIKey: "sandbox-key", APISecret: "wrong"})
	_, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 401 || ae.Identifier != "" || ae.Message != "Invalid authorization credentials" {
		t.Fatalf("err = %v", err)
	}
	if !idenfy.IsFatal(err) || idenfy.IsRetryable(err) {
		t.Errorf("401: fatal=%v retryable=%v", idenfy.IsFatal(err), idenfy.IsRetryable(err))
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Error("error message leaks the secret")
	}
	_, err = c.Status(context.Background(), "x")
	if !idenfy.IsFatal(err) {
		t.Errorf("status with bad keys: %v", err)
	}
	if n := srv.Requests()[idenfy.PathStatus]; n != 1 {
		t.Errorf("status requests = %d, want 1 (401 is not retried)", n)
	}
}

func TestProcessOKWithMessageIsPhotoRejected(t *testing.T) {
	for _, tc := range []struct {
		body     string
		rejected bool
	}{
		{"", false},
		{"  \n", false},
		{"{}", false},
		{`{"message": null, "identifier": ""}`, false},
		{`{"message": "Document was not detected in the photo."}`, true},
		{`{"identifier": "DOC_NOT_DETECTED"}`, true},
	} {
		c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, tc.body)
		}, idenfy.Config{})
		err := c.Process(context.Background(), idenfy.ProcessRequest{AuthToken: "t", Country: "LT", DocumentType: "PASSPORT", Images: idCardImages(t)})
		if got := errors.Is(err, idenfy.ErrPhotoRejected); got != tc.rejected {
			t.Errorf("body %q: rejected = %v (err %v), want %v", tc.body, got, err, tc.rejected)
		}
		if tc.rejected {
			var ae *idenfy.APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != 200 {
				t.Errorf("body %q: want *APIError with HTTP 200, got %v", tc.body, err)
			}
			if idenfy.IsRetryable(err) || errors.Is(err, idenfy.ErrAmbiguous) {
				t.Errorf("photo rejection must not be retryable or ambiguous")
			}
		}
	}
}

func TestRateLimitedThenSuccess(t *testing.T) {
	var n atomic.Int32
	lim := &fakeLimiter{}
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"identifier":"TOO_MANY_REQUESTS","message":"Requests per hour limit has been reached."}`)
			return
		}
	}, idenfy.Config{Limiter: lim})
	start := time.Now()
	err := c.Process(context.Background(), idenfy.ProcessRequest{AuthToken: "t", Country: "LT", DocumentType: "PASSPORT", Images: idCardImages(t)})
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	if el := time.Since(start); el < 950*time.Millisecond {
		t.Errorf("retried after %v, Retry-After 1 s not honoured", el)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d, want 2", n.Load())
	}
	waits, throttled := lim.snapshot()
	if waits != 2 || len(throttled) != 1 || throttled[0] != time.Second {
		t.Errorf("limiter: waits %d throttled %v, want 2 and [1s]", waits, throttled)
	}
}

func TestThrottledIdentifierWithoutRetryAfter(t *testing.T) {
	var n atomic.Int32
	lim := &fakeLimiter{}
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"identifier":"TOO_MANY_REQUESTS","message":"slow down"}`)
			return
		}
		io.WriteString(w, `{"authToken":"a","scanRef":"s","clientId":"c"}`)
	}, idenfy.Config{Limiter: lim})
	if _, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	waits, throttled := lim.snapshot()
	if waits != 3 || len(throttled) != 2 || throttled[0] != 0 {
		t.Errorf("limiter: waits %d throttled %v", waits, throttled)
	}
}

func TestRetryAfterLongerThanMaxWaitIsReturned(t *testing.T) {
	lim := &fakeLimiter{}
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}, idenfy.Config{Limiter: lim, MaxRetryWait: time.Minute})
	_, err := c.Status(context.Background(), "s")
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 429 || ae.RetryAfter != time.Hour {
		t.Fatalf("err = %v", err)
	}
	if !idenfy.IsRetryable(err) {
		t.Error("429 must be retryable")
	}
	if _, th := lim.snapshot(); len(th) != 1 || th[0] != time.Hour {
		t.Errorf("Throttled calls %v, want [1h]", th)
	}
}

func TestStatusRetriesServerErrors(t *testing.T) {
	var n atomic.Int32
	lim := &fakeLimiter{}
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body>503 Service Temporarily Unavailable</body></html>")
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"identifier":"INTERNAL_ERROR","message":"try later"}`)
		default:
			io.WriteString(w, `{"status":"APPROVED","scanRef":"s1","clientId":"c","autoDocument":"DOC_VALIDATED","autoFace":"FACE_MATCH","manualDocument":null,"manualFace":null,"fraudTags":[],"mismatchTags":[]}`)
		}
	}, idenfy.Config{Limiter: lim})
	st, err := c.Status(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "APPROVED" || st.AutoFace != "FACE_MATCH" || st.ManualFace != "" || st.ScanRef != "s1" {
		t.Errorf("status %+v", st)
	}
	if n.Load() != 3 {
		t.Errorf("requests = %d, want 3", n.Load())
	}
	if waits, _ := lim.snapshot(); waits != 3 {
		t.Errorf("limiter waits = %d, want one per attempt (3)", waits)
	}
}

func TestStatusGivesUpAfterMaxRetries(t *testing.T) {
	var n atomic.Int32
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}, idenfy.Config{MaxRetries: 2})
	_, err := c.Status(context.Background(), "s")
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 502 || ae.Message != "Bad Gateway" {
		t.Fatalf("err = %v", err)
	}
	if !idenfy.IsRetryable(err) || errors.Is(err, idenfy.ErrAmbiguous) {
		t.Errorf("idempotent 502: retryable=%v ambiguous=%v", idenfy.IsRetryable(err), errors.Is(err, idenfy.ErrAmbiguous))
	}
	if n.Load() != 3 {
		t.Errorf("requests = %d, want 3 (1 + MaxRetries)", n.Load())
	}
}

// A 5xx on a paid call is never retried by the client. On /process it is
// ambiguous (the upload may have landed). On /token, iDenfy's own standard
// error body means the call was handled and refused (no token created): a
// failed call the caller may retry, not a lost answer; a gateway's 5xx
// without that body stays ambiguous.
func TestPaidServerErrorIsNotRetried(t *testing.T) {
	cases := []struct {
		path, body string
		status     int
		ambiguous  bool
	}{
		{idenfy.PathProcess, `{"identifier":"INTERNAL_ERROR","message":"Something went wrong"}`, 500, true},
		{idenfy.PathToken, `{"identifier":"INTERNAL_ERROR","message":"Something went wrong"}`, 500, false},
		{idenfy.PathToken, `<html>502 Bad Gateway</html>`, 502, true},
		{idenfy.PathToken, ``, 504, true},
	}
	for _, tc := range cases {
		var n atomic.Int32
		c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}, idenfy.Config{})
		var err error
		if tc.path == idenfy.PathProcess {
			err = c.Process(context.Background(), idenfy.ProcessRequest{AuthToken: "t", Country: "LT", DocumentType: "PASSPORT", Images: idCardImages(t)})
		} else {
			_, err = c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
		}
		var ae *idenfy.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != tc.status || ae.Endpoint != tc.path {
			t.Fatalf("%s %d: err = %v", tc.path, tc.status, err)
		}
		if got := errors.Is(err, idenfy.ErrAmbiguous); got != tc.ambiguous {
			t.Errorf("%s %d %q: ambiguous = %v, want %v", tc.path, tc.status, tc.body, got, tc.ambiguous)
		}
		if !idenfy.IsRetryable(err) {
			t.Errorf("%s %d: a server error is retryable (after reconciling, when ambiguous)", tc.path, tc.status)
		}
		if n.Load() != 1 {
			t.Errorf("%s %d: requests = %d, want 1 (never retried by the client)", tc.path, tc.status, n.Load())
		}
	}
}

// WithBeforeSend runs its hook once, after the limiter and before the
// request leaves; a hook error stops the call with nothing sent.
func TestBeforeSend(t *testing.T) {
	var n atomic.Int32
	var order []string
	lim := &orderLimiter{order: &order}
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		order = append(order, "request")
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		io.WriteString(w, `{"scanRef":"s","authToken":"a"}`)
	}, idenfy.Config{Limiter: lim})
	ctx := idenfy.WithBeforeSend(context.Background(), func() error { order = append(order, "hook"); return nil })
	if _, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "wait,hook,request" {
		t.Errorf("order %s, want wait,hook,request", got)
	}
	stop := errors.New("intent not stored")
	ctx = idenfy.WithBeforeSend(context.Background(), func() error { return stop })
	_, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c"})
	if !errors.Is(err, stop) || errors.Is(err, idenfy.ErrAmbiguous) || n.Load() != 1 {
		t.Errorf("hook error: err %v, requests %d; want the hook's error, not ambiguous, nothing sent", err, n.Load())
	}
}

type orderLimiter struct{ order *[]string }

func (l *orderLimiter) Wait(context.Context) error { *l.order = append(*l.order, "wait"); return nil }
func (l *orderLimiter) Throttled(time.Duration)    {}

// hangUp reads the request body, then closes the connection without answering.
func hangUp(n *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	}
}

func TestConnectionClosedAfterBody(t *testing.T) {
	var n atomic.Int32
	c := newStub(t, hangUp(&n), idenfy.Config{MaxRetries: 3})

	err := c.Process(context.Background(), idenfy.ProcessRequest{AuthToken: "t", Country: "LT", DocumentType: "PASSPORT", Images: idCardImages(t)})
	if !errors.Is(err, idenfy.ErrAmbiguous) {
		t.Fatalf("process: err = %v, want ErrAmbiguous", err)
	}
	if n.Load() != 1 {
		t.Errorf("process requests = %d, want 1 (never a blind retry)", n.Load())
	}
	var ae *idenfy.APIError
	if errors.As(err, &ae) {
		t.Error("no answer came: must not be an *APIError")
	}

	n.Store(0)
	_, err = c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
	if !errors.Is(err, idenfy.ErrAmbiguous) || n.Load() != 1 {
		t.Errorf("token: err = %v after %d requests, want ErrAmbiguous after 1", err, n.Load())
	}

	// The same failure on an idempotent call is retried, and is not ambiguous.
	n.Store(0)
	_, err = c.Status(context.Background(), "s")
	if err == nil || errors.Is(err, idenfy.ErrAmbiguous) || !idenfy.IsRetryable(err) {
		t.Errorf("status: err = %v, want a retryable non-ambiguous error", err)
	}
	if n.Load() != 4 {
		t.Errorf("status requests = %d, want 4 (1 + MaxRetries)", n.Load())
	}
}

func TestConnectionRefusedIsRetriedEvenForToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	lim := &fakeLimiter{}
	c := idenfy.New(idenfy.Config{BaseURL: "http://" + addr, APIKey: "k", APISecret: "s", Limiter: lim,
		MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	_, err = c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
	if err == nil || errors.Is(err, idenfy.ErrAmbiguous) {
		t.Fatalf("err = %v, want a non-ambiguous error", err)
	}
	if !idenfy.IsRetryable(err) {
		t.Errorf("connection refused must be retryable: %v", err)
	}
	if waits, _ := lim.snapshot(); waits != 3 {
		t.Errorf("attempts = %d, want 3 (a request that never left is safe to repeat)", waits)
	}
}

func TestProcessTokenField(t *testing.T) {
	img := testJPEG(t)
	var got map[string]any
	var auth, ctype string
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		if u, p, ok := r.BasicAuth(); ok {
			auth = u + ":" + p
		}
		json.NewDecoder(r.Body).Decode(&got)
	}, idenfy.Config{ProcessTokenField: "token"})
	err := c.Process(context.Background(), idenfy.ProcessRequest{AuthToken: "tok-123", Country: "LT", DocumentType: "PASSPORT",
		Images: map[string][]byte{"FRONT": img, "FACE": img}, SkipAnalysis: true})
	if err != nil {
		t.Fatal(err)
	}
	if got["token"] != "tok-123" {
		t.Errorf(`"token" = %v`, got["token"])
	}
	if _, ok := got["authToken"]; ok {
		t.Error(`"authToken" sent although ProcessTokenField is "token"`)
	}
	if got["country"] != "LT" || got["documentType"] != "PASSPORT" || got["skipAnalysis"] != true {
		t.Errorf("body fields %v %v %v", got["country"], got["documentType"], got["skipAnalysis"])
	}
	images, _ := got["images"].(map[string]any)
	front, _ := images["FRONT"].(string)
	if dec, err := base64.StdEncoding.DecodeString(front); err != nil || !bytes.Equal(dec, img) {
		t.Errorf("FRONT is not the standard base64 of the image (err %v)", err)
	}
	if ctype != "application/json" || auth != "k:s" {
		t.Errorf("Content-Type %q, Basic auth %q", ctype, auth)
	}

	// The sandbox accepts the "token" key as well.
	_, sc := newSandbox(t, idenfytest.Options{}, idenfy.Config{ProcessTokenField: "token"})
	tok, err := sc.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Process(context.Background(), idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: idCardImages(t)}); err != nil {
		t.Errorf("sandbox with token field: %v", err)
	}
}

func TestTokenRequestOmitsEmptyFields(t *testing.T) {
	var got map[string]any
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusOK) // 200 is accepted as well as 201
		io.WriteString(w, `{"authToken":"a","scanRef":"s","clientId":"c","expiryTime":null}`)
	}, idenfy.Config{})
	tok, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c",
		Extra: map[string]any{"sessionLength": 120, "firstName": "FROM-EXTRA"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.HTTPStatus != 200 || tok.ScanRef != "s" {
		t.Errorf("token %+v", tok)
	}
	want := map[string]any{"clientId": "c", "tokenType": "IDENTIFICATION", "sessionLength": float64(120), "firstName": "FROM-EXTRA"}
	if len(got) != len(want) {
		t.Errorf("body keys %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name                     string
		code                     int
		body                     string
		ident, msg               string
		fatal, credits, conflict bool
	}{
		{"html", 502, "<html>\n  <h1>Bad   gateway</h1>\n</html>", "", "<html> <h1>Bad gateway</h1> </html>", false, false, false},
		{"no identifier 402", 402, `{"message":"Action not allowed due to lack of funds or exceeded limit."}`, "", "Action not allowed due to lack of funds or exceeded limit.", true, true, false},
		{"403", 403, `{"message":"Partner inactive"}`, "", "Partner inactive", true, false, false},
		{"token limit", 400, `{"identifier":"PERMISSIONS_ERROR","message":"Partner reached token limit.","documentation":"","severity":"NOT_SEVERE"}`, "PERMISSIONS_ERROR", "Partner reached token limit.", true, true, false},
		{"409", 409, `{"message":"duplicate clientId"}`, "", "duplicate clientId", false, false, true},
		{"empty", 400, ``, "", "Bad Request", false, false, false},
		{"long", 400, long, "", strings.Repeat("x", 512) + "…", false, false, false},
	} {
		c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.code)
			io.WriteString(w, tc.body)
		}, idenfy.Config{})
		_, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"})
		var ae *idenfy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: err = %v", tc.name, err)
		}
		if ae.HTTPStatus != tc.code || ae.Identifier != tc.ident || ae.Message != tc.msg {
			t.Errorf("%s: got %d %q %q", tc.name, ae.HTTPStatus, ae.Identifier, ae.Message)
		}
		if idenfy.IsFatal(err) != tc.fatal || idenfy.IsOutOfCredits(err) != tc.credits || idenfy.IsConflict(err) != tc.conflict {
			t.Errorf("%s: fatal %v credits %v conflict %v", tc.name, idenfy.IsFatal(err), idenfy.IsOutOfCredits(err), idenfy.IsConflict(err))
		}
	}
}

func TestContextCancelStopsBackoff(t *testing.T) {
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}, idenfy.Config{MinBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Status(ctx, "s")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if idenfy.IsRetryable(err) {
		t.Error("a cancelled call is not retryable")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("returned after %v, the backoff ignored the context", el)
	}
}

func TestLimiterErrorStopsBeforeSending(t *testing.T) {
	var n atomic.Int32
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1) }, idenfy.Config{Limiter: &fakeLimiter{}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: "t", Country: "LT", Images: idCardImages(t)})
	if !errors.Is(err, context.Canceled) || errors.Is(err, idenfy.ErrAmbiguous) {
		t.Errorf("err = %v, want context.Canceled, not ambiguous (nothing was sent)", err)
	}
	if n.Load() != 0 {
		t.Errorf("requests = %d, want 0", n.Load())
	}
}

func TestFilesAndData(t *testing.T) {
	c := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case idenfy.PathFiles:
			io.WriteString(w, `{"FRONT":"https://s3/x?Signature=1","BACK":null,"FACE":"https://s3/y"}`)
		case idenfy.PathData:
			io.WriteString(w, `{"docFirstName":"JOHN","docLastName":null,"docPersonalCode":39001010000,"duplicateFaces":null,"manuallyDataChanged":"false","scanRef":"s","clientId":"c","newField":{"x":1}}`)
		}
	}, idenfy.Config{})
	files, err := c.Files(context.Background(), "s")
	if err != nil || len(files) != 2 || files["FRONT"] != "https://s3/x?Signature=1" {
		t.Errorf("files %v, %v", files, err)
	}
	d, err := c.Data(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if d.DocFirstName != "JOHN" || d.DocLastName != "" || d.DocPersonalCode != "39001010000" || d.ScanRef != "s" || d.ClientID != "c" || d.DuplicateFaces != nil {
		t.Errorf("data %+v", d)
	}
	if !bytes.Contains(d.Raw, []byte("newField")) {
		t.Error("Raw must keep unknown fields")
	}
	if _, err := c.Data(context.Background(), ""); err == nil {
		t.Error("empty scanRef must fail without a call")
	}
}
