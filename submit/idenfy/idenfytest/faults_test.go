package idenfytest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

func noRetryClient(base string) *idenfy.Client {
	return idenfy.New(idenfy.Config{BaseURL: base, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret, MaxRetries: -1})
}

func TestServerErrorRateIsSeededAndHasNoEffect(t *testing.T) {
	ctx := context.Background()
	outcomes := func(seed int64) []bool {
		srv, _, base := start(t, idenfytest.Options{ServerErrorRate: 0.5, FaultSeed: seed})
		c := noRetryClient(base)
		var got []bool
		ok := 0
		for range 40 {
			_, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c"})
			var ae *idenfy.APIError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ae) && ae.HTTPStatus == 500 && ae.Identifier == idenfy.IdentifierInternalError:
			default:
				t.Fatalf("unexpected answer %v", err)
			}
			got = append(got, err == nil)
		}
		if ch := srv.Charges(); ch.TokensCreated != ok {
			t.Errorf("%d tokens billed for %d successful calls: a 500 must have no effect", ch.TokensCreated, ok)
		}
		if st := srv.Stats(); st.ServerErrors != 40-ok {
			t.Errorf("Stats.ServerErrors %d, want %d", st.ServerErrors, 40-ok)
		}
		if ok == 0 || ok == 40 {
			t.Errorf("rate 0.5 gave %d/40 successes", ok)
		}
		return got
	}
	a, b := outcomes(7), outcomes(7)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same FaultSeed, different faults at request %d", i)
		}
	}
}

func TestLatencyDelaysEveryAnswer(t *testing.T) {
	_, c, _ := start(t, idenfytest.Options{Latency: 80 * time.Millisecond})
	t0 := time.Now()
	if _, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 80*time.Millisecond {
		t.Errorf("answer after %v, want at least the 80ms latency", d)
	}
}

func TestProcessAnswerLost(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := start(t, idenfytest.Options{ProcessAnswerLostRate: 1})
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")})
	if !errors.Is(err, idenfy.ErrAmbiguous) {
		t.Fatalf("lost answer: %v, want ErrAmbiguous", err)
	}
	if ch := srv.Charges(); ch.ProcessesAccepted != 1 {
		t.Errorf("processes billed %d, want 1: the upload was applied", ch.ProcessesAccepted)
	}
	st, err := c.Status(ctx, tok.ScanRef)
	if err != nil || st.Status == idenfy.StatusActive {
		t.Errorf("status after a lost answer: %q %v, want the upload visible", st.Status, err)
	}
	if s := srv.Stats(); s.AnswersLost != 1 {
		t.Errorf("Stats.AnswersLost %d", s.AnswersLost)
	}
}

func TestPhotoRejectRate(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := start(t, idenfytest.Options{PhotoRejectRate: 1})
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "blurry"})
	if err != nil {
		t.Fatal(err)
	}
	req := idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}
	err = c.Process(ctx, req)
	var ae *idenfy.APIError
	if !errors.Is(err, idenfy.ErrPhotoRejected) || !errors.As(err, &ae) || ae.HTTPStatus != 200 || ae.Message != idenfytest.MessagePhotoRejected {
		t.Fatalf("rejected photo: %v", err)
	}
	if err := c.Process(ctx, req); !idenfy.IsTokenNotValid(err) {
		t.Errorf("token reused after a rejection: %v, want TOKEN_NOT_VALID", err)
	}
	if ch := srv.Charges(); ch.ProcessesAccepted != 0 || ch.TokensCreated != 1 {
		t.Errorf("charges %+v, want 1 token and no process", ch)
	}
	if st, err := c.Status(ctx, tok.ScanRef); err != nil || st.Status != idenfy.StatusExpired {
		t.Errorf("status after a rejection: %q %v, want EXPIRED (token spent, no result)", st.Status, err)
	}
	if v := srv.Verifications(); len(v) != 1 || !v[0].PhotoRejected || v[0].Processed {
		t.Errorf("verification %+v", v)
	}
}

func processOne(t *testing.T, c *idenfy.Client, clientID string) string {
	t.Helper()
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	return tok.ScanRef
}

