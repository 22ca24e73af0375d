package idenfytest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

func jpegImage(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngImage(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func images(t testing.TB, sides ...string) map[string][]byte {
	j := jpegImage(t)
	m := make(map[string][]byte)
	for _, s := range sides {
		m[s] = j
	}
	return m
}

// start serves a sandbox through httptest and returns a client for it.
func start(t *testing.T, opts idenfytest.Options) (*idenfytest.Server, *idenfy.Client, string) {
	t.Helper()
	srv := idenfytest.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	c := idenfy.New(idenfy.Config{BaseURL: ts.URL, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	return srv, c, ts.URL
}

// receiver collects webhooks.
type receiver struct {
	mu   sync.Mutex
	got  []delivery
	fail atomic.Int32 // answer 500 to this many more requests
	hits atomic.Int32
}

type delivery struct {
	body       []byte
	sig, ctype string
	webhook    idenfy.Webhook
	parseErr   error
	receivedAt time.Time
}

func newReceiver(t *testing.T) (*receiver, string) {
	rc := &receiver{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if rc.fail.Load() > 0 {
			rc.fail.Add(-1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		wh, err := idenfy.ParseWebhook(body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{body: body, sig: r.Header.Get(idenfy.SignatureHeader), ctype: r.Header.Get("Content-Type"),
			webhook: wh, parseErr: err, receivedAt: time.Now()})
		rc.mu.Unlock()
	}))
	t.Cleanup(ts.Close)
	return rc, ts.URL
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// waitFor polls cond until it holds or 5 s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clientFor finds a clientId whose Decide outcome is overall.
func clientFor(t *testing.T, overall string, skip int) string {
	for i := 0; i < 10_000; i++ {
		id := fmt.Sprintf("customer-%d", i)
		if idenfytest.Decide(id, "LT", "ID_CARD").Overall == overall {
			if skip == 0 {
				return id
			}
			skip--
		}
	}
	t.Fatalf("no clientId decides %s", overall)
	return ""
}

func TestDecideFollowsDocumentedRule(t *testing.T) {
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("id-%d", i)
		h := fnv.New32a()
		h.Write([]byte(id))
		b := h.Sum32() % 10
		d := idenfytest.Decide(id, "LT", "PASSPORT")
		if again := idenfytest.Decide(id, "DE", "ID_CARD"); again.Overall != d.Overall || again.AutoFace != d.AutoFace {
			t.Fatalf("%s: outcome depends on country/document type", id)
		}
		var want string
		switch {
		case b <= 5:
			want = "APPROVED"
			if d.AutoDocument != "DOC_VALIDATED" || d.AutoFace != "FACE_MATCH" || d.FraudTags != nil || d.MismatchTags != nil {
				t.Errorf("%s: approved with %+v", id, d)
			}
		case b == 6:
			want = "DENIED"
			if d.AutoFace != "FACE_MISMATCH" {
				t.Errorf("%s: %+v", id, d)
			}
		case b == 7:
			want = "DENIED"
			if d.AutoDocument != "DOC_EXPIRED" {
				t.Errorf("%s: %+v", id, d)
			}
		case b == 8:
			want = "SUSPECTED"
			if !slices.Equal(d.MismatchTags, []string{"NAME"}) {
				t.Errorf("%s: %+v", id, d)
			}
		default:
			want = "SUSPECTED"
			if !slices.Equal(d.FraudTags, []string{"DOC_MOBILE_PHOTO"}) {
				t.Errorf("%s: %+v", id, d)
			}
		}
		if d.Overall != want || d.ManualFace != d.AutoFace || d.ManualDocument != d.AutoDocument {
			t.Errorf("%s (bucket %d): %+v, want %s", id, b, d, want)
		}
		counts[d.Overall]++
	}
	// About 60/20/20.
	if counts["APPROVED"] < 1000 || counts["DENIED"] < 250 || counts["SUSPECTED"] < 250 {
		t.Errorf("distribution %v", counts)
	}
}

func TestWebhooksAutoThenManual(t *testing.T) {
	rc, url := newReceiver(t)
	opts := idenfytest.DefaultOptions()
	opts.WebhookURL = url
	opts.AutoDelay, opts.ManualDelay = 20*time.Millisecond, 80*time.Millisecond
	srv, c, _ := start(t, opts)
	ctx := context.Background()

	want := map[string]idenfytest.Decision{} // by scanRef
	clients := map[string]string{}
	for _, overall := range []string{"APPROVED", "DENIED", "SUSPECTED"} {
		id := clientFor(t, overall, 0)
		tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: id, ExternalRef: "ref-" + id, FirstName: "Jane", LastName: "Roe"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LV", DocumentType: "ID_CARD", Images: images(t, "FRONT", "BACK", "FACE")}); err != nil {
			t.Fatal(err)
		}
		want[tok.ScanRef] = idenfytest.Decide(id, "LV", "ID_CARD")
		clients[tok.ScanRef] = id
	}
	waitFor(t, "6 webhooks", func() bool { return len(rc.deliveries()) >= 6 })

	byScan := map[string][]delivery{}
	for _, d := range rc.deliveries() {
		if d.parseErr != nil {
			t.Fatalf("unparsable webhook: %v", d.parseErr)
		}
		if !idenfy.VerifySignature([]byte(idenfytest.DefaultSigningKey), d.body, d.sig) {
			t.Errorf("bad signature on %s", d.body)
		}
		if d.ctype != "application/json" {
			t.Errorf("Content-Type %q", d.ctype)
		}
		byScan[d.webhook.ScanRef] = append(byScan[d.webhook.ScanRef], d)
	}
	for scanRef, dec := range want {
		ds := byScan[scanRef]
		if len(ds) != 2 {
			t.Fatalf("%s: %d webhooks, want 2", scanRef, len(ds))
		}
		auto, manual := ds[0].webhook, ds[1].webhook
		if auto.Final || !manual.Final {
			t.Errorf("%s: final flags %v then %v, want false then true", scanRef, auto.Final, manual.Final)
		}
		if auto.Status.Overall != dec.Overall || auto.Status.AutoFace != dec.AutoFace || auto.Status.AutoDocument != dec.AutoDocument {
			t.Errorf("%s: auto status %+v, want %+v", scanRef, auto.Status, dec)
		}
		if auto.Status.ManualFace != "" || auto.Status.ManualDocument != "" {
			t.Errorf("%s: auto callback has manual fields %+v", scanRef, auto.Status)
		}
		if manual.Status.Overall != dec.Overall || manual.Status.ManualFace != dec.ManualFace || manual.Status.ManualDocument != dec.ManualDocument {
			t.Errorf("%s: manual status %+v, want %+v", scanRef, manual.Status, dec)
		}
		if !slices.Equal(manual.Status.MismatchTags, nilToEmpty(dec.MismatchTags)) || !slices.Equal(manual.Status.FraudTags, nilToEmpty(dec.FraudTags)) {
			t.Errorf("%s: tags %v %v, want %v %v", scanRef, manual.Status.MismatchTags, manual.Status.FraudTags, dec.MismatchTags, dec.FraudTags)
		}
		id := clients[scanRef]
		if manual.ClientID != id || manual.ExternalRef != "ref-"+id || manual.Platform != "OTHER" || manual.StartTime == 0 || manual.FinishTime < manual.StartTime {
			t.Errorf("%s: top level %+v", scanRef, manual)
		}
		if manual.Data.DocNationality != "LV" || manual.Data.DocType != "ID_CARD" || manual.Data.DocLastName != "ROE" {
			t.Errorf("%s: data %+v", scanRef, manual.Data)
		}
		if nameMismatch := slices.Contains(dec.MismatchTags, "NAME"); nameMismatch == (manual.Data.DocFirstName == "JANE") {
			t.Errorf("%s: docFirstName %q inconsistent with mismatch tags %v", scanRef, manual.Data.DocFirstName, dec.MismatchTags)
		}
		if len(manual.FileURLs) != 3 || !strings.Contains(manual.FileURLs["FACE"], "Signature=") {
			t.Errorf("%s: fileUrls %v", scanRef, manual.FileURLs)
		}
		if !bytes.Contains(ds[1].body, []byte(`"AML":[]`)) {
			t.Errorf("%s: AML should be an empty array: %s", scanRef, ds[1].body)
		}

		// Polling agrees with the webhooks.
		st, err := c.Status(ctx, scanRef)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != dec.Overall || st.ManualFace != dec.ManualFace || st.AutoDocument != dec.AutoDocument || st.ClientID != id {
			t.Errorf("%s: /status %+v, want %+v", scanRef, st, dec)
		}
	}
	// The sender counts a delivery once it has read the receiver's answer,
	// which can be a moment after the receiver saw the body.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var bad []idenfytest.Verification
		for _, v := range srv.Verifications() {
			if v.WebhooksDelivered != 2 || v.WebhooksFailed != 0 || !v.Final || !v.Processed {
				bad = append(bad, v)
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("verifications %+v", bad)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nilToEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestSingleFinalCallbackWithoutManualReview(t *testing.T) {
	rc, url := newReceiver(t)
	_, c, _ := start(t, idenfytest.Options{WebhookURL: url, AutoDelay: 10 * time.Millisecond})
	ctx := context.Background()
	id := clientFor(t, "DENIED", 0)
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: id, TokenType: "DOCUMENT"})
	if err != nil {
		t.Fatal(err)
	}
	// DOCUMENT token, passport: FRONT alone is enough.
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "ee", DocumentType: "PASSPORT", Images: images(t, "FRONT")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a webhook", func() bool { return len(rc.deliveries()) >= 1 })
	time.Sleep(100 * time.Millisecond) // no second callback may follow
	ds := rc.deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d webhooks, want 1", len(ds))
	}
	w := ds[0].webhook
	dec := idenfytest.Decide(id, "EE", "PASSPORT")
	if !w.Final || w.Status.Overall != "DENIED" || w.Status.AutoFace != dec.AutoFace || w.Status.ManualFace != "" || w.Data.DocNationality != "EE" {
		t.Errorf("webhook %+v", w)
	}
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestPollingCompletesWithoutWebhooks(t *testing.T) {
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts := idenfytest.DefaultOptions()
	opts.Now = clk.Now
	opts.AutoDelay, opts.ManualDelay = time.Minute, 10*time.Minute
	_, c, _ := start(t, opts)
	ctx := context.Background()
	id := clientFor(t, "SUSPECTED", 0)
	dec := idenfytest.Decide(id, "LT", "PASSPORT")

	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: id, FirstName: "Ona", DateOfBirth: "1980-02-03"})
	if err != nil {
		t.Fatal(err)
	}
	status := func(want string) idenfy.StatusResponse {
		t.Helper()
		st, err := c.Status(ctx, tok.ScanRef)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != want {
			t.Fatalf("status %q, want %q", st.Status, want)
		}
		return st
	}
	status("ACTIVE")
	if err := c.Delete(ctx, tok.ScanRef); err == nil || !strings.Contains(err.Error(), "Token has not expired yet.") {
		t.Errorf("delete of an active token: %v", err)
	} else if ae := new(idenfy.APIError); !errors.As(err, &ae) || ae.Identifier != "PARTNER_ERROR" {
		t.Errorf("delete of an active token: %v", err)
	}
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	st := status("REVIEWING")
	if st.AutoFace != "" {
		t.Errorf("auto result before AutoDelay: %+v", st)
	}
	if d, _ := c.Data(ctx, tok.ScanRef); d.DocFirstName != "" {
		t.Errorf("data before the automatic result: %+v", d)
	}
	clk.Add(time.Minute)
	st = status(dec.Overall)
	if st.AutoFace != dec.AutoFace || st.ManualFace != "" {
		t.Errorf("after AutoDelay: %+v", st)
	}
	if err := c.Delete(ctx, tok.ScanRef); err == nil {
		t.Error("delete before the final result succeeded")
	}
	clk.Add(9 * time.Minute)
	st = status(dec.Overall)
	if st.ManualFace != dec.ManualFace || st.ManualDocument != dec.ManualDocument {
		t.Errorf("after ManualDelay: %+v", st)
	}
	d, err := c.Data(ctx, tok.ScanRef)
	if err != nil {
		t.Fatal(err)
	}
	if d.DocDOB != "1980-02-03" || d.SelectedCountry != "LT" || d.DocType != "PASSPORT" || d.ScanRef != tok.ScanRef || d.ClientID != id || d.DocNumber == "" {
		t.Errorf("data %+v", d)
	}
	files, err := c.Files(ctx, tok.ScanRef)
	if err != nil || len(files) != 2 || files["FRONT"] == "" {
		t.Errorf("files %v %v", files, err)
	}
	if err := c.Delete(ctx, tok.ScanRef); err != nil {
		t.Fatalf("delete after the final result: %v", err)
	}
	if err := c.Delete(ctx, tok.ScanRef); err != nil {
		t.Errorf("second delete: %v", err)
	}
	status("DELETED")
	if d, _ := c.Data(ctx, tok.ScanRef); d.DocFirstName != "" {
		t.Errorf("data after delete: %+v", d)
	}

	// An unused token expires; it can no longer be used, and can be deleted.
	tok2, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "other", ExpiryTime: 60})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	if st, _ := c.Status(ctx, tok2.ScanRef); st.Status != "EXPIRED" {
		t.Errorf("status %q, want EXPIRED", st.Status)
	}
	err = c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok2.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")})
	if !idenfy.IsTokenNotValid(err) {
		t.Errorf("process with an expired token: %v", err)
	}
	if err := c.Delete(ctx, tok2.ScanRef); err != nil {
		t.Errorf("delete expired: %v", err)
	}
	if st, _ := c.Status(ctx, tok2.ScanRef); st.Status != "EXPIRED-DELETED" {
		t.Errorf("status %q, want EXPIRED-DELETED", st.Status)
	}

	_, err = c.Status(ctx, "00000000-0000-4000-8000-000000000000")
	if !idenfy.IsNotFound(err) || idenfy.IsRetryable(err) {
		t.Errorf("unknown scanRef: %v", err)
	}
}

