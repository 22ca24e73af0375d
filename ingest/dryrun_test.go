package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// ValidateRecords prepares every record as a run would: ready, rejected by
// the Preparer (with reason and detail), rejected by the source (counted,
// not fetched), and fetch errors (named by line or ref, never by client
// id); the progress counts up to the total.
func TestValidateRecords(t *testing.T) {
	t.Parallel()
	pf := newPrepFixture(t)
	good := encJPEG(t, gradient(400, 320), 90)
	pf.f.put(t, "bkt", "front.jpg", good)
	pf.f.put(t, "bkt", "face.jpg", good)
	rec := func(key string, line int, front, back string) pipeline.Record {
		r := idCard(front, back, "face.jpg")
		r.Key, r.Input.ClientID, r.Line = key, key, line
		return r
	}
	var mu sync.Mutex
	var paths []string
	count := pf.f.wrap
	pf.f.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		return count(w, r)
	}
	badRow := rec("secret-5", 6, "never.jpg", "never.jpg")
	badRow.State, badRow.RejectReason = pipeline.StateRejected, pipeline.RejectBadCountry
	recs := []pipeline.Record{
		rec("secret-1", 2, "front.jpg", "front.jpg"),
		rec("secret-2", 3, "front.jpg", "back.jpg"), // back.jpg is missing
		rec("secret-3", 4, "forbidden/front.jpg", "front.jpg"),
		rec("secret-4", 0, "forbidden/front.jpg", "front.jpg"), // a listing's record: no line
		badRow,
		rec("secret-6", 7, "front.jpg", "front.jpg"),
	}
	read := func(fn func(pipeline.Record) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	var progress []ValidateProgress
	var wheres []string
	rep, err := ValidateRecords(context.Background(), read, pf.p, ValidateOptions{Workers: 3, Total: len(recs),
		Progress:   func(p ValidateProgress) { progress = append(progress, p) },
		FetchError: func(where string, err error) { wheres = append(wheres, where+": "+err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 6 || rep.Ready != 2 || rep.Infra != 2 || len(rep.ByReason) != 2 ||
		rep.ByReason[pipeline.RejectMissingObject] != 1 || rep.ByReason[pipeline.RejectBadCountry] != 1 {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.Rejected) != 2 {
		t.Fatalf("rejected: %+v", rep.Rejected)
	}
	for _, r := range rep.Rejected {
		if r.State != pipeline.StateRejected || r.RejectReason == "" {
			t.Errorf("rejected record %s: state %s, reason %q", r.Key, r.State, r.RejectReason)
		}
		if r.Key == "secret-2" && !strings.Contains(r.ErrorMessage, "BACK: object not found") {
			t.Errorf("rejected record's detail: %q", r.ErrorMessage)
		}
	}
	slices.Sort(wheres)
	ref := pipeline.RefFor("j", "secret-4")[:12]
	if len(wheres) != 2 || !strings.HasPrefix(wheres[0], "line 4: ") || !strings.HasPrefix(wheres[1], "record "+ref+": ") {
		t.Errorf("fetch errors: %q", wheres)
	}
	for _, w := range wheres {
		if strings.Contains(w, "secret") || strings.Contains(w, "forbidden") {
			t.Errorf("a fetch error names the client or the key: %s", w)
		}
	}
	// secret-5 was rejected by the source: its images were not fetched.
	for _, p := range paths {
		if strings.Contains(p, "never.jpg") {
			t.Errorf("fetched %s of a record the source rejected", p)
		}
	}
	if len(paths) == 0 {
		t.Error("nothing fetched")
	}
	if len(progress) != 6 {
		t.Fatalf("%d progress calls, want one per record", len(progress))
	}
	for i, p := range progress {
		if p.Done != i+1 || p.Total != 6 {
			t.Errorf("progress %d: %+v", i, p)
		}
	}
	if last := progress[5]; last.Ready != 2 || last.Rejected != 2 || last.Infra != 2 {
		t.Errorf("last progress: %+v", last)
	}
}

// A source error ends validation with that error.
func TestValidateRecordsSourceError(t *testing.T) {
	t.Parallel()
	pf := newPrepFixture(t)
	boom := errors.New("manifest: unexpected EOF")
	read := func(fn func(pipeline.Record) error) error { return boom }
	if _, err := ValidateRecords(context.Background(), read, pf.p, ValidateOptions{}); !errors.Is(err, boom) {
		t.Errorf("err %v, want the source's", err)
	}
}

// The progress line: the rate so far and the time the rest takes at it.
func TestValidateProgressETA(t *testing.T) {
	for _, c := range []struct {
		p    ValidateProgress
		rate float64
		eta  time.Duration
		ok   bool
		line string
	}{
		{ValidateProgress{Done: 250, Total: 1000, Ready: 240, Rejected: 10, Elapsed: 30 * time.Minute}, 500, 90 * time.Minute, true,
			"validated 250/1000 records (240 ready, 10 rejected, 0 fetch errors) · 500 rec/h · ETA 1h30m0s"},
		{ValidateProgress{Done: 1, Total: 3, Elapsed: 1500 * time.Millisecond}, 2400, 3 * time.Second, true,
			"validated 1/3 records (0 ready, 0 rejected, 0 fetch errors) · 2400 rec/h · ETA 3s"},
		{ValidateProgress{Done: 0, Total: 1000, Elapsed: time.Minute}, 0, 0, false,
			"validated 0/1000 records (0 ready, 0 rejected, 0 fetch errors)"},
		{ValidateProgress{Done: 10, Total: 10, Elapsed: time.Hour}, 10, 0, false,
			"validated 10/10 records (0 ready, 0 rejected, 0 fetch errors) · 10 rec/h"},
		{ValidateProgress{Done: 12, Total: 10, Elapsed: time.Hour}, 12, 0, false, // more than counted: no ETA
			"validated 12/10 records (0 ready, 0 rejected, 0 fetch errors) · 12 rec/h"},
		{ValidateProgress{Done: 5, Elapsed: time.Hour}, 5, 0, false, // total unknown
			"validated 5 records (0 ready, 0 rejected, 0 fetch errors) · 5 rec/h"},
	} {
		rate, eta, ok := c.p.RateETA()
		if rate != c.rate || eta != c.eta || ok != c.ok {
			t.Errorf("%+v: rate %v, ETA %v, %v; want %v, %v, %v", c.p, rate, eta, ok, c.rate, c.eta, c.ok)
		}
		if got := c.p.String(); got != c.line {
			t.Errorf("line %q\n want %q", got, c.line)
		}
	}
}

// Sample picks the same records for the same seed, in source order, and
// all of them when there are fewer.
func TestSample(t *testing.T) {
	var recs []pipeline.Record
	for i := range 100 {
		recs = append(recs, pipeline.Record{Key: fmt.Sprint(i), Line: i + 2})
	}
	read := func(fn func(pipeline.Record) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	lines := func(r ReadFunc) []int {
		var out []int
		if err := r(func(rec pipeline.Record) error { out = append(out, rec.Line); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := lines(Sample(read, 10, 1)), lines(Sample(read, 10, 1)), lines(Sample(read, 10, 2))
	if len(a) != 10 || !slices.Equal(a, b) || slices.Equal(a, c) || !slices.IsSorted(a) {
		t.Errorf("seed 1: %v, again %v; seed 2: %v", a, b, c)
	}
	if all := lines(Sample(read, 500, 1)); len(all) != 100 {
		t.Errorf("a sample larger than the source: %d records", len(all))
	}
	if n, err := CountRecords(read); n != 100 || err != nil {
		t.Errorf("CountRecords: %d, %v", n, err)
	}
}

// Load streams a manifest into the Store and sums what the Store did;
// loading it again changes nothing.
func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.csv")
	csv := "client_id,country,document_type,front,face\n" +
		"a,LT,PASSPORT,a.jpg,a.jpg\n" +
		"b,XX,PASSPORT,b.jpg,b.jpg\n" +
		"c,LT,PASSPORT,c.jpg,c.jpg\n"
	if err := os.WriteFile(manifest, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	load := func() pipeline.LoadStats {
		t.Helper()
		src, err := OpenSource(ctx, SourceOptions{Manifest: manifest}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ls, err := Load(ctx, src, st, "j", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	ls := load()
	if ls.Rows != 3 || ls.Inserted != 3 || ls.RejectedBy[pipeline.RejectBadCountry] != 1 || len(ls.KeptKeys) != 0 {
		t.Errorf("first load: %+v", ls)
	}
	counts, err := st.Counts(ctx, "j")
	if err != nil || counts[pipeline.StatePending] != 2 || counts[pipeline.StateRejected] != 1 {
		t.Errorf("store: %v %v", counts, err)
	}
	if ls := load(); ls.Rows != 3 || ls.Inserted != 0 || ls.Unchanged != 3 {
		t.Errorf("second load: %+v", ls)
	}
}
