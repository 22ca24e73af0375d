package export

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// fakeSource is an in-memory Source that honours ListQuery the way a Store
// does. The function fields, when set, run first and may fail a call.
type fakeSource struct {
	ListFunc func(call int, q pipeline.ListQuery) error
	MarkFunc func(call int, ids []int64) error

	mu        sync.Mutex
	recs      []pipeline.Record
	listCalls int
	markCalls int
}

var _ Source = (*fakeSource)(nil)

func newFakeSource(recs ...pipeline.Record) *fakeSource {
	return &fakeSource{recs: slices.Clone(recs)}
}

func (f *fakeSource) List(ctx context.Context, q pipeline.ListQuery) ([]pipeline.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	if f.ListFunc != nil {
		if err := f.ListFunc(f.listCalls, q); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []pipeline.Record
	for _, r := range f.recs {
		switch {
		case r.Job != q.Job, r.ID <= q.AfterID:
		case len(q.States) > 0 && !slices.Contains(q.States, r.State):
		case q.NotExported && !r.ExportedAt.IsZero():
		default:
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b pipeline.Record) int { return int(a.ID - b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (f *fakeSource) MarkExported(ctx context.Context, ids []int64, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.markCalls++
	if f.MarkFunc != nil {
		if err := f.MarkFunc(f.markCalls, ids); err != nil {
			return err
		}
	}
	set := make(map[int64]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	for i := range f.recs {
		if set[f.recs[i].ID] && f.recs[i].ExportedAt.IsZero() {
			f.recs[i].ExportedAt = at
		}
	}
	return nil
}

// exported returns the ids marked exported, in id order.
func (f *fakeSource) exported() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for _, r := range f.recs {
		if !r.ExportedAt.IsZero() {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

const testJob = "legacy-2019"

var (
	// exportNow is 2025-03-05 01:00 in UTC+2: the UTC date is 2025-03-04.
	exportNow   = time.Date(2025, 3, 5, 1, 0, 0, 123456789, time.FixedZone("EET", 2*3600))
	submittedAt = time.Date(2025, 3, 1, 10, 11, 12, 345678000, time.UTC)
	resultAt    = time.Date(2025, 3, 1, 10, 41, 0, 0, time.UTC)
	oldExport   = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
)

func sources(id string) map[pipeline.Side]string {
	return map[pipeline.Side]string{
		pipeline.SideFront: "s3://legacy/customers/" + id + "/front.jpg",
		pipeline.SideBack:  "s3://legacy/customers/" + id + "/back.jpg",
		pipeline.SideFace:  "s3://legacy/customers/" + id + "/face.jpg",
	}
}

func hashes(id string) map[pipeline.Side]string {
	return map[pipeline.Side]string{
		pipeline.SideFront: "f-" + id, pipeline.SideBack: "b-" + id, pipeline.SideFace: "s-" + id,
	}
}

// approvedRaw is a webhook body with a pre-signed fileUrls that must not
// reach the export.
const approvedRaw = `{"final":true,"platform":"API","status":{"overall":"APPROVED"},"fileUrls":{"FRONT":"https://s3.example/front.jpg?X-Amz-Signature=abc"},"scanRef":"scan-approved"}`

// testRecords covers every outcome, plus records that must not be exported.
func testRecords() []pipeline.Record {
	rec := func(id int64, client string, st pipeline.State, o pipeline.Outcome) pipeline.Record {
		return pipeline.Record{
			ID: id, Job: testJob, Key: client, Ref: pipeline.RefFor(testJob, client), Line: int(id) + 1,
			Input: pipeline.Input{
				ClientID: client, FirstName: "First", LastName: "Last", Country: "LT", DocumentType: "ID_CARD",
				Sources: sources(client),
			},
			State: st, Outcome: o, Attempts: 1, RunID: "run-0",
		}
	}
	approved := rec(1, "c-approved", pipeline.StateFinal, pipeline.OutcomeApproved)
	approved.ScanRef = "scan-approved"
	approved.SubmittedAt, approved.ResultAt = submittedAt, resultAt
	approved.Hashes = hashes("approved")
	approved.Input.Extra = map[string]string{"segment": "retail", "branch": "LT-01"}
	approved.Result = &pipeline.Result{
		ScanRef: "scan-approved", ClientID: "c-approved", Final: true, Source: "webhook",
		Overall: "APPROVED", AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MATCH",
		ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MATCH",
		FraudTags: nil, MismatchTags: []string{}, SuspicionReasons: nil,
		AdditionalSteps: "VALID",
		DocFirstName:    "JOHN", DocLastName: "DOE", DocNumber: "AB123456", DocPersonalCode: "39005170000",
		DocDOB: "1990-05-17", DocExpiry: "2031-12-31", DocDateOfIssue: "2021-01-04",
		DocType: "ID_CARD", DocSex: "MALE", DocNationality: "LT", DocIssuingCountry: "LT", SelectedCountry: "LT",
		AMLStatus: "NOT_CHECKED", AMLHits: []string{}, DuplicateFaces: []string{"scan-old-1"},
		AgeEstimate: "OVER_25", ClientIPProxyRiskLevel: "LOW",
		Raw: json.RawMessage(approvedRaw), ReceivedAt: resultAt,
	}

	denied := rec(2, "c-denied", pipeline.StateFinal, pipeline.OutcomeDenied)
	denied.ScanRef = "scan-denied"
	denied.SubmittedAt, denied.ResultAt = submittedAt, resultAt
	denied.Hashes = hashes("denied")
	denied.Result = &pipeline.Result{
		ScanRef: "scan-denied", Final: true, Overall: "DENIED",
		AutoDocument: "DOC_VALIDATED", AutoFace: "FACE_MISMATCH", ManualDocument: "DOC_VALIDATED", ManualFace: "FACE_MISMATCH",
		DocDOB: "not a date", Raw: json.RawMessage(`{"status":{"overall":"DENIED"}}`),
	}

	suspected := rec(3, "c-suspected", pipeline.StateFinal, pipeline.OutcomeSuspected)
	suspected.ScanRef = "scan-suspected"
	suspected.SubmittedAt, suspected.ResultAt = submittedAt, resultAt
	suspected.Result = &pipeline.Result{
		ScanRef: "scan-suspected", Final: false, Overall: "SUSPECTED",
		FraudTags:        []string{"AUTO_DOC_FRAUD", "MANUAL_FACE_FRAUD"},
		MismatchTags:     []string{"NAME", "DATE_OF_BIRTH"},
		SuspicionReasons: []string{"FACE_SUSPECTED"},
		AMLStatus:        "HIT", AMLHits: []string{"PEP", "SANCTION"},
		DuplicateDocFaces: []string{"scan-a", "scan-b"},
	}

	rejected := rec(4, "c-rejected", pipeline.StateRejected, pipeline.OutcomeRejected)
	rejected.Attempts = 0
	rejected.RejectReason = pipeline.RejectTooSmall
	rejected.Input.Sources = map[pipeline.Side]string{pipeline.SideFront: "s3://legacy/customers/c-rejected/front.jpg"}

	failed := rec(5, "c-failed", pipeline.StateFailed, pipeline.OutcomeFailed)
	failed.Attempts = 3
	failed.ScanRef = "scan-failed"
	failed.ErrorCode = "MAX_RETRIES"
	failed.ErrorMessage = "process: 503 Service Unavailable, retries exhausted"
	failed.SubmittedAt = submittedAt

	expired := rec(6, "c-expired", pipeline.StateFinal, pipeline.OutcomeExpired)
	expired.ScanRef = "scan-expired"
	expired.SubmittedAt, expired.ResultAt = submittedAt, resultAt
	expired.Result = &pipeline.Result{ScanRef: "scan-expired", Final: true, Overall: "EXPIRED"}

	pending := rec(7, "c-pending", pipeline.StatePending, "")
	submitted := rec(8, "c-submitted", pipeline.StateSubmitted, "")
	already := rec(9, "c-already", pipeline.StateFinal, pipeline.OutcomeApproved)
	already.ExportedAt = oldExport
	otherJob := rec(10, "c-other-job", pipeline.StateFinal, pipeline.OutcomeApproved)
	otherJob.Job = "another-job"

	return []pipeline.Record{approved, denied, suspected, rejected, failed, expired, pending, submitted, already, otherJob}
}

// manyRecords returns n rejected records of testJob with ids 1..n.
func manyRecords(n int) []pipeline.Record {
	recs := make([]pipeline.Record, n)
	for i := range recs {
		id := fmt.Sprintf("c-%06d", i+1)
		recs[i] = pipeline.Record{
			ID: int64(i + 1), Job: testJob, Key: id, Line: i + 2,
			Input: pipeline.Input{ClientID: id, Sources: sources(id)},
			State: pipeline.StateRejected, Outcome: pipeline.OutcomeRejected, RejectReason: pipeline.RejectMissingObject,
		}
	}
	return recs
}

func fixedNow() time.Time { return exportNow }
