package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// API is what the stage needs of iDenfy; *idenfy.Client implements it.
type API interface {
	CreateToken(ctx context.Context, req idenfy.TokenRequest) (idenfy.TokenResponse, error)
	Process(ctx context.Context, req idenfy.ProcessRequest) error
	Status(ctx context.Context, scanRef string) (idenfy.StatusResponse, error)
}

// store is what the stage needs of a pipeline.Store.
type store interface {
	Transition(ctx context.Context, t pipeline.Transition) error
	Get(ctx context.Context, id int64) (pipeline.Record, error)
}

// Options configure the stage.
type Options struct {
	TokenType      string         // IDENTIFICATION (default) or DOCUMENT
	ExpiryTime     int            // token expiryTime in seconds; default 900
	SendPersonal   bool           // send first/last name and date of birth for cross-checking
	DummyStatus    string         // DEV keys only
	CallbackURL    string         // sent only when set
	TokenExtra     map[string]any // other token parameters, passed through
	MaxAttempts    int            // token attempts per record before it fails; default 5
	RetryBackoff   time.Duration  // base backoff of a retryable record failure; default 1m
	MaxSubmissions int            // tokens this run may create; 0 = no cap
	// ResendSkipAnalysis: when /process rejects the photos (200 with a
	// message, "document not detected"), resend the record once on a new
	// token with skipAnalysis: true. Off by default (a second token is billed).
	ResendSkipAnalysis bool
	RunID              string
	// Lease is renewed (to now + Lease) before each paid call, so a record in
	// flight is never taken by another worker however long the call waits
	// on the limiter; default 10m. Set it to the Runner's lease.
	Lease time.Duration
	// OrphanMargin is added to a possible orphan token's expiry before the
	// record is retried: the request may reach iDenfy up to the client's
	// timeout (60 s) after it left, and clocks differ. Default 2m.
	OrphanMargin time.Duration
}

// DefaultOrphanMargin is Options.OrphanMargin's default.
const DefaultOrphanMargin = 2 * time.Minute

// CodeResendSkipAnalysis is the error code of a record whose photos were
// rejected and that waits for its one resend with skipAnalysis on a new
// token (Options.ResendSkipAnalysis). It stays on the record until the
// resend's /process answers, so a crash in between does not lose it.
const CodeResendSkipAnalysis = "photo_rejected_resend"

// ErrCapReached is returned by Submit when MaxSubmissions tokens were created.
var ErrCapReached = fmt.Errorf("submit: %w", pipeline.ErrCapReached)

// FatalError wraps an API error that must stop the run (credentials, credits).
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return "fatal API error: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// Fatal marks the error as one that ends the run.
func (e *FatalError) Fatal() bool { return true }

// Stage implements pipeline.Submitter.
type Stage struct {
	api    API
	st     store
	opt    Options
	log    *slog.Logger
	now    func() time.Time
	tokens atomic.Int64
}

var _ pipeline.Submitter = (*Stage)(nil)

