package results_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
)

const key = "test-signing-key"

// newSubmitted returns a store holding one submitted record with scanRef "scan-1".
func newSubmitted(t *testing.T) (*sqlitestore.Store, pipeline.Record) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	rec := pipeline.Record{Job: "j", Key: "c1", Ref: pipeline.RefFor("j", "c1"), Line: 2, State: pipeline.StatePending,
		Input: pipeline.Input{ClientID: "c1", Country: "LT", DocumentType: "PASSPORT"}}
	if _, err := st.Load(ctx, "j", []pipeline.Record{rec}, now); err != nil {
		t.Fatal(err)
	}
	got, err := st.ByRef(ctx, rec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	scan := "scan-1"
	steps := []struct {
		to pipeline.State
		p  pipeline.Patch
	}{
		{pipeline.StateTokening, pipeline.Patch{IntentAt: &now}},
		{pipeline.StateTokened, pipeline.Patch{ScanRef: &scan}},
		{pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: &now}},
	}
	for _, s := range steps {
		if err := st.Transition(ctx, pipeline.Transition{ID: got.ID, From: got.State, To: s.to, Now: now, Patch: s.p}); err != nil {
			t.Fatal(err)
		}
		got.State = s.to
	}
	got, _ = st.Get(ctx, got.ID)
	return st, got
}

func payload(final bool, overall string) []byte {
	m := map[string]any{
		"final": final, "scanRef": "scan-1", "clientId": "c1", "externalRef": pipeline.RefFor("j", "c1"), "platform": "OTHER",
		"status": map[string]any{"overall": overall, "autoDocument": "DOC_VALIDATED", "autoFace": "FACE_MATCH",
			"manualDocument": map[bool]any{true: "DOC_VALIDATED", false: nil}[final], "manualFace": map[bool]any{true: "FACE_MATCH", false: nil}[final],
			"fraudTags": []string{}, "mismatchTags": []string{"NAME"}, "suspicionReasons": []string{}},
		"data":     map[string]any{"docFirstName": "JOHN", "docDob": "1990-05-17", "docType": "PASSPORT"},
		"fileUrls": map[string]any{"FRONT": "https://s3.example/front.png?Signature=secret"},
	}
	b, _ := json.Marshal(m)
	return b
}

func post(t *testing.T, h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/idenfy", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set(idenfy.SignatureHeader, sig)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr
}

func TestWebhookRefusesBadInputAndChangesNothing(t *testing.T) {
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	good := payload(true, "APPROVED")
	cases := []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"unsigned", good, "", http.StatusUnauthorized},
		{"forged", good, idenfy.Sign([]byte("another key"), good), http.StatusUnauthorized},
		{"signature of another body", good, idenfy.Sign([]byte(key), payload(true, "DENIED")), http.StatusUnauthorized},
		{"not hex", good, "zz-not-hex", http.StatusUnauthorized},
		{"malformed JSON, signed", []byte(`{"final": tru`), idenfy.Sign([]byte(key), []byte(`{"final": tru`)), http.StatusBadRequest},
		{"oversized", bytes.Repeat([]byte("x"), results.MaxWebhookBytes+1), "00", http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		if rr := post(t, h, c.body, c.sig); rr.Code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, rr.Code, c.want)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/webhooks/idenfy", nil)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rr.Code)
	}
	after, _ := st.Get(context.Background(), rec.ID)
	if after.State != pipeline.StateSubmitted || after.Result != nil || after.Version != rec.Version {
		t.Errorf("refused webhooks changed the record: state %s result %v version %d→%d", after.State, after.Result, rec.Version, after.Version)
	}
}

