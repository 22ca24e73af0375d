package results_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// fakeAPI answers /status and /data from a table and counts the calls.
type fakeAPI struct {
	mu     sync.Mutex
	status map[string]idenfy.StatusResponse
	calls  map[string]int // "status:<scanRef>", "data:<scanRef>"
	total  int
}

func (f *fakeAPI) Status(_ context.Context, scanRef string) (idenfy.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["status:"+scanRef]++
	f.total++
	st, ok := f.status[scanRef]
	if !ok {
		return idenfy.StatusResponse{}, &idenfy.APIError{HTTPStatus: 404, Endpoint: idenfy.PathStatus}
	}
	st.ScanRef = scanRef
	st.Raw = []byte(`{"status":"` + st.Status + `"}`)
	return st, nil
}

func (f *fakeAPI) Data(_ context.Context, scanRef string) (idenfy.DataResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["data:"+scanRef]++
	f.total++
	return idenfy.DataResponse{ScanRef: scanRef, DocFirstName: "JONAS", DocDOB: "1980-02-03", Raw: []byte(`{"docFirstName":"JONAS"}`)}, nil
}

func (f *fakeAPI) count(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[k]
}

// submittedStore returns a store with one submitted record per scanRef, each
// submitted at the given instant.
func submittedStore(t *testing.T, at map[string]time.Time) (*sqlitestore.Store, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ids := map[string]int64{}
	for scan, when := range at {
		key := "client-" + scan
		rec := pipeline.Record{Job: "j", Key: key, Ref: pipeline.RefFor("j", key), State: pipeline.StatePending,
			Input: pipeline.Input{ClientID: key, Country: "LT", DocumentType: "PASSPORT"}}
		if _, err := st.Load(ctx, "j", []pipeline.Record{rec}, when); err != nil {
			t.Fatal(err)
		}
		got, err := st.ByRef(ctx, rec.Ref)
		if err != nil {
			t.Fatal(err)
		}
		s := scan
		for _, step := range []struct {
			to pipeline.State
			p  pipeline.Patch
		}{
			{pipeline.StateTokening, pipeline.Patch{IntentAt: &when}},
			{pipeline.StateTokened, pipeline.Patch{ScanRef: &s}},
			{pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: &when}},
		} {
			if err := st.Transition(ctx, pipeline.Transition{ID: got.ID, From: got.State, To: step.to, Now: when, Patch: step.p}); err != nil {
				t.Fatal(err)
			}
			got.State = step.to
		}
		ids[scan] = got.ID
	}
	return st, ids
}