// NewStage returns the submit stage.
func NewStage(api API, st store, opt Options, log *slog.Logger) *Stage {
	if opt.TokenType == "" {
		opt.TokenType = "IDENTIFICATION"
	}
	if opt.ExpiryTime == 0 {
		opt.ExpiryTime = 900
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.Lease == 0 {
		opt.Lease = 10 * time.Minute
	}
	if opt.OrphanMargin <= 0 {
		opt.OrphanMargin = DefaultOrphanMargin
	}
	if opt.RetryBackoff == 0 {
		opt.RetryBackoff = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stage{api: api, st: st, opt: opt, log: log.With("stage", "submit"), now: time.Now}
}

// TokensCreated returns the number of tokens this stage created.
func (s *Stage) TokensCreated() int64 { return s.tokens.Load() }

// CapReached reports whether MaxSubmissions tokens were created.
func (s *Stage) CapReached() bool {
	return s.opt.MaxSubmissions > 0 && s.tokens.Load() >= int64(s.opt.MaxSubmissions)
}

// bg returns a context for store writes that must happen even when ctx was
// cancelled (the outcome of a call that did reach iDenfy must be recorded).
func bg(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// move is a compare-and-set transition written even when ctx is cancelled.
func (s *Stage) move(ctx context.Context, rec *pipeline.Record, to pipeline.State, p pipeline.Patch) error {
	wctx, cancel := bg(ctx)
	defer cancel()
	now := s.now()
	err := s.st.Transition(wctx, pipeline.Transition{ID: rec.ID, From: rec.State, Version: rec.Version, To: to, Now: now, Patch: p})
	if err != nil {
		return err
	}
	rec.State = to
	rec.Version++
	return nil
}

func ptr[T any](v T) *T { return &v }

// Submit runs token and process for a claimed pending or tokened record.
func (s *Stage) Submit(ctx context.Context, rec pipeline.Record, p pipeline.Prepared) (pipeline.SubmitOutcome, error) {
	var out pipeline.SubmitOutcome
	if rec.State == pipeline.StatePending {
		if s.opt.MaxSubmissions > 0 && s.tokens.Add(1) > int64(s.opt.MaxSubmissions) {
			s.tokens.Add(-1)
			return out, ErrCapReached
		} else if s.opt.MaxSubmissions == 0 {
			s.tokens.Add(1)
		}
		done, err := s.token(ctx, &rec, p, &out)
		if err != nil || done {
			if !out.Charged {
				s.tokens.Add(-1)
			}
			out.State = rec.State
			return out, err
		}
	}
	if rec.State != pipeline.StateTokened {
		return out, fmt.Errorf("submit: record %d in state %s", rec.ID, rec.State)
	}
	err := s.process(ctx, &rec, p, &out)
	out.State = rec.State
	return out, err
}

// token creates the token and stores it. The intent (tokening) is written
// only once the limiter has granted the call, right before the request
// leaves: a kill while the record waits on the limiter orphans nothing.
// A /token that iDenfy itself refused with a server error (its standard
// error body: nothing created) is retried here, through the limiter, after
// a short backoff, within MaxAttempts. done reports that the record was
// moved elsewhere than tokened (failed, back to pending, orphan).
func (s *Stage) token(ctx context.Context, rec *pipeline.Record, p pipeline.Prepared, out *pipeline.SubmitOutcome) (done bool, err error) {
	for try := 0; ; try++ {
		if rec.Attempts >= s.opt.MaxAttempts {
			// Every token may be billed: a record that has had MaxAttempts of
			// them (expired unused, 409, transient errors) fails with its last
			// error instead of being given yet another.
			code := rec.ErrorCode
			if code == "" {
				code = "max_attempts"
			}
			msg := fmt.Sprintf("%d token attempts used (limits.max_attempts); last error: %s", rec.Attempts, rec.ErrorMessage)
			out.Code = code
			return true, s.moveOrLog(ctx, rec, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed), ErrorCode: &code, ErrorMessage: &msg, RunID: ptr(s.opt.RunID)})
		}
		retry, done, err := s.tokenOnce(ctx, rec, p, out)
		if !retry {
			return done, err
		}
		// iDenfy refused the call with a server error: nothing was created.
		wait := min(time.Second<<try, 16*time.Second)
		s.log.Info("token call refused by a server error; retrying", pipeline.LogKeyRecord, rec.ID, "attempt", rec.Attempts, "wait", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			s.release(ctx, rec)
			return true, nil
		}
	}
}

// tokenOnce makes one token attempt. retry reports a /token refused by
// iDenfy with a server error: the record is back in pending (its attempt
// counted), still leased, and may be tried again at once.
func (s *Stage) tokenOnce(ctx context.Context, rec *pipeline.Record, p pipeline.Prepared, out *pipeline.SubmitOutcome) (retry, done bool, err error) {
	req := idenfy.TokenRequest{
		ClientID: rec.Input.ClientID, TokenType: s.opt.TokenType, ExternalRef: rec.Ref,
		Country: rec.Input.Country, ExpiryTime: s.opt.ExpiryTime, DummyStatus: s.opt.DummyStatus,
		CallbackURL: s.opt.CallbackURL, Extra: s.opt.TokenExtra,
	}
	if rec.Input.DocumentType != "" {
		req.Documents = []string{rec.Input.DocumentType}
	}
	if s.opt.SendPersonal {
		req.FirstName, req.LastName, req.DateOfBirth = rec.Input.FirstName, rec.Input.LastName, rec.Input.DateOfBirth
	}
	prevCode := rec.ErrorCode
	intent := false
	sendCtx := idenfy.WithBeforeSend(ctx, func() error {
		now := s.now()
		// Any token this call creates has certainly expired by then.
		mayExpire := now.Add(time.Duration(s.opt.ExpiryTime) * time.Second)
		lease := now.Add(s.opt.Lease)
		if err := s.move(ctx, rec, pipeline.StateTokening, pipeline.Patch{
			IntentAt: &now, TokenExpiresAt: &mayExpire, Attempts: ptr(rec.Attempts + 1), Hashes: p.Hashes, KeepLease: true, LeaseUntil: &lease,
			RunID: ptr(s.opt.RunID), ErrorCode: ptr(keepResendMark(rec.ErrorCode)), ErrorMessage: ptr(""),
		}); err != nil {
			return err
		}
		rec.Attempts++
		rec.IntentAt, rec.TokenExpiresAt = now, mayExpire
		intent = true
		pipeline.CrashPoint(pipeline.CrashBeforeToken)
		return nil
	})
	resp, err := s.api.CreateToken(sendCtx, req)
	if !intent {
		// Nothing left the process: the record is as it was claimed.
		switch {
		case errors.Is(err, pipeline.ErrConflict):
			out.Code = "conflict"
			return false, true, nil
		case err != nil && ctx.Err() != nil:
			s.release(ctx, rec)
			return false, true, nil
		case err != nil:
			return false, true, err
		}
	}
	if err != nil {
		if isRefusedServerError(err) && ctx.Err() == nil {
			msg := err.Error()
			out.Code = errorCode(err)
			if e := s.move(ctx, rec, pipeline.StatePending, pipeline.Patch{IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{},
				ErrorCode: ptr(codeTokenServerError), ErrorMessage: &msg, KeepLease: true}); e != nil {
				if errors.Is(e, pipeline.ErrConflict) {
					return false, true, nil
				}
				return false, true, e
			}
			rec.ErrorCode, rec.ErrorMessage = codeTokenServerError, msg
			return true, false, nil
		}
		return false, true, s.tokenFailed(ctx, rec, err, out, prevCode)
	}
	out.Charged = true
	pipeline.CrashPoint(pipeline.CrashAfterToken)
	exp := s.now().Add(time.Duration(resp.ExpiryTime) * time.Second)
	if resp.ExpiryTime == 0 {
		exp = s.now().Add(time.Duration(s.opt.ExpiryTime) * time.Second)
	}
	lease := s.now().Add(s.opt.Lease)
	tp := pipeline.Patch{ScanRef: &resp.ScanRef, AuthToken: &resp.AuthToken, TokenExpiresAt: &exp, KeepLease: true, LeaseUntil: &lease}
	if err := s.move(ctx, rec, pipeline.StateTokened, tp); err != nil {
		if !errors.Is(err, pipeline.ErrConflict) {
			// The token exists but is not stored: the record stays tokening
			// and becomes a possible orphan once this worker is known dead.
			return false, true, fmt.Errorf("store token of record %d: %w", rec.ID, err)
		}
		// Another worker moved the record meanwhile (a rescue made it an
		// orphan). We know its token: store it rather than orphan it.
		if !s.adoptToken(ctx, rec, tp) {
			s.log.Warn("token created but the record moved on; the token expires unused", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyScanRef, resp.ScanRef)
			return false, true, nil
		}
	}
	rec.ScanRef, rec.AuthToken, rec.TokenExpiresAt = resp.ScanRef, resp.AuthToken, exp
	pipeline.CrashPoint(pipeline.CrashAfterTokenStored)
	return false, false, nil
}

// codeTokenServerError marks a record whose last /token iDenfy refused with
// a server error: a 409 on the next attempt means that call did create a
// token after all.
const codeTokenServerError = "token_server_error"

// isRefusedServerError reports a call answered by iDenfy itself with a
// server error (its standard body, not a gateway's): handled and refused.
// For /token nothing was created; /process calls are reconciled anyway.
func isRefusedServerError(err error) bool {
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || !ae.ServerError() || ae.Throttled() || ae.Identifier == "" {
		return false
	}
	return ae.Endpoint != idenfy.PathToken || !errors.Is(err, idenfy.ErrAmbiguous)
}

// adoptToken stores a freshly created token on a record that another worker
// moved to orphan (or back to tokening) while the call was in flight.
func (s *Stage) adoptToken(ctx context.Context, rec *pipeline.Record, p pipeline.Patch) bool {
	wctx, cancel := bg(ctx)
	defer cancel()
	cur, err := s.st.Get(wctx, rec.ID)
	if err != nil || cur.ScanRef != "" || (cur.State != pipeline.StateOrphan && cur.State != pipeline.StateTokening) {
		return false
	}
	*rec = cur
	p.ErrorCode, p.ErrorMessage = ptr(""), ptr("")
	return s.move(ctx, rec, pipeline.StateTokened, p) == nil
}

func (s *Stage) tokenFailed(ctx context.Context, rec *pipeline.Record, err error, out *pipeline.SubmitOutcome, prevCode string) error {
	var apiErr *idenfy.APIError
	errors.As(err, &apiErr)
	code := errorCode(err)
	out.Code = code
	msg := err.Error()
	switch {
	case errors.Is(err, idenfy.ErrAmbiguous):
		// The request may have created a token: never retried silently. The
		// record waits until any such token has certainly expired.
		s.log.Warn("token call ambiguous; record is a possible orphan", pipeline.LogKeyRecord, rec.ID, pipeline.LogKeyErr, msg)
		out.Charged = true // possibly: it counts against max_submissions
		return s.orphan(ctx, rec, "token_ambiguous", msg)
	case apiErr == nil && ctx.Err() != nil:
		// Cancelled before the request was sent: nothing was spent.
		return s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{Attempts: ptr(rec.Attempts - 1), IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{}})
	case idenfy.IsFatal(err):
		if e := s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{Attempts: ptr(rec.Attempts - 1), IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{}, ErrorCode: &code, ErrorMessage: &msg}); e != nil {
			return e
		}
		return &FatalError{Err: err}
	case idenfy.IsConflict(err) && prevCode == codeTokenServerError:
		// The previous /token was refused with a server error, yet iDenfy
		// now holds an active token for this clientId: that call did create
		// it. The record is a possible orphan until the token expires.
		out.Charged = true
		return s.orphan(ctx, rec, "token_created_by_refused_call", msg)
	case idenfy.IsConflict(err):
		// iDenfy holds an active token for this clientId: park the record until it expires.
		nb := s.now().Add(time.Duration(s.opt.ExpiryTime)*time.Second + s.opt.OrphanMargin)
		return s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{NotBefore: &nb, IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{}, ErrorCode: ptr("active_token_409"), ErrorMessage: &msg})
	case idenfy.IsRetryable(err):
		return s.retryLater(ctx, rec, code, msg)
	default:
		return s.moveOrLog(ctx, rec, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed), ErrorCode: &code, ErrorMessage: &msg, RunID: ptr(s.opt.RunID)})
	}
}

