package submit_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// env is a sandbox, a client, a store holding one pending record, and the stage.
type env struct {
	sb    *idenfytest.Server
	base  string
	api   *idenfy.Client
	st    *sqlitestore.Store
	stage *submit.Stage
	rec   pipeline.Record
	prep  pipeline.Prepared
}

func tinyJPEG() []byte {
	// A valid 1×1 baseline JPEG; the sandbox only checks that images decode.
	return []byte{0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x08, 0x06, 0x06, 0x07, 0x06, 0x05, 0x08, 0x07, 0x07, 0x07, 0x09, 0x09, 0x08, 0x0a, 0x0c, 0x14, 0x0d, 0x0c, 0x0b, 0x0b, 0x0c, 0x19, 0x12, 0x13, 0x0f, 0x14, 0x1d, 0x1a, 0x1f, 0x1e, 0x1d, 0x1a, 0x1c, 0x1c, 0x20, 0x24, 0x2e, 0x27, 0x20, 0x22, 0x2c, 0x23, 0x1c, 0x1c, 0x28, 0x37, 0x29, 0x2c, 0x30, 0x31, 0x34, 0x34, 0x34, 0x1f, 0x27, 0x39, 0x3d, 0x38, 0x32, 0x3c, 0x2e, 0x33, 0x34, 0x32, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xfb, 0xd3, 0x28, 0xa2, 0x80, 0x3f, 0xff, 0xd9}
}