func TestChargesPerClient(t *testing.T) {
	srv, c, _ := start(t, idenfytest.Options{})
	ctx := context.Background()
	tokA1, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "A"})
	tokA2, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "A"})
	tokB, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "B"})
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tokA1.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	// A refused upload is not charged.
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tokB.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT")}); err == nil {
		t.Fatal("upload without FACE for an IDENTIFICATION token accepted")
	}
	ch := srv.Charges()
	if ch.TokensCreated != 3 || ch.ProcessesAccepted != 1 {
		t.Errorf("totals %+v", ch)
	}
	if a := ch.PerClient["A"]; a.Tokens != 2 || a.Processes != 1 || !slices.Equal(a.ScanRefs, []string{tokA1.ScanRef, tokA2.ScanRef}) {
		t.Errorf("A: %+v", a)
	}
	if b := ch.PerClient["B"]; b.Tokens != 1 || b.Processes != 0 {
		t.Errorf("B: %+v", b)
	}
}

func TestConcurrentUploadsWithOneToken(t *testing.T) {
	srv, c, _ := start(t, idenfytest.Options{})
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "race"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, notValid atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")})
			switch {
			case err == nil:
				ok.Add(1)
			case idenfy.IsTokenNotValid(err):
				notValid.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || notValid.Load() != 7 || srv.Charges().ProcessesAccepted != 1 {
		t.Errorf("accepted %d, refused %d, charged %d; want 1, 7, 1", ok.Load(), notValid.Load(), srv.Charges().ProcessesAccepted)
	}
}

func TestValidation(t *testing.T) {
	_, c, base := start(t, idenfytest.Options{MaxImageBytes: 2000, MaxRequestBytes: 50_000})
	ctx := context.Background()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	j := b64(jpegImage(t))

	post := func(path, ctype, method, body string, auth bool) (int, idenfy.ErrorBody) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth {
			req.SetBasicAuth(idenfytest.DefaultAPIKey, idenfytest.DefaultAPISecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var eb idenfy.ErrorBody
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &eb); err != nil {
				t.Fatalf("%s: answer is not JSON: %s", path, raw)
			}
		}
		return resp.StatusCode, eb
	}
	newToken := func(tokenType string) string {
		tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "v", TokenType: tokenType})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AuthToken
	}

	idTok := newToken("IDENTIFICATION")
	docTok := newToken("DOCUMENT")
	for _, tc := range []struct {
		name, path, body string
		code             int
		ident            string
	}{
		{"no clientId", idenfy.PathToken, `{"tokenType":"IDENTIFICATION"}`, 400, "MISSING_VALUE"},
		{"long clientId", idenfy.PathToken, `{"clientId":"` + strings.Repeat("a", 101) + `"}`, 400, "BAD_VALUE"},
		{"non-ASCII clientId", idenfy.PathToken, `{"clientId":"kliento-Nr-ą"}`, 400, "BAD_VALUE"},
		{"clientId not a string", idenfy.PathToken, `{"clientId":42}`, 400, "BAD_VALUE"},
		{"tokenType", idenfy.PathToken, `{"clientId":"a","tokenType":"VIDEO_CALL"}`, 400, "BAD_VALUE"},
		{"country", idenfy.PathToken, `{"clientId":"a","country":"XX"}`, 400, "BAD_VALUE"},
		{"firstName digits", idenfy.PathToken, `{"clientId":"a","firstName":"J0hn"}`, 400, "BAD_VALUE"},
		{"lastName symbol", idenfy.PathToken, `{"clientId":"a","lastName":"Doe<"}`, 400, "BAD_VALUE"},
		{"dateOfBirth", idenfy.PathToken, `{"clientId":"a","dateOfBirth":"1990-13-01"}`, 400, "BAD_VALUE"},
		{"expiryTime 0", idenfy.PathToken, `{"clientId":"a","expiryTime":0}`, 400, "BAD_VALUE"},
		{"expiryTime 31 days", idenfy.PathToken, `{"clientId":"a","expiryTime":2678400}`, 400, "BAD_VALUE"},
		{"externalRef", idenfy.PathToken, `{"clientId":"a","externalRef":"` + strings.Repeat("r", 41) + `"}`, 400, "BAD_VALUE"},
		{"dummyStatus", idenfy.PathToken, `{"clientId":"a","dummyStatus":"MAYBE"}`, 400, "BAD_VALUE"},
		{"callbackUrl", idenfy.PathToken, `{"clientId":"a","callbackUrl":"not a url"}`, 400, "BAD_VALUE"},
		{"token ok, lower-case country", idenfy.PathToken, `{"clientId":"a","country":"lt","firstName":"Jean-Luc","expiryTime":600}`, 201, ""},

		{"no token", idenfy.PathProcess, `{"country":"LT"}`, 400, "MISSING_VALUE"},
		{"unknown token", idenfy.PathProcess, `{"authToken":"nope","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + j + `"}}`, 400, "TOKEN_NOT_VALID"},
		{"bad country", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"ZZ","documentType":"PASSPORT","images":{"FRONT":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"no country", idenfy.PathProcess, `{"authToken":"` + idTok + `","documentType":"PASSPORT","images":{"FRONT":"` + j + `"}}`, 400, "MISSING_VALUE"},
		{"bad documentType", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"OTHER","images":{"FRONT":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"no images", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT"}`, 400, "MISSING_VALUE"},
		{"no FACE", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + j + `"}}`, 400, "MISSING_VALUE"},
		{"unknown side", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + j + `","FACE":"` + j + `","SELFIE":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"not an image", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + b64([]byte("hello, world")) + `","FACE":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"data: prefix", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"data:image/jpeg;base64,` + j + `","FACE":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"image too large", idenfy.PathProcess, `{"authToken":"` + idTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + b64(make([]byte, 3000)) + `","FACE":"` + j + `"}}`, 400, "BAD_VALUE"},
		{"request too large", idenfy.PathProcess, `{"authToken":"` + idTok + `","pad":"` + strings.Repeat("x", 60_000) + `"}`, 413, "BAD_VALUE"},
		{"png accepted, DOCUMENT token without FACE", idenfy.PathProcess, `{"authToken":"` + docTok + `","country":"LT","documentType":"PASSPORT","images":{"FRONT":"` + b64(pngImage(t)) + `"}}`, 200, ""},
		{"malformed JSON", idenfy.PathStatus, `{"scanRef":`, 400, "JSON_ERROR"},
		{"JSON not an object", idenfy.PathStatus, `["x"]`, 400, "JSON_ERROR"},
		{"no scanRef", idenfy.PathStatus, `{}`, 400, "MISSING_VALUE"},
		{"unknown scanRef", idenfy.PathData, `{"scanRef":"nope"}`, 404, "NOT_FOUND"},
	} {
		code, eb := post(tc.path, "application/json", http.MethodPost, tc.body, true)
		if code != tc.code || eb.Identifier != tc.ident {
			t.Errorf("%s: got %d %q (%s), want %d %q", tc.name, code, eb.Identifier, eb.Message, tc.code, tc.ident)
		}
		if tc.ident != "" && (eb.Message == "" || eb.Documentation == "" || eb.Severity != "NOT_SEVERE") {
			t.Errorf("%s: not a standard error body: %+v", tc.name, eb)
		}
	}
	// The refused uploads above did not consume the IDENTIFICATION token.
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: idTok, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Errorf("token consumed by a refused upload: %v", err)
	}

	if code, eb := post(idenfy.PathStatus, "application/json", http.MethodGet, "", true); code != 405 || eb.Identifier != "METHOD_NOT_ALLOWED" {
		t.Errorf("GET: %d %+v", code, eb)
	}
	if code, eb := post(idenfy.PathStatus, "text/plain", http.MethodPost, `{"scanRef":"x"}`, true); code != 415 {
		t.Errorf("text/plain: %d %+v", code, eb)
	}
	if code, eb := post(idenfy.PathToken, "application/json", http.MethodPost, `{"clientId":"a"}`, false); code != 401 || eb.Identifier != "" || eb.Message != "Invalid authorization credentials" {
		t.Errorf("no auth: %d %+v", code, eb)
	}
	if code, _ := post("/api/v2/nope", "application/json", http.MethodPost, `{}`, true); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestDummyTokenAndManualStatus(t *testing.T) {
	rc, url := newReceiver(t)
	opts := idenfytest.DefaultOptions()
	opts.WebhookURL = url
	srv, c, _ := start(t, opts)
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "dummy-1", DummyStatus: "DENIED"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Message != "Dummy token and verification created successfully" {
		t.Errorf("message %q", tok.Message)
	}
	waitFor(t, "the dummy webhook", func() bool { return len(rc.deliveries()) == 1 })
	w := rc.deliveries()[0].webhook
	if w.ScanRef != tok.ScanRef || w.Status.Overall != "DENIED" || w.Final || w.Status.AutoFace != "FACE_MISMATCH" {
		t.Errorf("dummy webhook %+v", w)
	}
	err = c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")})
	if !idenfy.IsTokenNotValid(err) {
		t.Errorf("process with a dummy token: %v", err)
	}
	if err := c.AddDummyStatus(ctx, tok.ScanRef, "FACE_MATCH", "DOC_VALIDATED"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the manual webhook", func() bool { return len(rc.deliveries()) == 2 })
	w = rc.deliveries()[1].webhook
	if !w.Final || w.Status.Overall != "APPROVED" || w.Status.ManualFace != "FACE_MATCH" || w.Status.ManualDocument != "DOC_VALIDATED" {
		t.Errorf("manual webhook %+v", w.Status)
	}
	if st, _ := c.Status(ctx, tok.ScanRef); st.Status != "APPROVED" || st.ManualFace != "FACE_MATCH" {
		t.Errorf("status %+v", st)
	}
	// Not a dummy verification.
	tok2, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "real"})
	if err := c.AddDummyStatus(ctx, tok2.ScanRef, "FACE_MATCH", "DOC_VALIDATED"); err == nil {
		t.Error("add-dummy-status on a real verification succeeded")
	}
	if ch := srv.Charges(); ch.TokensCreated != 2 || ch.ProcessesAccepted != 0 {
		t.Errorf("charges %+v", ch)
	}
}

func TestWebhookRetriesThenGivesUp(t *testing.T) {
	rc, url := newReceiver(t)
	rc.fail.Store(1000)
	srv, c, _ := start(t, idenfytest.Options{WebhookURL: url, AutoDelay: time.Millisecond, WebhookRetryInterval: 5 * time.Millisecond})
	ctx := context.Background()
	tok, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "x"})
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "give-up", func() bool { return srv.Verifications()[0].WebhooksFailed == 1 })
	if n := rc.hits.Load(); n != 4 {
		t.Errorf("attempts = %d, want 4 (1 + 3 retries)", n)
	}
	v := srv.Verifications()[0]
	if v.WebhooksDelivered != 0 || !strings.Contains(v.LastWebhookError, "500") {
		t.Errorf("verification %+v", v)
	}

	// A receiver that recovers gets the callback on a retry.
	rc.fail.Store(2)
	rc.hits.Store(0)
	tok, _ = c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "y"})
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return len(rc.deliveries()) == 1 })
	if n := rc.hits.Load(); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}