// orphan makes a tokening record a possible orphan that is retried, on its
// own, once any token it may have has certainly expired (now + the token's
// expiryTime + OrphanMargin), or earlier when the token's expiry callback
// adopts it.
func (s *Stage) orphan(ctx context.Context, rec *pipeline.Record, code, msg string) error {
	nb := s.now().Add(time.Duration(s.opt.ExpiryTime)*time.Second + s.opt.OrphanMargin)
	return s.moveOrLog(ctx, rec, pipeline.StateOrphan, pipeline.Patch{NotBefore: &nb, TokenExpiresAt: ptr(nb.Add(-s.opt.OrphanMargin)), ErrorCode: &code, ErrorMessage: &msg})
}

// retryLater puts a record whose call failed transiently back to pending
// with a backoff, or fails it when its attempts are used up.
func (s *Stage) retryLater(ctx context.Context, rec *pipeline.Record, code, msg string) error {
	if rec.Attempts >= s.opt.MaxAttempts {
		return s.moveOrLog(ctx, rec, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed), ErrorCode: &code, ErrorMessage: &msg, RunID: ptr(s.opt.RunID)})
	}
	nb := s.now().Add(s.opt.RetryBackoff << min(rec.Attempts, 6))
	return s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{NotBefore: &nb, IntentAt: &time.Time{}, TokenExpiresAt: &time.Time{}, ErrorCode: &code, ErrorMessage: &msg})
}

