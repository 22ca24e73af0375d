package results

import (
	"encoding/json"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// expired reports whether an overall status means the verification never
// happened or is gone: such a result is final whatever the payload says.
func expired(overall string) bool {
	switch overall {
	case idenfy.StatusExpired, idenfy.StatusExpiredDeleted, idenfy.StatusDeleted:
		return true
	}
	return false
}

// decided reports whether an overall status is a verdict.
func decided(overall string) bool {
	switch overall {
	case idenfy.StatusApproved, idenfy.StatusDenied, idenfy.StatusSuspected:
		return true
	}
	return false
}

// FromWebhook converts a parsed webhook to a domain result. raw is the body
// as received, sanitized with idenfy.SanitizeRaw (without pre-signed URLs).
//
// The result is final when its overall status is EXPIRED, EXPIRED-DELETED or
// DELETED, or when it is APPROVED, DENIED or SUSPECTED and the webhook says
// final:true. Any other overall status (REVIEWING, ACTIVE, ARCHIVED, "",
// a value iDenfy may add) is never final, whatever the payload says: the
// record keeps waiting for its result, and the poller asks /status for it
// once it is overdue. So a final result always maps to an outcome of the
// enum (see pipeline.Result.Outcome).
func FromWebhook(w idenfy.Webhook, raw []byte, now time.Time) pipeline.Result {
	overall := w.Status.Overall
	r := pipeline.Result{
		ScanRef: w.ScanRef, ClientID: w.ClientID, ExternalRef: w.ExternalRef,
		Final: expired(overall) || (w.Final && decided(overall)), Source: "webhook",
		Overall:      overall,
		AutoDocument: w.Status.AutoDocument, AutoFace: w.Status.AutoFace,
		ManualDocument: w.Status.ManualDocument, ManualFace: w.Status.ManualFace,
		FraudTags: w.Status.FraudTags, MismatchTags: w.Status.MismatchTags, SuspicionReasons: w.Status.SuspicionReasons,
		AdditionalSteps: w.Status.AdditionalSteps,
		Raw:             json.RawMessage(raw), ReceivedAt: now.UTC(),
	}
	fillData(&r, w.Data)
	for _, c := range w.AML {
		if r.AMLStatus == "" || c.Status.OverallStatus == "SUSPECTED" {
			r.AMLStatus = c.Status.OverallStatus
		}
		for _, d := range c.Data {
			if d.Suspicion != "" {
				r.AMLHits = append(r.AMLHits, d.Suspicion)
			}
		}
	}
	return r
}

func fillData(r *pipeline.Result, d idenfy.DataResponse) {
	r.DocFirstName, r.DocLastName = d.DocFirstName, d.DocLastName
	r.DocNumber, r.DocPersonalCode = d.DocNumber, d.DocPersonalCode
	r.DocDOB, r.DocExpiry, r.DocDateOfIssue = d.DocDOB, d.DocExpiry, d.DocDateOfIssue
	r.DocType, r.DocSex = d.DocType, d.DocSex
	r.DocNationality, r.DocIssuingCountry, r.SelectedCountry = d.DocNationality, d.DocIssuingCountry, d.SelectedCountry
	r.DuplicateFaces, r.DuplicateDocFaces = d.DuplicateFaces, d.DuplicateDocFaces
	r.AgeEstimate, r.ClientIPProxyRiskLevel = d.AgeEstimate, d.ClientIPProxyRiskLevel
}

// FromPoll converts /status (and /data, when the result is final) to a
// domain result. expectManual: a decided result is final only once its
// manual fields are filled (DESIGN.md, "Settled details").
func FromPoll(st idenfy.StatusResponse, data *idenfy.DataResponse, expectManual bool, now time.Time) pipeline.Result {
	r := pipeline.Result{
		ScanRef: st.ScanRef, ClientID: st.ClientID, Source: "poll",
		Overall:      st.Status,
		AutoDocument: st.AutoDocument, AutoFace: st.AutoFace,
		ManualDocument: st.ManualDocument, ManualFace: st.ManualFace,
		FraudTags: st.FraudTags, MismatchTags: st.MismatchTags,
		ReceivedAt: now.UTC(),
	}
	r.Final = PolledFinal(st, expectManual)
	raw := map[string]json.RawMessage{"status": st.Raw}
	if data != nil {
		fillData(&r, *data)
		raw["data"] = data.Raw
	}
	b, _ := json.Marshal(raw)
	if clean, err := idenfy.SanitizeRaw(b); err == nil {
		r.Raw = clean
	}
	return r
}

// PolledFinal applies the settled rule: EXPIRED, DELETED and EXPIRED-DELETED
// are final; APPROVED, DENIED and SUSPECTED are final when the manual fields
// are filled or no manual review is expected.
func PolledFinal(st idenfy.StatusResponse, expectManual bool) bool {
	switch {
	case expired(st.Status):
		return true
	case decided(st.Status):
		return !expectManual || (st.ManualDocument != "" && st.ManualFace != "")
	}
	return false
}
