package results_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// fuzzStore is an in-memory Store in which every scanRef belongs to a
// submitted record, so that every signed body with a scanRef reaches
// ApplyResult. It keeps the transitions written: what would be stored.
type fuzzStore struct {
	mu      sync.Mutex
	recs    map[string]*pipeline.Record
	written []pipeline.Transition
}

func (s *fuzzStore) ByScanRef(_ context.Context, scanRef string) (pipeline.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[scanRef]
	if !ok {
		r = &pipeline.Record{ID: int64(len(s.recs) + 1), Job: "j", Key: "k", ScanRef: scanRef, State: pipeline.StateSubmitted, Version: 1}
		s.recs[scanRef] = r
	}
	return *r, nil
}

func (s *fuzzStore) ByRef(context.Context, string) (pipeline.Record, error) {
	return pipeline.Record{}, pipeline.ErrNotFound
}

func (s *fuzzStore) Transition(_ context.Context, t pipeline.Transition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if r.ID != t.ID {
			continue
		}
		if r.State != t.From || (t.Version != 0 && r.Version != t.Version) {
			return pipeline.ErrConflict
		}
		r.State, r.Version = t.To, r.Version+1
		if t.Patch.Result != nil {
			r.Result = t.Patch.Result
		}
		if t.Patch.Outcome != nil {
			r.Outcome = *t.Patch.Outcome
		}
		s.written = append(s.written, t)
		return nil
	}
	return pipeline.ErrNotFound
}

// checkStored reports what must never be stored: a string that is not
// valid UTF-8, a raw result that is not valid JSON or holds a pre-signed
// URL, a final record whose outcome is not a verdict or an expiry.
func checkStored(t pipeline.Transition) error {
	if r := t.Patch.Result; r != nil {
		v := reflect.ValueOf(*r)
		for i := range v.NumField() {
			switch x := v.Field(i).Interface().(type) {
			case string:
				if !utf8.ValidString(x) {
					return fmt.Errorf("%s = %q", v.Type().Field(i).Name, x)
				}
			case []string:
				for _, s := range x {
					if !utf8.ValidString(s) {
						return fmt.Errorf("%s = %q", v.Type().Field(i).Name, x)
					}
				}
			}
		}
		if len(r.Raw) > 0 && (!utf8.Valid(r.Raw) || !json.Valid(r.Raw)) {
			return fmt.Errorf("raw %q", r.Raw)
		}
		if len(r.Raw) > 0 {
			var v any
			if err := json.Unmarshal(r.Raw, &v); err != nil {
				return err
			}
			if p := leak(v, "$"); p != "" {
				return fmt.Errorf("raw holds a pre-signed URL at %s: %s", p, r.Raw)
			}
		}
	}
	if t.To == pipeline.StateFinal {
		switch o := t.Patch.Outcome; {
		case o == nil:
			return fmt.Errorf("final without an outcome")
		case *o != pipeline.OutcomeApproved && *o != pipeline.OutcomeDenied && *o != pipeline.OutcomeSuspected && *o != pipeline.OutcomeExpired:
			return fmt.Errorf("final with outcome %q", *o)
		case t.Patch.Result == nil || !t.Patch.Result.Final:
			return fmt.Errorf("final without a final result")
		}
	}
	return nil
}

// leak returns the path of a fileUrls or additionalStepPdfUrls member, or of
// a string that looks like a pre-signed URL, in the decoded JSON v; or "".
func leak(v any, path string) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.EqualFold(k, "fileUrls") || strings.EqualFold(k, "additionalStepPdfUrls") {
				return path + "." + k
			}
			if p := leak(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for _, e := range x {
			if p := leak(e, path+"[]"); p != "" {
				return p
			}
		}
	case string:
		l := strings.ToLower(x)
		for _, m := range []string{"signature=", "x-amz-signature", "x-amz-credential", "awsaccesskeyid"} {
			if strings.Contains(l, m) {
				return path
			}
		}
	}
	return ""
}

// FuzzWebhook posts generated bodies, signed with the test key (or not),
// through the webhook handler: it never panics, answers only 200, 400, 401,
// 413 or 500, stores nothing unsigned, and stores only valid UTF-8, raw
// results without pre-signed URLs, and outcomes of the enum.
func FuzzWebhook(f *testing.F) {
	for _, b := range [][]byte{
		payload(false, "SUSPECTED"), payload(true, "APPROVED"), payload(true, "EXPIRED"),
		hostile("s", true, `"ACTIVE"`, badUTF8), hostile("s", true, `"APPROVED"`, nestedURLs),
		hostile("s", false, `"EXPIRED-DELETED"`, `null`), hostile("s", true, `"=HYPERLINK(\"x\")"`, `{}`),
		[]byte(`{"final": tru`), []byte(`{"scanRef":"s","final":"true","status":{"overall":"\u0000"},"aml":[{"data":[{"suspicion":"PEPS\ud800"}]}]}`),
	} {
		f.Add(b, true)
	}
	f.Add(payload(true, "APPROVED"), false)
	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
		st := &fuzzStore{recs: map[string]*pipeline.Record{}}
		h := &results.Handler{Store: st, SigningKey: []byte(key), Job: "j", RunID: "r",
			Now: func() time.Time { return time.Unix(1700000000, 0) }}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/idenfy", bytes.NewReader(body))
		if sign {
			req.Header.Set(idenfy.SignatureHeader, idenfy.Sign([]byte(key), body))
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		switch rr.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusInternalServerError:
		default:
			t.Fatalf("answered %d", rr.Code)
		}
		if !sign && (rr.Code != http.StatusUnauthorized || len(st.written) > 0) {
			t.Fatalf("unsigned body: answered %d, stored %d transitions", rr.Code, len(st.written))
		}
		for _, tr := range st.written {
			if err := checkStored(tr); err != nil {
				t.Fatal(err)
			}
		}
	})
}