func (s *Stage) moveOrLog(ctx context.Context, rec *pipeline.Record, to pipeline.State, p pipeline.Patch) error {
	err := s.move(ctx, rec, to, p)
	if errors.Is(err, pipeline.ErrConflict) {
		s.log.Info("record moved concurrently", pipeline.LogKeyRecord, rec.ID, "to", string(to))
		return nil
	}
	return err
}

// maxProcessRetries bounds the immediate re-uploads of a /process that
// iDenfy refused with a server error while the token stayed unused.
const maxProcessRetries = 3

// process uploads the images with the stored token.
func (s *Stage) process(ctx context.Context, rec *pipeline.Record, p pipeline.Prepared, out *pipeline.SubmitOutcome) error {
	return s.processAttempt(ctx, rec, p, out, 0)
}

func (s *Stage) processAttempt(ctx context.Context, rec *pipeline.Record, p pipeline.Prepared, out *pipeline.SubmitOutcome, retries int) error {
	images := make(map[string][]byte, len(p.Images))
	for side, b := range p.Images {
		images[string(side)] = b
	}
	req := idenfy.ProcessRequest{AuthToken: rec.AuthToken, Country: rec.Input.Country, DocumentType: rec.Input.DocumentType, Images: images,
		SkipAnalysis: rec.ErrorCode == CodeResendSkipAnalysis}
	// Renew the lease right before the upload: the version check proves this
	// worker still holds the record, so no other worker uploads it too.
	lease := s.now().Add(s.opt.Lease)
	if err := s.move(ctx, rec, pipeline.StateTokened, pipeline.Patch{KeepLease: true, LeaseUntil: &lease}); err != nil {
		if errors.Is(err, pipeline.ErrConflict) {
			out.Code = "conflict"
			return nil
		}
		return err
	}
	err := s.api.Process(ctx, req)
	if err == nil {
		pipeline.CrashPoint(pipeline.CrashAfterProcess)
		out.Submitted = true
		return s.submitted(ctx, rec, p.Hashes)
	}
	code := errorCode(err)
	msg := err.Error()
	out.Code = code
	switch {
	case errors.Is(err, idenfy.ErrPhotoRejected) && s.opt.ResendSkipAnalysis && !req.SkipAnalysis:
		// The token is spent: back to pending for one new token, marked so
		// that the next upload skips the photo analysis.
		s.log.Info("photos rejected at upload; resending once with skipAnalysis on a new token", pipeline.LogKeyRecord, rec.ID)
		return s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{
			ScanRef: ptr(""), AuthToken: ptr(""), TokenExpiresAt: &time.Time{}, IntentAt: &time.Time{},
			ErrorCode: ptr(CodeResendSkipAnalysis), ErrorMessage: &msg,
		})
	case errors.Is(err, idenfy.ErrPhotoRejected):
		return s.moveOrLog(ctx, rec, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed), ErrorCode: &code, ErrorMessage: &msg, RunID: ptr(s.opt.RunID)})
	case idenfy.IsFatal(err):
		// The token stays stored and valid until it expires; the next run reconciles it.
		s.release(ctx, rec)
		return &FatalError{Err: err}
	case idenfy.IsTokenNotValid(err), errors.Is(err, idenfy.ErrAmbiguous), idenfy.IsRetryable(err):
		// Did the upload land after all? Ask, never guess.
		again, rerr := s.Reconcile(ctx, *rec)
		if rerr != nil {
			s.release(ctx, rec)
			return nil // stays tokened; reconciled on the next claim
		}
		if again && isRefusedServerError(err) && retries < maxProcessRetries && ctx.Err() == nil {
			// iDenfy answered with its own error body and /status says the
			// token is unused: the upload never landed and nothing is in
			// flight. Upload again with the same token at once (single-use:
			// a late first upload would make this one TOKEN_NOT_VALID).
			s.log.Info("upload refused by a server error and the token is unused; uploading again", pipeline.LogKeyRecord, rec.ID)
			return s.processAttempt(ctx, rec, p, out, retries+1)
		}
		if again && !idenfy.IsTokenNotValid(err) {
			s.release(ctx, rec) // token unused: the next claim uploads again with it
		}
		return nil
	case ctx.Err() != nil:
		s.release(ctx, rec)
		return nil
	default:
		return s.moveOrLog(ctx, rec, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed), ErrorCode: &code, ErrorMessage: &msg, RunID: ptr(s.opt.RunID)})
	}
}

