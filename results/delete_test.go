package results_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingAPI counts the calls deletion makes.
type countingAPI struct {
	*idenfy.Client
	mu      sync.Mutex
	deletes int
}

func (a *countingAPI) Delete(ctx context.Context, scanRef string) error {
	a.mu.Lock()
	a.deletes++
	a.mu.Unlock()
	return a.Client.Delete(ctx, scanRef)
}

func TestDeleteAgainstSandbox(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := &testClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := idenfytest.DefaultOptions()
	opts.Now = clk.Now
	opts.AutoDelay, opts.ManualDelay = time.Minute, 10*time.Minute
	srv := idenfytest.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	api := &countingAPI{Client: idenfy.New(idenfy.Config{BaseURL: ts.URL, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})}

	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	newVerification := func(client string, process bool) string {
		tok, err := api.CreateToken(ctx, idenfy.TokenRequest{ClientID: client})
		if err != nil {
			t.Fatal(err)
		}
		if process {
			err := api.Process(ctx, idenfy.ProcessRequest{AuthToken: tok.AuthToken, Country: "LT", DocumentType: "PASSPORT",
				Images: map[string][]byte{"FRONT": img.Bytes(), "FACE": img.Bytes()}})
			if err != nil {
				t.Fatal(err)
			}
		}
		return tok.ScanRef
	}
	// final: processed and reviewed; lost: final, deleted at iDenfy by a
	// delete whose Store write was lost; reviewing: only the automatic
	// result; active: a token never used; recent: final but too young.
	refs := map[string]string{}
	for _, c := range []string{"final", "lost"} {
		refs[c] = newVerification("c-"+c, true)
	}
	clk.Add(10 * time.Minute) // final, lost: manual result in
	refs["reviewing"] = newVerification("c-reviewing", true)
	refs["active"] = newVerification("c-active", false)
	clk.Add(2 * time.Minute) // reviewing: automatic result only
	refs["recent"] = newVerification("c-recent", true)
	if err := api.Client.Delete(ctx, refs["lost"]); err != nil {
		t.Fatal(err)
	}

	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const job = "gdpr"
	var recs []pipeline.Record
	for _, c := range []string{"final", "lost", "reviewing", "active", "recent"} {
		recs = append(recs, pipeline.Record{Job: job, Key: "c-" + c, Ref: pipeline.RefFor(job, "c-"+c), Input: pipeline.Input{ClientID: "c-" + c}})
	}
	if _, err := st.Load(ctx, job, recs, clk.Now()); err != nil {
		t.Fatal(err)
	}
	old := clk.Now().Add(-40 * 24 * time.Hour)
	loaded, err := st.List(ctx, pipeline.ListQuery{Job: job, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	byClient := map[string]pipeline.Record{}
	var ids []int64
	for _, r := range loaded {
		c := strings.TrimPrefix(r.Input.ClientID, "c-")
		ref, resAt := refs[c], old
		if c == "recent" {
			resAt = clk.Now()
		}
		o := pipeline.OutcomeApproved
		if err := st.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: pipeline.StateFinal, Now: old,
			Patch: pipeline.Patch{ScanRef: &ref, ResultAt: &resAt, SubmittedAt: &old, Outcome: &o}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		byClient[c] = r
	}
	if err := st.MarkExported(ctx, ids, old); err != nil {
		t.Fatal(err)
	}
	destDir := t.TempDir()
	dest, err := objstore.Open(ctx, destDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := results.DeleteOptions{Job: job, OlderThan: 30 * 24 * time.Hour, Now: clk.Now()}

	dry := o
	dry.DryRun = true
	rep, err := results.Delete(ctx, st, api, dest, dry, log)
	if err != nil || rep.Deleted != 4 || api.deletes != 0 {
		t.Fatalf("dry run: %+v %v, %d API calls; want 4 candidates, no call", rep, err, api.deletes)
	}

	rep, err = results.Delete(ctx, st, api, dest, o, log)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 2 || rep.NotYet != 2 || rep.Failed != 0 {
		t.Errorf("first delete: %+v; want 2 deleted (final, lost), 2 not yet (reviewing, active)", rep)
	}
	deletedAt := func(c string) time.Time {
		r, err := st.Get(ctx, byClient[c].ID)
		if err != nil {
			t.Fatal(err)
		}
		return r.DeletedAt
	}
	for c, want := range map[string]bool{"final": true, "lost": true, "reviewing": false, "active": false, "recent": false} {
		if got := !deletedAt(c).IsZero(); got != want {
			t.Errorf("%s: deleted_at set %v, want %v", c, got, want)
		}
	}
	if s, _ := api.Status(ctx, refs["final"]); s.Status != idenfy.StatusDeleted {
		t.Errorf("status at iDenfy %q, want DELETED", s.Status)
	}
	logCSV, err := os.ReadFile(filepath.Join(destDir, "_deletions", "job=gdpr", "deletions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(logCSV)), "\n"); len(lines) != 3 || lines[0] != "job,client_id,scan_ref,deleted_at" ||
		!strings.Contains(string(logCSV), refs["final"]) || !strings.Contains(string(logCSV), refs["lost"]) {
		t.Errorf("deletions log:\n%s", logCSV)
	}

	// Idempotent: a second delete, once the others are final, deletes only
	// them; the two already deleted are not sent again.
	clk.Add(10 * time.Minute) // reviewing: final now; active: expired
	clk.Add(time.Hour)
	api.deletes = 0
	o.Now = clk.Now()
	rep, err = results.Delete(ctx, st, api, dest, o, log)
	if err != nil || rep.Deleted != 2 || rep.NotYet != 0 || api.deletes != 2 {
		t.Errorf("second delete: %+v %v, %d calls; want 2 deleted with 2 calls", rep, err, api.deletes)
	}
	api.deletes = 0
	rep, err = results.Delete(ctx, st, api, dest, o, log)
	if err != nil || rep.Deleted != 0 || api.deletes != 0 {
		t.Errorf("third delete: %+v %v, %d calls; want nothing", rep, err, api.deletes)
	}
}
