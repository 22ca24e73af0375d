package submit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// A /token that iDenfy answers with a 5xx and its standard error body
// created nothing: the stage retries it through the limiter, within
// max_attempts, and the record is submitted with one token.
func TestTokenServerErrorIsRetried(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	fault := idenfytest.Fault{Status: http.StatusInternalServerError, Identifier: idenfy.IdentifierInternalError, Message: "Something went wrong"}
	e.sb.InjectFault(idenfy.PathToken, fault, fault)
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil || out.State != pipeline.StateSubmitted || !out.Submitted {
		t.Fatalf("submit after two refused /token calls: %+v %v", out, err)
	}
	r := e.get(t)
	if r.Attempts != 3 || r.State != pipeline.StateSubmitted {
		t.Errorf("record: %s with %d attempts, want submitted after 3", r.State, r.Attempts)
	}
	if tokens, processes := e.charges(t); tokens != 1 || processes != 1 {
		t.Errorf("charged %d tokens, %d processes; want 1 and 1", tokens, processes)
	}
}

// A refused /token is retried only within max_attempts: then it fails.
func TestTokenServerErrorRespectsMaxAttempts(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{MaxAttempts: 2})
	fault := idenfytest.Fault{Status: http.StatusInternalServerError, Identifier: idenfy.IdentifierInternalError, Message: "x"}
	e.sb.InjectFault(idenfy.PathToken, fault, fault, fault)
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil || out.State != pipeline.StateFailed {
		t.Fatalf("submit: %+v %v, want failed after max_attempts", out, err)
	}
	if r := e.get(t); r.Attempts != 2 || r.ErrorCode != "token_server_error" {
		t.Errorf("record: %d attempts, code %q", r.Attempts, r.ErrorCode)
	}
	if tokens, _ := e.charges(t); tokens != 0 {
		t.Errorf("%d tokens created", tokens)
	}
}

// A 409 on the retry of a refused /token means the refused call did create
// a token: the record becomes a possible orphan, retried by itself once that
// token has certainly expired (now + expiryTime + the margin), never sooner.
func TestConflictAfterServerErrorIsOrphan(t *testing.T) {
	e := newEnv(t, idenfytest.Options{ConflictOnActiveClient: true}, submit.Options{})
	// The first call's token, created although its answer was an error.
	if _, err := e.api.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "cust-1", ExpiryTime: 900}); err != nil {
		t.Fatal(err)
	}
	e.sb.InjectFault(idenfy.PathToken, idenfytest.Fault{Status: http.StatusInternalServerError, Identifier: idenfy.IdentifierInternalError, Message: "x"})
	start := time.Now()
	out, err := e.stage.Submit(context.Background(), e.rec, e.prep)
	if err != nil || out.State != pipeline.StateOrphan {
		t.Fatalf("submit: %+v %v, want orphan", out, err)
	}
	r := e.get(t)
	want := start.Add(900*time.Second + submit.DefaultOrphanMargin)
	if r.NotBefore.Before(want) || r.NotBefore.After(want.Add(5*time.Second)) || r.ErrorCode != "token_created_by_refused_call" {
		t.Errorf("orphan: not before %v (want %v), code %q", r.NotBefore, want, r.ErrorCode)
	}
	if _, processes := e.charges(t); processes != 0 {
		t.Errorf("%d processes", processes)
	}
}

// blockingLimiter never grants a call until its context ends.
type blockingLimiter struct{ waiting chan struct{} }

func (l *blockingLimiter) Wait(ctx context.Context) error {
	close(l.waiting)
	<-ctx.Done()
	return ctx.Err()
}
func (l *blockingLimiter) Throttled(time.Duration) {}

// The intent is written only once the limiter grants the call: a record
// stopped while it waits on the limiter is left as it was claimed (pending,
// no attempt counted, no intent), never a possible orphan.
func TestNoIntentWhileWaitingOnTheLimiter(t *testing.T) {
	e := newEnv(t, idenfytest.Options{}, submit.Options{})
	lim := &blockingLimiter{waiting: make(chan struct{})}
	api := idenfy.New(idenfy.Config{BaseURL: e.base, APIKey: "k", APISecret: "s", Limiter: lim})
	stage := submit.NewStage(api, e.st, submit.Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = stage.Submit(ctx, e.rec, e.prep)
	}()
	<-lim.waiting
	if r := e.get(t); r.State != pipeline.StatePending || !r.IntentAt.IsZero() {
		t.Errorf("while waiting on the limiter: %s, intent %v; want pending, no intent", r.State, r.IntentAt)
	}
	cancel() // the hard stop (or a kill) while the call waits
	<-done
	r := e.get(t)
	if r.State != pipeline.StatePending || r.Attempts != 0 || !r.IntentAt.IsZero() || r.LeaseOwner != "" {
		t.Errorf("after the stop: %s, %d attempts, intent %v, lease %q; want pending, untouched, released", r.State, r.Attempts, r.IntentAt, r.LeaseOwner)
	}
	if n := e.sb.Requests()[idenfy.PathToken]; n != 0 {
		t.Errorf("%d /token requests reached the sandbox", n)
	}
}