// release gives up the lease of a tokened record so a later claim reconciles it.
// It waits a little first, so that a server that keeps failing is not
// asked again in a tight loop.
func (s *Stage) release(ctx context.Context, rec *pipeline.Record) {
	nb := s.now().Add(releaseBackoff)
	_ = s.moveOrLog(ctx, rec, rec.State, pipeline.Patch{NotBefore: &nb})
}

// releaseBackoff is how long a released tokened record waits before it is
// claimed again. It is longer than the client's HTTP timeout (60 s): after an
// unanswered /process, iDenfy may still be taking the upload in, and /status
// must not be asked whether it landed before it could have.
const releaseBackoff = 2 * time.Minute

func (s *Stage) submitted(ctx context.Context, rec *pipeline.Record, hashes map[pipeline.Side]string) error {
	now := s.now()
	p := pipeline.Patch{SubmittedAt: &now, Hashes: hashes}
	if rec.ErrorCode == CodeResendSkipAnalysis {
		p.ErrorCode, p.ErrorMessage = ptr(""), ptr("") // the resend landed
	}
	err := s.move(ctx, rec, pipeline.StateSubmitted, p)
	if errors.Is(err, pipeline.ErrConflict) {
		// A webhook can beat us to it: the record is then submitted or final already.
		wctx, cancel := bg(ctx)
		defer cancel()
		cur, gerr := s.st.Get(wctx, rec.ID)
		if gerr != nil {
			return gerr
		}
		*rec = cur
		return nil
	}
	return err
}