func TestFaultInjection(t *testing.T) {
	srv, c, _ := start(t, idenfytest.Options{})
	ctx := context.Background()
	req := func(token string) idenfy.ProcessRequest {
		return idenfy.ProcessRequest{AuthToken: token, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}
	}

	// Applied, then the answer is lost: charged, token consumed, status not ACTIVE.
	tok, _ := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "f1"})
	srv.InjectFault(idenfy.PathProcess, idenfytest.Fault{DropAfterApply: true})
	if err := c.Process(ctx, req(tok.AuthToken)); !errors.Is(err, idenfy.ErrAmbiguous) {
		t.Fatalf("DropAfterApply: %v, want ErrAmbiguous", err)
	}
	if st, _ := c.Status(ctx, tok.ScanRef); st.Status == "ACTIVE" {
		t.Error("upload landed but status is ACTIVE")
	}
	if err := c.Process(ctx, req(tok.AuthToken)); !idenfy.IsTokenNotValid(err) {
		t.Errorf("re-upload after a landed upload: %v, want TOKEN_NOT_VALID", err)
	}

	// Dropped before handling: nothing happened, the token is still good.
	tok, _ = c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "f2"})
	srv.InjectFault(idenfy.PathProcess, idenfytest.Fault{Drop: true})
	if err := c.Process(ctx, req(tok.AuthToken)); !errors.Is(err, idenfy.ErrAmbiguous) {
		t.Fatalf("Drop: %v, want ErrAmbiguous", err)
	}
	if st, _ := c.Status(ctx, tok.ScanRef); st.Status != "ACTIVE" {
		t.Errorf("dropped upload: status %q, want ACTIVE", st.Status)
	}
	if err := c.Process(ctx, req(tok.AuthToken)); err != nil {
		t.Errorf("re-upload after a dropped upload: %v", err)
	}
	if ch := srv.Charges(); ch.ProcessesAccepted != 2 {
		t.Errorf("processes charged = %d, want 2", ch.ProcessesAccepted)
	}

	// A 503 on /status is retried by the client; a 200 with a message on /process is a photo rejection.
	srv.InjectFault(idenfy.PathStatus, idenfytest.Fault{Status: 503})
	if _, err := c.Status(ctx, tok.ScanRef); err != nil {
		t.Errorf("status after one 503: %v", err)
	}
	tok, _ = c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "f3"})
	srv.InjectFault(idenfy.PathProcess, idenfytest.Fault{Status: 200, Message: "Document was not detected."})
	if err := c.Process(ctx, req(tok.AuthToken)); !errors.Is(err, idenfy.ErrPhotoRejected) {
		t.Errorf("photo rejection: %v", err)
	}
	if n := srv.Requests()[idenfy.PathStatus]; n != 4 {
		t.Errorf("status requests = %d, want 4", n)
	}
}