func TestWebhookDuplicate(t *testing.T) {
	rc, url := newReceiver(t)
	srv, c, _ := start(t, idenfytest.Options{WebhookURL: url, WebhookDuplicateRate: 1, AutoDelay: -1})
	ref := processOne(t, c, "dup")
	waitFor(t, "two deliveries", func() bool { return len(rc.deliveries()) == 2 })
	d := rc.deliveries()
	if string(d[0].body) != string(d[1].body) || d[0].webhook.ScanRef != ref || !d[0].webhook.Final {
		t.Errorf("duplicate differs from the original or is not the final result")
	}
	if s := srv.Stats(); s.WebhooksDuplicated != 1 {
		t.Errorf("Stats.WebhooksDuplicated %d", s.WebhooksDuplicated)
	}
}

func TestWebhookReorder(t *testing.T) {
	rc, url := newReceiver(t)
	srv, c, _ := start(t, idenfytest.Options{WebhookURL: url, ManualReview: true, WebhookReorderRate: 1,
		AutoDelay: 10 * time.Millisecond, ManualDelay: 30 * time.Millisecond})
	processOne(t, c, "reorder")
	waitFor(t, "two deliveries", func() bool { return len(rc.deliveries()) == 2 })
	d := rc.deliveries()
	if !d[0].webhook.Final || d[1].webhook.Final || d[0].webhook.Status.ManualDocument == "" {
		t.Errorf("order: first final=%v second final=%v, want the manual (final) callback first", d[0].webhook.Final, d[1].webhook.Final)
	}
	if s := srv.Stats(); s.WebhooksReordered != 1 {
		t.Errorf("Stats.WebhooksReordered %d", s.WebhooksReordered)
	}
}

func TestWebhookDropStatusStillCompletes(t *testing.T) {
	rc, url := newReceiver(t)
	srv, c, _ := start(t, idenfytest.Options{WebhookURL: url, ManualReview: true, WebhookDropRate: 1,
		AutoDelay: 10 * time.Millisecond, ManualDelay: 30 * time.Millisecond})
	ref := processOne(t, c, "dropped")
	want := idenfytest.Decide("dropped", "LT", "PASSPORT")
	var st idenfy.StatusResponse
	waitFor(t, "the manual result by polling", func() bool {
		var err error
		st, err = c.Status(context.Background(), ref)
		return err == nil && st.ManualDocument != ""
	})
	if st.Status != want.Overall {
		t.Errorf("polled status %q, want %q", st.Status, want.Overall)
	}
	waitFor(t, "both drops counted", func() bool { return srv.Stats().WebhooksDropped == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := rc.hits.Load(); n != 0 {
		t.Errorf("%d callbacks reached the receiver, want none (dropped, not retried)", n)
	}
	if v := srv.Verifications(); !v[0].Final || v[0].WebhooksDelivered != 0 || v[0].WebhooksFailed != 0 {
		t.Errorf("verification %+v", v[0])
	}
}

func TestRateWindow(t *testing.T) {
	ctx := context.Background()
	// 36,000 per hour = 10/s; burst 10: ten calls pass at once, the eleventh is throttled.
	srv, _, base := start(t, idenfytest.Options{RateLimit: 36_000, RateBurst: 10})
	c := noRetryClient(base)
	for i := range 11 {
		_, err := c.Status(ctx, "00000000-0000-4000-8000-000000000000")
		var ae *idenfy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("call %d: %v", i, err)
		}
		if want := map[bool]int{true: 429, false: 404}[i == 10]; ae.HTTPStatus != want {
			t.Errorf("call %d: HTTP %d, want %d", i, ae.HTTPStatus, want)
		}
		if i == 10 && (ae.Identifier != idenfy.IdentifierTooManyRequests || ae.RetryAfter != time.Second) {
			t.Errorf("429: identifier %q Retry-After %v", ae.Identifier, ae.RetryAfter)
		}
	}
	if s := srv.Stats(); s.Throttled != 1 {
		t.Errorf("Stats.Throttled %d", s.Throttled)
	}
	// The same 10/s written with a one-second window; the default burst is one second's worth.
	if o := idenfytest.New(idenfytest.Options{RateLimit: 10, RateWindow: time.Second}).Options(); o.RateBurst != 10 {
		t.Errorf("default burst %d, want 10", o.RateBurst)
	}
	if o := idenfytest.New(idenfytest.Options{RateLimit: 10_000}).Options(); o.RateWindow != time.Hour || o.RateBurst != 3 {
		t.Errorf("10,000/h: window %v burst %d, want 1h and 3", o.RateWindow, o.RateBurst)
	}
}