// Reconcile asks /api/v2/status what became of a stored token. ACTIVE: the
// upload never landed, needsProcess is true and the record stays tokened.
// EXPIRED: the token expired unused; the record goes back to pending for a new
// one (reported). Anything else: the upload landed; the record is submitted.
func (s *Stage) Reconcile(ctx context.Context, rec pipeline.Record) (bool, error) {
	st, err := s.api.Status(ctx, rec.ScanRef)
	if err != nil {
		if idenfy.IsFatal(err) {
			return false, &FatalError{Err: err}
		}
		return false, err
	}
	switch st.Status {
	case "ACTIVE":
		if !rec.TokenExpiresAt.IsZero() && s.now().After(rec.TokenExpiresAt) {
			return false, s.tokenExpired(ctx, &rec)
		}
		return true, nil
	case "EXPIRED", "EXPIRED-DELETED":
		return false, s.tokenExpired(ctx, &rec)
	default:
		if rec.State == pipeline.StateTokened {
			return false, s.submitted(ctx, &rec, nil)
		}
		return false, nil
	}
}

func (s *Stage) tokenExpired(ctx context.Context, rec *pipeline.Record) error {
	s.log.Warn("token expired unused; record returns to pending for a new token", pipeline.LogKeyRecord, rec.ID)
	return s.moveOrLog(ctx, rec, pipeline.StatePending, pipeline.Patch{
		ScanRef: ptr(""), AuthToken: ptr(""), TokenExpiresAt: &time.Time{}, IntentAt: &time.Time{},
		ErrorCode: ptr("token_expired_unused"), ErrorMessage: ptr("the token expired before the images were uploaded"),
	})
}

// keepResendMark returns the error code a new token attempt starts with:
// the resend mark survives, anything else is cleared.
func keepResendMark(code string) string {
	if code == CodeResendSkipAnalysis {
		return code
	}
	return ""
}

// errorCode is the stable code of an API error: its identifier, else http_NNN.
func errorCode(err error) string {
	var apiErr *idenfy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Identifier != "":
		return apiErr.Identifier
	case apiErr != nil:
		return fmt.Sprintf("http_%d", apiErr.HTTPStatus)
	case errors.Is(err, idenfy.ErrAmbiguous):
		return "no_response"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	default:
		return "network_error"
	}
}