func newEnv(t *testing.T, opts idenfytest.Options, sopt submit.Options) *env {
	t.Helper()
	ctx := context.Background()
	opts.APIKey, opts.APISecret = "k", "s"
	sb := idenfytest.New(opts)
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	api := idenfy.New(idenfy.Config{BaseURL: base, APIKey: "k", APISecret: "s", MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := pipeline.Input{ClientID: "cust-1", Country: "LT", DocumentType: "PASSPORT", Sources: map[pipeline.Side]string{pipeline.SideFront: "f", pipeline.SideFace: "x"}}
	if _, err := st.Load(ctx, "j", []pipeline.Record{{Job: "j", Key: "cust-1", Ref: pipeline.RefFor("j", "cust-1"), Line: 2, State: pipeline.StatePending, Input: in}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Claim(ctx, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "t", Limit: 1, Lease: time.Minute, Now: time.Now()})
	if err != nil || len(recs) != 1 {
		t.Fatalf("claim: %v %d", err, len(recs))
	}
	img := tinyJPEG()
	return &env{sb: sb, base: base, api: api, st: st, stage: submit.NewStage(api, st, sopt, nil), rec: recs[0],
		prep: pipeline.Prepared{Images: map[pipeline.Side][]byte{pipeline.SideFront: img, pipeline.SideFace: img}, Hashes: map[pipeline.Side]string{pipeline.SideFront: "h1"}}}
}

func (e *env) get(t *testing.T) pipeline.Record {
	t.Helper()
	r, err := e.st.Get(context.Background(), e.rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) charges(t *testing.T) (tokens, processes int) {
	c := e.sb.Charges().PerClient["cust-1"]
	return c.Tokens, c.Processes
}

func TestSubmitHappyPath(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil || !out.Submitted || !out.Charged || out.State != pipeline.StateSubmitted {
		t.Fatalf("submit: %+v %v", out, err)
	}
	r := e.get(t)
	if r.State != pipeline.StateSubmitted || r.ScanRef == "" || r.SubmittedAt.IsZero() || r.IntentAt.IsZero() || r.Attempts != 1 || r.Hashes[pipeline.SideFront] != "h1" || r.LeaseOwner != "" {
		t.Errorf("record after submit: %+v", r)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 1 {
		t.Errorf("charged %d tokens, %d processes", tok, proc)
	}
}

// The upload lands but its answer is lost: the stage asks /status and
// records the submission instead of uploading again.
func TestSubmitProcessAnswerLost(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	e.sb.InjectFault(idenfy.PathProcess, idenfytest.Fault{DropAfterApply: true})
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get(t); r.State != pipeline.StateSubmitted {
		t.Errorf("state %s (out %+v), want submitted", r.State, out)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 1 {
		t.Errorf("charged %d tokens, %d processes; want 1 and 1", tok, proc)
	}
}

// The upload never reached iDenfy (connection dropped before it acted): the
// token is still ACTIVE, the record stays tokened, and the next attempt uploads
// with the same token.
func TestSubmitProcessDroppedThenResumed(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	e.sb.InjectFault(idenfy.PathProcess, idenfytest.Fault{Drop: true})
	if _, err := e.stage.Submit(context.Background(), e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	r := e.get(t)
	if r.State != pipeline.StateTokened || r.LeaseOwner != "" {
		t.Fatalf("after a dropped upload: state %s lease %q, want tokened and released", r.State, r.LeaseOwner)
	}
	needs, err := e.stage.Reconcile(context.Background(), r)
	if err != nil || !needs {
		t.Fatalf("reconcile: %v %v, want needs process", needs, err)
	}
	if _, err := e.stage.Submit(context.Background(), r, e.prep); err != nil {
		t.Fatal(err)
	}
	if r2 := e.get(t); r2.State != pipeline.StateSubmitted || r2.ScanRef != r.ScanRef {
		t.Errorf("resumed: state %s scanRef %s→%s", r2.State, r.ScanRef, r2.ScanRef)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 1 {
		t.Errorf("charged %d tokens, %d processes; want 1 and 1", tok, proc)
	}
}

// A process died after storing the token; its upload landed after all. The
// re-upload gets TOKEN_NOT_VALID, which is reconciled into submitted.
func TestSubmitTokenNotValidAfterLandedUpload(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	ctx := context.Background()
	e.sb.InjectFault(idenfy.PathProcess, idenfytest.Fault{Drop: true})
	if _, err := e.stage.Submit(ctx, e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	r := e.get(t)
	// The "in-flight" upload of the dead process lands now.
	if err := e.api.Process(ctx, idenfy.ProcessRequest{AuthToken: r.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: map[string][]byte{"FRONT": tinyJPEG(), "FACE": tinyJPEG()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.stage.Submit(ctx, r, e.prep); err != nil {
		t.Fatal(err)
	}
	if r2 := e.get(t); r2.State != pipeline.StateSubmitted {
		t.Errorf("state %s, want submitted", r2.State)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 1 {
		t.Errorf("charged %d tokens, %d processes; want 1 and 1", tok, proc)
	}
}

// A /token whose answer is lost may have created a token: the record becomes
// a possible orphan and is never given a second token silently.
func TestSubmitTokenAnswerLostIsOrphan(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	e.sb.InjectFault(idenfy.PathToken, idenfytest.Fault{DropAfterApply: true})
	if _, err := e.stage.Submit(context.Background(), e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t); r.State != pipeline.StateOrphan || r.ErrorCode != "token_ambiguous" {
		t.Errorf("state %s code %s, want orphan token_ambiguous", r.State, r.ErrorCode)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 0 {
		t.Errorf("charged %d tokens, %d processes; want 1 and 0", tok, proc)
	}
}

func TestSubmitConflictParksRecord(t *testing.T) {
	e := newEnv(t, idenfytest.Options{ConflictOnActiveClient: true}, submit.Options{ExpiryTime: 900})
	if _, err := e.api.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "cust-1", TokenType: "IDENTIFICATION"}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := e.stage.Submit(context.Background(), e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	r := e.get(t)
	if r.State != pipeline.StatePending || r.ErrorCode != "active_token_409" || r.NotBefore.Before(before.Add(15*time.Minute)) {
		t.Errorf("after 409: state %s code %s not_before %s", r.State, r.ErrorCode, r.NotBefore)
	}
}

func TestSubmitBadCredentialsStopsRunAndLosesNothing(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	bad := idenfy.New(idenfy.Config{BaseURL: e.base, APIKey: "k", APISecret: "wrong"})
	stage := submit.NewStage(bad, e.st, submit.Options{}, nil)
	_, err := stage.Submit(context.Background(), e.rec, e.prep)
	var fatal *submit.FatalError
	if !errors.As(err, &fatal) {
		t.Fatalf("err %v, want FatalError", err)
	}
	if r := e.get(t); r.State != pipeline.StatePending || r.Attempts != 0 || !r.IntentAt.IsZero() {
		t.Errorf("after 401: state %s attempts %d intent %v, want pending and untouched", r.State, r.Attempts, r.IntentAt)
	}
}

func TestSubmitPhotoRejectedFails(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	e.sb.InjectFault(idenfy.PathProcess, idenfytest.Fault{Status: 200, Identifier: "VALIDATION_ERROR", Message: "Document was not detected"})
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get(t); r.State != pipeline.StateFailed || r.Outcome != pipeline.OutcomeFailed || r.ErrorCode != "VALIDATION_ERROR" || out.State != pipeline.StateFailed {
		t.Errorf("state %s outcome %s code %s", r.State, r.Outcome, r.ErrorCode)
	}
}

func TestSubmitCap(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{MaxSubmissions: 1})
	if _, err := e.stage.Submit(context.Background(), e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	if !e.stage.CapReached() {
		t.Error("cap not reached after one token")
	}
	_, err := e.stage.Submit(context.Background(), pipeline.Record{ID: 999, State: pipeline.StatePending}, e.prep)
	if !errors.Is(err, pipeline.ErrCapReached) {
		t.Errorf("second submit: %v, want ErrCapReached", err)
	}
}

func TestSubmitPhotoRejectedResentOnceWithSkipAnalysis(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, idenfytest.Options{PhotoRejectRate: 1}, submit.Options{ResendSkipAnalysis: true})
	if _, err := e.stage.Submit(ctx, e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	r := e.get(t)
	if r.State != pipeline.StatePending || r.ErrorCode != submit.CodeResendSkipAnalysis || r.ScanRef != "" || r.AuthToken != "" {
		t.Fatalf("after the rejection: state %s code %q, want pending for a resend on a new token", r.State, r.ErrorCode)
	}
	if tok, proc := e.charges(t); tok != 1 || proc != 0 {
		t.Errorf("charged %d tokens, %d processes after the rejection", tok, proc)
	}
	recs, err := e.st.Claim(ctx, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "t", Limit: 1, Lease: time.Minute, Now: time.Now()})
	if err != nil || len(recs) != 1 {
		t.Fatalf("reclaim: %v %d", err, len(recs))
	}
	out, err := e.stage.Submit(ctx, recs[0], e.prep)
	if err != nil || !out.Submitted {
		t.Fatalf("resend: %+v %v", out, err)
	}
	r = e.get(t)
	if r.State != pipeline.StateSubmitted || r.ErrorCode != "" {
		t.Errorf("after the resend: state %s code %q", r.State, r.ErrorCode)
	}
	// The sandbox rejects every upload that does not skip the analysis, so
	// the resend must have sent skipAnalysis: true on a second token.
	if tok, proc := e.charges(t); tok != 2 || proc != 1 {
		t.Errorf("charged %d tokens, %d processes, want 2 and 1", tok, proc)
	}
}

// A record that used up its token attempts fails with its last error instead
// of being given another (billable) token.
func TestSubmitMaxAttemptsFailsWithoutToken(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{MaxAttempts: 2})
	ctx := context.Background()
	code, msg := "token_expired_unused", "expired"
	if err := e.st.Transition(ctx, pipeline.Transition{ID: e.rec.ID, From: pipeline.StatePending, Version: e.rec.Version, To: pipeline.StatePending, Now: time.Now(),
		Patch: pipeline.Patch{Attempts: ptrInt(2), ErrorCode: &code, ErrorMessage: &msg, KeepLease: true}}); err != nil {
		t.Fatal(err)
	}
	rec := e.get(t)
	out, err := e.stage.Submit(ctx, rec, e.prep)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get(t); r.State != pipeline.StateFailed || r.ErrorCode != code || out.Charged {
		t.Errorf("state %s code %s charged %v; want failed with the last error and no token", r.State, r.ErrorCode, out.Charged)
	}
	if tok, _ := e.charges(t); tok != 0 {
		t.Errorf("%d tokens created", tok)
	}
}

func ptrInt(i int) *int { return &i }

// The lease is renewed before each paid call: a tokened record's lease runs
// from the moment of the upload, not from the claim.
func TestSubmitRenewsLeaseBeforeUpload(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{Lease: time.Hour})
	e.sb.InjectFault(idenfy.PathProcess, idenfytest.Fault{Drop: true})
	if _, err := e.stage.Submit(context.Background(), e.rec, e.prep); err != nil {
		t.Fatal(err)
	}
	// The dropped upload released the record; its last renewal was written
	// with the hour-long lease before the upload (then cleared by release).
	r := e.get(t)
	if r.State != pipeline.StateTokened || r.Version < e.rec.Version+4 {
		t.Errorf("state %s version %d→%d: want tokened after intent, token, renewal and release", r.State, e.rec.Version, r.Version)
	}
}
