package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runLookup: records are found by id, Ref and scanRef, with their results.
func runLookup(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "Lookups", testLookups)
	parallel(t, open, "ResultRoundTrip", testResultRoundTrip)
}

func testLookups(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "lookups"
	recs := Records(job, 0, 3)
	mustLoad(t, s, job, recs, T0)
	all := mustList(t, s, pipeline.ListQuery{Job: job})
	scan := "SCAN-LOOKUP"
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[1].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: T0, Patch: pipeline.Patch{ScanRef: &scan}}))
	want := mustGet(t, s, all[1].ID)

	if r, err := s.ByScanRef(ctx, scan); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("ByScanRef: %+v, %v", r, err)
	}
	if r, err := s.ByRef(ctx, recs[1].Ref); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("ByRef: %+v, %v", r, err)
	}
	for _, tc := range []struct {
		name string
		fn   func() (pipeline.Record, error)
	}{
		{"Get of a missing id", func() (pipeline.Record, error) { return s.Get(ctx, all[2].ID+1000) }},
		{"ByScanRef of an unknown scanRef", func() (pipeline.Record, error) { return s.ByScanRef(ctx, "SCAN-NONE") }},
		{"ByScanRef of \"\"", func() (pipeline.Record, error) { return s.ByScanRef(ctx, "") }},
		{"ByRef of an unknown ref", func() (pipeline.Record, error) { return s.ByRef(ctx, pipeline.RefFor("nope", "nope")) }},
		{"ByRef of \"\"", func() (pipeline.Record, error) { return s.ByRef(ctx, "") }},
	} {
		if _, err := tc.fn(); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
}

func testResultRoundTrip(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	const job = "result"
	mustLoad(t, s, job, Records(job, 0, 1), T0)
	r := mustList(t, s, pipeline.ListQuery{Job: job})[0]
	raw := json.RawMessage("{\n  \"final\": true,\n  \"status\": {\"overall\": \"SUSPECTED\", \"fraudTags\": [\"FACE_SUSPECTED\"]},\n  \"note\": \"<b>&amp;</b> \\u00e9 ąč\"\n}")
	res := &pipeline.Result{
		ScanRef: "SCAN-RESULT", ClientID: "client-0", ExternalRef: r.Ref, Final: true, Source: "webhook",
		Overall: "SUSPECTED", AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MATCH", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MISMATCH",
		FraudTags: []string{"FACE_SUSPECTED", "DOC_SCREENSHOT"}, MismatchTags: []string{"NAME"}, SuspicionReasons: []string{"FACE_SUSPECTED"},
		AdditionalSteps: "VALID",
		DocFirstName:    "JONAS", DocLastName: "JONAITIS", DocNumber: "AB123", DocPersonalCode: "39001020000",
		DocDOB: "1990-01-02", DocExpiry: "2030-01-01", DocDateOfIssue: "2020-01-01", DocType: "ID_CARD", DocSex: "MALE",
		DocNationality: "LT", DocIssuingCountry: "LT", SelectedCountry: "LT",
		AMLStatus: "HIT", AMLHits: []string{"PEP", "SANCTION"}, DuplicateFaces: []string{"SCAN-A"}, DuplicateDocFaces: []string{"SCAN-B", "SCAN-C"},
		AgeEstimate: "OVER_25", ClientIPProxyRiskLevel: "LOW",
		Raw:        raw,
		ReceivedAt: time.Date(2025, 3, 1, 14, 0, 0, 123456789, time.FixedZone("EET", 2*3600)),
	}
	scan := res.ScanRef
	outcome := res.Outcome()
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: T0,
		Patch: pipeline.Patch{ScanRef: &scan, Result: res, Outcome: &outcome}}))

	check := func(how string, got *pipeline.Result) {
		t.Helper()
		if got == nil {
			t.Errorf("%s: no result", how)
			return
		}
		if !bytes.Equal(got.Raw, raw) {
			t.Errorf("%s: raw changed:\n%s\nwant\n%s", how, got.Raw, raw)
		}
		if !got.ReceivedAt.Equal(res.ReceivedAt) {
			t.Errorf("%s: received_at %v, want %v", how, got.ReceivedAt, res.ReceivedAt)
		}
		a, b := *got, *res
		a.Raw, b.Raw, a.ReceivedAt, b.ReceivedAt = nil, nil, time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: result\n%+v\nwant\n%+v", how, a, b)
		}
	}
	check("Get", mustGet(t, s, r.ID).Result)
	if got, err := s.ByScanRef(ctx, scan); err == nil {
		check("ByScanRef", got.Result)
	} else {
		t.Error(err)
	}
	if got, err := s.ByRef(ctx, r.Ref); err == nil {
		check("ByRef", got.Result)
	} else {
		t.Error(err)
	}
	check("List", mustList(t, s, pipeline.ListQuery{Job: job, States: []pipeline.State{pipeline.StateSubmitted}})[0].Result)
	c := mustClaim(t, s, pipeline.ClaimRequest{Job: job, States: []pipeline.State{pipeline.StateSubmitted}, Owner: "poller", Limit: 1, Lease: time.Minute, Now: T0})
	if len(c) != 1 {
		t.Fatalf("claimed %d", len(c))
	}
	check("Claim", c[0].Result)

	// A result without lists or raw stays without them; a better result replaces it.
	auto := &pipeline.Result{ScanRef: scan, Source: "poll", Overall: "APPROVED", ReceivedAt: at(time.Hour)}
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: r.ID, From: pipeline.StateSubmitted, To: pipeline.StateSubmitted, Now: at(time.Hour), Patch: pipeline.Patch{Result: auto}}))
	got := mustGet(t, s, r.ID).Result
	if got == nil || len(got.Raw) != 0 || len(got.FraudTags) != 0 || got.Overall != "APPROVED" || got.Final || got.Source != "poll" {
		t.Errorf("replaced result: %+v", got)
	}
}

// --- List ---