func TestWebhookAutoThenManualDuplicatesAndReorder(t *testing.T) {
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	auto, manual := payload(false, "SUSPECTED"), payload(true, "APPROVED")
	send := func(b []byte) string {
		rr := post(t, h, b, idenfy.Sign([]byte(key), b))
		if rr.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rr.Code, rr.Body)
		}
		return rr.Body.String()
	}
	if got := send(auto); !strings.Contains(got, "applied") {
		t.Errorf("auto: %s", got)
	}
	r, _ := st.Get(context.Background(), rec.ID)
	if r.State != pipeline.StateSubmitted || r.Result == nil || r.Result.Final {
		t.Fatalf("after auto: state %s result %+v", r.State, r.Result)
	}
	if got := send(manual); !strings.Contains(got, "applied") {
		t.Errorf("manual: %s", got)
	}
	// Replays and the late automatic result are ignored.
	for _, b := range [][]byte{manual, auto, auto} {
		if got := send(b); !strings.Contains(got, "ignored") {
			t.Errorf("replay: %s", got)
		}
	}
	r, _ = st.Get(context.Background(), rec.ID)
	if r.State != pipeline.StateFinal || r.Outcome != pipeline.OutcomeApproved || !r.Result.Final || r.Result.ManualFace != "FACE_MATCH" {
		t.Errorf("final record: state %s outcome %s result %+v", r.State, r.Outcome, r.Result)
	}
	if r.Result.DocDOB != "1990-05-17" || len(r.Result.MismatchTags) != 1 {
		t.Errorf("parsed fields lost: %+v", r.Result)
	}
	if bytes.Contains(r.Result.Raw, []byte("Signature=secret")) || !bytes.Contains(r.Result.Raw, []byte(`"docFirstName"`)) {
		t.Errorf("raw payload must keep the data and drop fileUrls: %s", r.Result.Raw)
	}
}

func TestWebhookManualBeforeAuto(t *testing.T) {
	st, rec := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	for _, b := range [][]byte{payload(true, "DENIED"), payload(false, "APPROVED")} {
		if rr := post(t, h, b, idenfy.Sign([]byte(key), b)); rr.Code != http.StatusOK {
			t.Fatalf("status %d", rr.Code)
		}
	}
	r, _ := st.Get(context.Background(), rec.ID)
	if r.State != pipeline.StateFinal || r.Outcome != pipeline.OutcomeDenied {
		t.Errorf("a late automatic result moved the record backwards: %s %s", r.State, r.Outcome)
	}
}

func TestWebhookUnknownScanRefIsAcknowledged(t *testing.T) {
	st, _ := newSubmitted(t)
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	b := []byte(`{"final":true,"scanRef":"not-ours","clientId":"x","status":{"overall":"APPROVED"}}`)
	rr := post(t, h, b, idenfy.Sign([]byte(key), b))
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "unknown") {
		t.Errorf("unknown scanRef: %d %s", rr.Code, rr.Body)
	}
}

// failingStore is a Store that is down.
type failingStore struct{ calls int }

func (f *failingStore) ByScanRef(context.Context, string) (pipeline.Record, error) {
	f.calls++
	return pipeline.Record{}, errors.New("database is locked")
}
func (f *failingStore) ByRef(context.Context, string) (pipeline.Record, error) {
	return pipeline.Record{}, errors.New("database is locked")
}
func (f *failingStore) Transition(context.Context, pipeline.Transition) error {
	return errors.New("database is locked")
}

// With the Store down, a signed webhook is answered 500 so that iDenfy
// retries it (and the poller catches it if the retries run out).
func TestWebhookStoreDownAnswers500(t *testing.T) {
	st := &failingStore{}
	var outcomes []string
	h := &results.Handler{Store: st, SigningKey: []byte(key), OnOutcome: func(o string) { outcomes = append(outcomes, o) }}
	b := payload(true, "APPROVED")
	rr := post(t, h, b, idenfy.Sign([]byte(key), b))
	if rr.Code != http.StatusInternalServerError {
		t.Errorf("store down: status %d, want 500", rr.Code)
	}
	if st.calls == 0 || len(outcomes) != 1 || outcomes[0] != "store_error" {
		t.Errorf("store calls %d, outcomes %v", st.calls, outcomes)
	}
	// A forged webhook never reaches the Store, up or down.
	st.calls = 0
	if rr := post(t, h, b, idenfy.Sign([]byte("forged"), b)); rr.Code != http.StatusUnauthorized || st.calls != 0 {
		t.Errorf("forged webhook: status %d, store calls %d", rr.Code, st.calls)
	}
}

// newOrphan returns a store holding one record found tokening after a crash:
// an intent, no scanRef.
func newOrphan(t *testing.T, job, clientID string) (*sqlitestore.Store, pipeline.Record) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	rec := pipeline.Record{Job: job, Key: clientID, Ref: pipeline.RefFor(job, clientID), Line: 2, State: pipeline.StatePending,
		Input: pipeline.Input{ClientID: clientID, Country: "LT", DocumentType: "PASSPORT"}}
	if _, err := st.Load(ctx, job, []pipeline.Record{rec}, now); err != nil {
		t.Fatal(err)
	}
	got, err := st.ByRef(ctx, rec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []pipeline.State{pipeline.StateTokening, pipeline.StateOrphan} {
		if err := st.Transition(ctx, pipeline.Transition{ID: got.ID, From: got.State, To: to, Now: now, Patch: pipeline.Patch{IntentAt: &now}}); err != nil {
			t.Fatal(err)
		}
		got.State = to
	}
	got, _ = st.Get(ctx, got.ID)
	return st, got
}