type recLimiter struct {
	mu        sync.Mutex
	throttled []time.Duration
}

func (l *recLimiter) Wait(ctx context.Context) error { return ctx.Err() }
func (l *recLimiter) Throttled(d time.Duration) {
	l.mu.Lock()
	l.throttled = append(l.throttled, d)
	l.mu.Unlock()
}

func TestRateLimitTokenLimitConflict(t *testing.T) {
	ctx := context.Background()
	_, _, base := start(t, idenfytest.Options{RateLimit: 1, RateWindow: 2 * time.Second, RateBurst: 1})
	lim := &recLimiter{}
	c := idenfy.New(idenfy.Config{BaseURL: base, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret, MaxRetries: -1, Limiter: lim})
	if _, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "a"})
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 429 || ae.Identifier != "TOO_MANY_REQUESTS" || ae.RetryAfter != 2*time.Second {
		t.Fatalf("over the rate: %v", err)
	}
	if !idenfy.IsRetryable(err) || errors.Is(err, idenfy.ErrAmbiguous) {
		t.Errorf("429 on /token: retryable %v ambiguous %v", idenfy.IsRetryable(err), errors.Is(err, idenfy.ErrAmbiguous))
	}
	lim.mu.Lock()
	if !slices.Equal(lim.throttled, []time.Duration{2 * time.Second}) {
		t.Errorf("Throttled calls %v", lim.throttled)
	}
	lim.mu.Unlock()

	_, c2, _ := start(t, idenfytest.Options{TokenLimit: 2, ConflictOnActiveClient: true})
	tok, err := c2.CreateToken(ctx, idenfy.TokenRequest{ClientID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.CreateToken(ctx, idenfy.TokenRequest{ClientID: "same"})
	if !idenfy.IsConflict(err) || idenfy.IsFatal(err) {
		t.Errorf("second token for an active clientId: %v, want 409", err)
	}
	if err := c2.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	// Once the token is used, the clientId may have a new one (the 409 was not billed).
	if _, err := c2.CreateToken(ctx, idenfy.TokenRequest{ClientID: "same"}); err != nil {
		t.Fatalf("token after the first was used: %v", err)
	}
	_, err = c2.CreateToken(ctx, idenfy.TokenRequest{ClientID: "other"})
	if !idenfy.IsFatal(err) || !idenfy.IsOutOfCredits(err) {
		t.Errorf("token over the limit: %v, want fatal out-of-credits", err)
	}
}

func TestExpiryCallback(t *testing.T) {
	rc, url := newReceiver(t)
	_, c, _ := start(t, idenfytest.Options{WebhookURL: url})
	tok, err := c.CreateToken(context.Background(), idenfy.TokenRequest{ClientID: "late", ExternalRef: "row-7", ExpiryTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the expiry webhook", func() bool { return len(rc.deliveries()) == 1 })
	w := rc.deliveries()[0].webhook
	if w.ScanRef != tok.ScanRef || w.ExternalRef != "row-7" || !w.Final || w.Status.Overall != "EXPIRED" {
		t.Errorf("expiry webhook %+v", w)
	}
}

func TestStartAndClose(t *testing.T) {
	rc, url := newReceiver(t)
	opts := idenfytest.DefaultOptions()
	opts.WebhookURL = url
	opts.AutoDelay, opts.ManualDelay = 10*time.Second, 20*time.Second
	srv := idenfytest.New(opts)
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	c := idenfy.New(idenfy.Config{BaseURL: base, APIKey: opts.APIKey, APISecret: opts.APISecret, MaxRetries: -1})
	ctx := context.Background()
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	tok, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT", Images: images(t, "FRONT", "FACE")}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if el := time.Since(begin); el > time.Second {
		t.Errorf("Close took %v: pending callbacks were not cancelled", el)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if rc.hits.Load() != 0 {
		t.Error("a callback was delivered after Close")
	}
	if _, err := c.Status(ctx, tok.ScanRef); err == nil {
		t.Error("the API still answers after Close")
	}
}

// RateSliding: at most RateLimit requests in any RateWindow, then 429 with
// the standard body until the oldest leaves the window.
func TestSlidingWindowRateLimit(t *testing.T) {
	srv := idenfytest.New(idenfytest.Options{RateLimit: 5, RateWindow: 500 * time.Millisecond, RateSliding: true})
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := idenfy.New(idenfy.Config{BaseURL: base, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret, MaxRetries: -1})
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: fmt.Sprintf("c%d", i)}); err != nil {
			t.Fatalf("request %d within the limit: %v", i, err)
		}
	}
	_, err = c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c5"})
	var ae *idenfy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 429 || ae.Identifier != "TOO_MANY_REQUESTS" {
		t.Fatalf("sixth request in the window: %v, want 429 TOO_MANY_REQUESTS", err)
	}
	time.Sleep(550 * time.Millisecond)
	if _, err := c.CreateToken(ctx, idenfy.TokenRequest{ClientID: "c6"}); err != nil {
		t.Errorf("after the window slid: %v", err)
	}
	if n := srv.Stats().Throttled; n != 1 {
		t.Errorf("%d throttled, want 1", n)
	}
}
