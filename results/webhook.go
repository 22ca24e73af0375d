package results

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// MaxWebhookBytes caps a webhook body; larger ones are answered 413.
const MaxWebhookBytes = 1 << 20

// resultStore is what the handler and the poller need of a pipeline.Store.
type resultStore interface {
	ByScanRef(ctx context.Context, scanRef string) (pipeline.Record, error)
	ByRef(ctx context.Context, ref string) (pipeline.Record, error)
	Transition(ctx context.Context, t pipeline.Transition) error
}

// Handler receives iDenfy webhooks. It reads the raw body (at most
// MaxWebhookBytes), verifies Idenfy-Signature over those exact bytes in
// constant time before parsing anything, then stores the result with
// pipeline.ApplyResult, which is idempotent and never moves a record
// backwards. Answers, and the outcome passed to OnOutcome:
//
//	200 applied      the result was stored (a final one moved the record to final; a
//	                 final:true whose overall status is not a verdict is stored as
//	                 automatic, see the package documentation)
//	200 adopted      the result belonged to a possible orphan token (found by externalRef,
//	                 or by clientId within Job); the record now holds it
//	200 ignored      a duplicate, a replay, or an automatic result after the final one:
//	                 the Store is not written
//	200 unknown      no record of ours: acknowledged so that iDenfy stops retrying
//	400 malformed    signed, but not a JSON object with a scanRef
//	401 bad_signature missing, forged, or not the signature of this body (nothing is parsed or stored)
//	405              not POST
//	413 too_large    body over MaxWebhookBytes
//	500 store_error  the Store failed: iDenfy retries, and the poller catches what it gives up on
//
// The Store is written within 8 s (iDenfy waits 10 s for an answer), and a
// verified webhook is stored even if the sender hangs up meanwhile.
type Handler struct {
	Store      resultStore
	SigningKey []byte
	RunID      string
	// Job names the job the receiver serves (for logs). A callback adopts
	// a possible orphan only by the externalRef idbatch put on its token,
	// never by a bare clientId: a live onboarding flow on the same account
	// must not close batch records.
	Job string
	Log *slog.Logger
	Now func() time.Time
	// OnOutcome, if set, is called with each outcome (see above), for metrics.
	OnOutcome func(outcome string)

	received atomic.Int64
}

// Received returns how many webhooks were stored or ignored (not refused).
func (h *Handler) Received() int64 { return h.received.Load() }

func (h *Handler) outcome(o string) {
	if h.OnOutcome != nil {
		h.OnOutcome(o)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, http.StatusMethodNotAllowed, "method not allowed")
		h.outcome("method_not_allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reply(w, http.StatusRequestEntityTooLarge, "body too large")
			h.outcome("too_large")
			return
		}
		h.reply(w, http.StatusBadRequest, "cannot read body")
		h.outcome("bad_request")
		return
	}
	if len(h.SigningKey) == 0 || !idenfy.VerifySignature(h.SigningKey, body, r.Header.Get(idenfy.SignatureHeader)) {
		log.Warn("webhook refused: bad signature", "bytes", len(body))
		h.reply(w, http.StatusUnauthorized, "invalid signature")
		h.outcome("bad_signature")
		return
	}
	wh, err := idenfy.ParseWebhook(body)
	if err != nil || wh.ScanRef == "" {
		h.reply(w, http.StatusBadRequest, "malformed payload")
		h.outcome("malformed")
		return
	}
	raw, err := idenfy.SanitizeRaw(body) // cannot fail: ParseWebhook accepted body
	if err != nil {
		raw = nil
	}
	res := FromWebhook(wh, raw, now())
	// The signature is verified: store the result even if the sender hangs
	// up, but answer well within iDenfy's 10 s.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 8*time.Second)
	defer cancel()
	out, rec, err := pipeline.ApplyResult(ctx, h.Store, res, h.RunID, now())
	if err != nil {
		log.Error("webhook not stored", pipeline.LogKeyScanRef, logText(wh.ScanRef), pipeline.LogKeyErr, err)
		h.reply(w, http.StatusInternalServerError, "not stored")
		h.outcome("store_error")
		return
	}
	h.received.Add(1)
	// One DEBUG line per webhook; INFO only when a record reaches its final result.
	lvl := slog.LevelDebug
	if res.Final && (out == pipeline.ResultApplied || out == pipeline.ResultAdopted) {
		lvl = slog.LevelInfo
	}
	log.Log(ctx, lvl, "webhook", pipeline.LogKeyScanRef, logText(wh.ScanRef), pipeline.LogKeyRecord, rec.ID, "final", res.Final, "overall", logText(res.Overall), "outcome", out.String())
	h.outcome(out.String())
	h.reply(w, http.StatusOK, out.String())
}

// logText bounds a value of the payload in a log line: a signed body can
// still hold anything (a scanRef is at most 36 characters, an overall
// status a word).
func logText(s string) string {
	const max = 64
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

func (h *Handler) reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"result": msg})
}

// Server timeouts of Serve. A webhook is at most MaxWebhookBytes; iDenfy
// waits 10 s for the answer.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 15 * time.Second
	IdleTimeout       = 60 * time.Second
	ShutdownTimeout   = 10 * time.Second
)

// Serve runs an HTTP server for h on ln at path, plus the extra handlers
// (by pattern) and /healthz (answering "ok" unless extra has its own),
// until ctx ends; then it shuts down gracefully: the listener closes at
// once and requests in flight get up to ShutdownTimeout to finish.
func Serve(ctx context.Context, ln net.Listener, path string, h http.Handler, extra map[string]http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	if _, ok := extra["/healthz"]; !ok {
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	}
	for p, hh := range extra {
		mux.Handle(p, hh)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout, WriteTimeout: WriteTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}