func TestPollerPollsOnlyOverdueAndStoresFinal(t *testing.T) {
	now := time.Now()
	st, ids := submittedStore(t, map[string]time.Time{
		"old-final":   now.Add(-2 * time.Hour),
		"old-auto":    now.Add(-2 * time.Hour),
		"old-review":  now.Add(-2 * time.Hour),
		"old-expired": now.Add(-2 * time.Hour),
		"fresh":       now.Add(-time.Minute),
	})
	api := &fakeAPI{calls: map[string]int{}, status: map[string]idenfy.StatusResponse{
		"old-final":   {Status: "DENIED", AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MISMATCH", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MISMATCH"},
		"old-auto":    {Status: "APPROVED", AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MATCH"},
		"old-review":  {Status: "REVIEWING"},
		"old-expired": {Status: "EXPIRED"},
		"fresh":       {Status: "APPROVED", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MATCH"},
	}}
	var outcomes []string
	p := &results.Poller{Store: st, API: api, Job: "j", RunID: "r1", PollAfter: 30 * time.Minute, MaxPerHour: 360000, ExpectManual: true,
		OnPoll: func(o string) { outcomes = append(outcomes, o) }}
	ctx := context.Background()
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := api.count("status:fresh"); n != 0 {
		t.Errorf("a record submitted a minute ago was polled %d times (poll_after 30m)", n)
	}
	for scan, want := range map[string]int{"old-final": 1, "old-auto": 0, "old-review": 0, "old-expired": 0} {
		if api.count("status:"+scan) != 1 || api.count("data:"+scan) != want {
			t.Errorf("%s: %d status and %d data calls, want 1 and %d", scan, api.count("status:"+scan), api.count("data:"+scan), want)
		}
	}
	get := func(scan string) pipeline.Record {
		r, err := st.Get(ctx, ids[scan])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get("old-final"); r.State != pipeline.StateFinal || r.Outcome != pipeline.OutcomeDenied || r.Result.DocDOB != "1980-02-03" || r.Result.Source != "poll" {
		t.Errorf("final poll: state %s outcome %s result %+v", r.State, r.Outcome, r.Result)
	}
	if r := get("old-expired"); r.State != pipeline.StateFinal || r.Outcome != pipeline.OutcomeExpired {
		t.Errorf("expired poll: state %s outcome %s", r.State, r.Outcome)
	}
	if r := get("old-auto"); r.State != pipeline.StateSubmitted || r.Result == nil || r.Result.Final || !r.NotBefore.After(now) {
		t.Errorf("automatic result: state %s result %+v not_before %s", r.State, r.Result, r.NotBefore)
	}
	if r := get("old-review"); r.State != pipeline.StateSubmitted || r.Result != nil || r.NotBefore.Sub(now) < 30*time.Minute {
		t.Errorf("reviewing: state %s result %+v, next poll in %s (want >= poll_after)", r.State, r.Result, r.NotBefore.Sub(now))
	}
	if len(outcomes) != 4 {
		t.Errorf("outcomes %v", outcomes)
	}

	// Backoff: an immediate second look polls nothing.
	before := api.total
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if api.total != before {
		t.Errorf("second look made %d calls; backed-off and final records must not be polled", api.total-before)
	}
}

// The poller never downgrades: a final result stored by webhook stays when
// a poll sees an older status.
func TestPollerDoesNotDowngrade(t *testing.T) {
	now := time.Now()
	st, ids := submittedStore(t, map[string]time.Time{"s1": now.Add(-time.Hour)})
	h := &results.Handler{Store: st, SigningKey: []byte(key)}
	b := []byte(`{"final":true,"scanRef":"s1","status":{"overall":"APPROVED","manualDocument":"DOC_VALIDATED","manualFace":"FACE_MATCH"}}`)
	if rr := post(t, h, b, idenfy.Sign([]byte(key), b)); rr.Code != 200 {
		t.Fatal(rr.Code)
	}
	api := &fakeAPI{calls: map[string]int{}, status: map[string]idenfy.StatusResponse{"s1": {Status: "REVIEWING"}}}
	p := &results.Poller{Store: st, API: api, Job: "j", PollAfter: time.Minute, MaxPerHour: 360000, ExpectManual: true}
	if _, err := p.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if api.total != 0 {
		t.Errorf("a final record was polled (%d calls)", api.total)
	}
	r, _ := st.Get(context.Background(), ids["s1"])
	if r.State != pipeline.StateFinal || r.Outcome != pipeline.OutcomeApproved {
		t.Errorf("state %s outcome %s", r.State, r.Outcome)
	}
}

// /status and /data both count against MaxPerHour: with many overdue final
// records and a budget of 20 calls a second (burst 1), a second of polling
// makes at most 21 calls, and every /data follows its /status.
func TestPollerBudgetCountsStatusAndData(t *testing.T) {
	now := time.Now()
	at := map[string]time.Time{}
	status := map[string]idenfy.StatusResponse{}
	for i := range 40 {
		s := fmt.Sprintf("s%02d", i)
		at[s] = now.Add(-time.Hour)
		status[s] = idenfy.StatusResponse{Status: "APPROVED", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MATCH"}
	}
	st, _ := submittedStore(t, at)
	api := &fakeAPI{calls: map[string]int{}, status: status}
	p := &results.Poller{Store: st, API: api, Job: "j", PollAfter: time.Minute, MaxPerHour: 20 * 3600, ExpectManual: true, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.total > 21 || api.total < 4 {
		t.Errorf("%d calls in one second with a budget of 20/s (burst 1)", api.total)
	}
	statuses, datas := 0, 0
	for k, n := range api.calls {
		if k[:5] == "data:" {
			datas += n
			if api.calls["status:"+k[5:]] == 0 {
				t.Errorf("%s without its /status", k)
			}
		} else {
			statuses += n
		}
	}
	if datas < statuses-1 || datas > statuses {
		t.Errorf("%d status and %d data calls: each final status is followed by its data call", statuses, datas)
	}
}
