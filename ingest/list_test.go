package ingest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

func collect(t *testing.T, run func(fn func(pipeline.Record) error) error) []pipeline.Record {
	t.Helper()
	var recs []pipeline.Record
	if err := run(func(r pipeline.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestListS3ManyKeys(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t, "bkt")
	const clients = 600 // × 2 sides = 1200 objects: two ListObjectsV2 pages
	for i := 0; i < clients; i++ {
		id := fmt.Sprintf("c%05d", i)
		f.put(t, "bkt", "customers/"+id+"/front.jpg", []byte("f"))
		if i != 7 {
			f.put(t, "bkt", "customers/"+id+"/face.png", []byte("x"))
		}
	}
	f.put(t, "bkt", "customers/c00003/BACK.JPG", []byte("b"))
	f.put(t, "bkt", "customers/c00009/front.png", []byte("second front"))
	f.put(t, "bkt", "customers/c00010/utility_bill.pdf", []byte("u"))
	f.put(t, "bkt", "customers/c00011/selfie.jpg", []byte("not a side"))
	f.put(t, "bkt", "customers/README.txt", []byte("not matching"))
	f.put(t, "bkt", "customers/c00012/sub/front.jpg", []byte("too deep"))
	f.put(t, "bkt", "elsewhere/c1/front.jpg", []byte("outside the prefix"))

	var pages int
	f.wrap = func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("list-type") == "2" {
			pages++
		}
		return false
	}
	opts := ListOptions{Prefix: "s3://bkt/customers", Template: "{client_id}/{side}.{ext}", Country: "lt", DocumentType: "passport"}
	recs := collect(t, func(fn func(pipeline.Record) error) error {
		return List(context.Background(), f.client, opts, "job1", fn)
	})
	if pages < 2 {
		t.Errorf("%d list pages, want at least 2", pages)
	}
	if len(recs) != clients {
		t.Fatalf("%d records, want %d", len(recs), clients)
	}
	for i, r := range recs {
		id := fmt.Sprintf("c%05d", i)
		if r.Key != id || r.Input.ClientID != id || r.Job != "job1" || r.Ref != pipeline.RefFor("job1", id) {
			t.Fatalf("record %d: key %q", i, r.Key)
		}
		if r.Input.Country != "LT" || r.Input.DocumentType != "PASSPORT" || r.Line != 0 {
			t.Fatalf("record %d: %+v", i, r)
		}
		switch i {
		case 7:
			if r.RejectReason != pipeline.RejectMissingRequiredSide || r.State != pipeline.StateRejected {
				t.Errorf("c00007: %s %q", r.State, r.RejectReason)
			}
		case 9:
			if r.RejectReason != pipeline.RejectBadManifestRow || !strings.Contains(r.ErrorMessage, "several objects for front") {
				t.Errorf("c00009: %q %q", r.RejectReason, r.ErrorMessage)
			}
		default:
			if r.State != pipeline.StatePending {
				t.Errorf("%s: %s %s %s", id, r.State, r.RejectReason, r.ErrorMessage)
			}
			want := map[pipeline.Side]string{
				pipeline.SideFront: "s3://bkt/customers/" + id + "/front.jpg",
				pipeline.SideFace:  "s3://bkt/customers/" + id + "/face.png",
			}
			if i == 3 {
				want[pipeline.SideBack] = "s3://bkt/customers/c00003/BACK.JPG"
			}
			if i == 10 {
				want[pipeline.SideUtilityBill] = "s3://bkt/customers/c00010/utility_bill.pdf"
			}
			if fmt.Sprint(r.Input.Sources) != fmt.Sprint(want) {
				t.Errorf("%s: sources %v, want %v", id, r.Input.Sources, want)
			}
		}
	}
}

func TestListOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	for _, opts := range []ListOptions{
		{Prefix: dir, Template: "{client_id}/{side}.{ext}", Country: "LT"},                                   // no document type
		{Prefix: dir, Template: "{client_id}/{side}.{ext}", DocumentType: "PASSPORT"},                        // no country
		{Prefix: dir, Template: "{client_id}/{side}.{ext}", Country: "XX", DocumentType: "PASSPORT"},         // bad country
		{Prefix: dir, Template: "{client_id}/front.jpg", Country: "LT", DocumentType: "PASSPORT"},            // no side
		{Prefix: dir, Template: "{side}.jpg", Country: "LT", DocumentType: "PASSPORT"},                       // no client id
		{Prefix: dir, Template: "{client_id}/{side}.{extension}", Country: "LT", DocumentType: "PASSPORT"},   // unknown
		{Prefix: dir, Template: "{client_id}/{side}/{side}", Country: "LT", DocumentType: "PASSPORT"},        // twice
		{Prefix: dir, Template: "{client_id}/{side", Country: "LT", DocumentType: "PASSPORT"},                // unbalanced
		{Prefix: "s3://bkt/", Template: "{client_id}/{side}.{ext}", Country: "LT", DocumentType: "PASSPORT"}, // no client
		{Prefix: filepath.Join(dir, "nope"), Template: "{client_id}/{side}.{ext}", Country: "LT", DocumentType: "PASSPORT"},
	} {
		if err := List(ctx, nil, opts, "j", func(pipeline.Record) error { return nil }); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

func TestListLocalDirWithPlaceholders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := []string{
		"LT/PASSPORT/p1/front.jpg", "LT/PASSPORT/p1/face.jpg",
		"ee/id_card/p2/front.jpg", "ee/id_card/p2/back.jpg", "ee/id_card/p2/face.jpg",
		"XX/PASSPORT/p3/front.jpg", "XX/PASSPORT/p3/face.jpg", // bad country
		"LT/PASSPORT/p4/front.jpg", "LV/PASSPORT/p4/face.jpg", // disagree
		"LT/OTHER/p5/front.jpg", "LT/OTHER/p5/face.jpg", // bad document type
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := ListOptions{Prefix: "file://" + dir, Template: "{country}/{document_type}/{client_id}/{side}.jpg"}
	recs := collect(t, func(fn func(pipeline.Record) error) error {
		return List(context.Background(), nil, opts, "j", fn)
	})
	got := map[string]pipeline.Record{}
	for _, r := range recs {
		got[r.Key] = r
	}
	if len(recs) != 5 || len(got) != 5 {
		t.Fatalf("%d records: %v", len(recs), got)
	}
	if r := got["p1"]; r.State != pipeline.StatePending || r.Input.Country != "LT" || r.Input.DocumentType != "PASSPORT" ||
		r.Input.Sources[pipeline.SideFront] != filepath.Join(dir, "LT", "PASSPORT", "p1", "front.jpg") {
		t.Errorf("p1: %+v", r)
	}
	if r := got["p2"]; r.State != pipeline.StatePending || r.Input.Country != "EE" || r.Input.DocumentType != "ID_CARD" || len(r.Input.Sources) != 3 {
		t.Errorf("p2: %+v", r)
	}
	for key, reason := range map[string]string{"p3": pipeline.RejectBadCountry, "p4": pipeline.RejectBadManifestRow, "p5": pipeline.RejectBadDocumentType} {
		if r := got[key]; r.RejectReason != reason || r.State != pipeline.StateRejected {
			t.Errorf("%s: %s %q %q", key, r.State, r.RejectReason, r.ErrorMessage)
		}
	}
}

// TestGrouperStreams checks that a record is emitted as soon as the
// listing has passed its keys, also when client ids are prefixes of each
// other and their keys interleave.
func TestGrouperStreams(t *testing.T) {
	t.Parallel()
	tpl, err := compileTemplate("scans/{client_id}_{side}.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if !tpl.streaming {
		t.Fatal("template should stream")
	}
	var emitted []string
	g := &grouper{tpl: tpl, job: "j", country: "LT", docType: "PASSPORT", byID: map[string]*group{},
		fn: func(r pipeline.Record) error { emitted = append(emitted, r.Key); return nil }}
	steps := []struct {
		key  string
		want string // emitted so far, after adding key
	}{
		{"scans/12_back.jpg", ""},
		{"scans/12_f_face.jpg", ""},  // client "12_f" interleaves with "12"
		{"scans/12_f_front.jpg", ""}, //
		{"scans/12_face.jpg", ""},    // "12" continues
		{"scans/12_front.jpg", ""},
		{"scans/13_face.jpg", "12,12_f"}, // past both, in order of first key
		{"scans/13_front.jpg", "12,12_f"},
		{"scans/zzz.txt", "12,12_f,13"},
	}
	for _, s := range steps {
		if err := g.add(s.key, "ref:"+s.key); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(emitted, ","); got != s.want {
			t.Fatalf("after %s: emitted %q, want %q", s.key, got, s.want)
		}
	}
	if err := g.finish(); err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 3 || len(g.open) != 0 {
		t.Errorf("emitted %v", emitted)
	}
	if err := g.add("scans/00_front.jpg", "x"); err == nil {
		t.Error("a key out of order: no error")
	}

	// A placeholder before {client_id}: keys of one client are not
	// contiguous, so everything is held to the end.
	tpl, _ = compileTemplate("{side}/{client_id}.jpg")
	if tpl.streaming {
		t.Error("{side} first should not stream")
	}
}