// The expiry callback of an orphan token (unknown scanRef, our externalRef)
// adopts the record and sends it back to pending, to be verified with a new
// token; it is never exported as EXPIRED. A callback that names only our
// clientId (no externalRef) adopts nothing: a live onboarding flow on the
// same account must not touch batch records.
func TestWebhookExpiryAdoptsOrphan(t *testing.T) {
	st, rec := newOrphan(t, "j", "c9")
	h := &results.Handler{Store: st, SigningKey: []byte(key), Job: "j"}
	b := []byte(`{"scanRef":"orphan-scan","clientId":"c9","status":{"overall":"EXPIRED"}}`)
	rr := post(t, h, b, idenfy.Sign([]byte(key), b))
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "unknown") {
		t.Fatalf("callback with our clientId only: %d %s, want unknown", rr.Code, rr.Body)
	}
	if r, _ := st.Get(context.Background(), rec.ID); r.State != pipeline.StateOrphan || r.Version != rec.Version {
		t.Fatalf("a bare clientId moved the orphan: %s v%d→v%d", r.State, rec.Version, r.Version)
	}

	b = []byte(`{"final":false,"scanRef":"orphan-scan","clientId":"c9","externalRef":"` + rec.Ref + `","status":{"overall":"EXPIRED"}}`)
	rr = post(t, h, b, idenfy.Sign([]byte(key), b))
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "adopted") {
		t.Fatalf("expiry callback: %d %s", rr.Code, rr.Body)
	}
	r, _ := st.Get(context.Background(), rec.ID)
	if r.State != pipeline.StatePending || r.Outcome != "" || r.ScanRef != "" || r.ErrorCode != "orphan_token_expired" {
		t.Errorf("orphan after its expiry callback: state %s outcome %q scanRef %q code %q; want pending", r.State, r.Outcome, r.ScanRef, r.ErrorCode)
	}
	// The same callback again moves nothing: the record is pending.
	rr = post(t, h, b, idenfy.Sign([]byte(key), b))
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "unknown") {
		t.Errorf("replayed expiry callback: %d %s", rr.Code, rr.Body)
	}
	if r2, _ := st.Get(context.Background(), rec.ID); r2.Version != r.Version {
		t.Errorf("replay changed the record")
	}
}

// A callback naming another job's client (or a scanRef and ref of nobody)
// adopts nothing.
func TestWebhookDoesNotAdoptOtherClients(t *testing.T) {
	st, rec := newOrphan(t, "j", "c9")
	h := &results.Handler{Store: st, SigningKey: []byte(key), Job: "j"}
	for _, b := range [][]byte{
		[]byte(`{"scanRef":"x1","clientId":"someone-else","status":{"overall":"EXPIRED"}}`),
		[]byte(`{"scanRef":"x2","clientId":"c9","externalRef":"0123456789abcdef0123456789abcdef","status":{"overall":"APPROVED"},"final":true}`),
	} {
		rr := post(t, h, b, idenfy.Sign([]byte(key), b))
		if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "unknown") {
			t.Errorf("%s: %d %s", b, rr.Code, rr.Body)
		}
	}
	r, _ := st.Get(context.Background(), rec.ID)
	if r.State != pipeline.StateOrphan || r.Version != rec.Version {
		t.Errorf("record changed: %s v%d→v%d", r.State, rec.Version, r.Version)
	}
}

// Serve answers /healthz, serves the webhook path, and on shutdown lets a
// request in flight finish while refusing new connections.
func TestServeGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- results.Serve(ctx, ln, "/webhooks/idenfy", slow, nil) }()

	resp, err := http.Get(addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}

	inflight := make(chan string, 1)
	go func() {
		resp, err := http.Post(addr+"/webhooks/idenfy", "application/json", strings.NewReader("{}"))
		if err != nil {
			inflight <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- string(b)
	}()
	<-entered
	cancel()
	if got := <-inflight; got != "done" {
		t.Errorf("request in flight during shutdown: %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(addr + "/healthz"); err == nil {
		t.Error("the listener still accepts connections after shutdown")
	}
}
