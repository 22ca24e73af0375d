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
	case "EXPIRED", "EXPIRED-DELETED", "DELETED":
		return true
	}
	return false
}

// FromWebhook converts a parsed webhook to a domain result. raw is the body
// as received, already stripped of pre-signed URLs.
func FromWebhook(w idenfy.Webhook, raw []byte, now time.Time) pipeline.Result {
	r := pipeline.Result{
		ScanRef: w.ScanRef, ClientID: w.ClientID, ExternalRef: w.ExternalRef,
		Final: w.Final || expired(w.Status.Overall), Source: "webhook",
		Overall:      w.Status.Overall,
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
	r.Raw = b
	return r
}

// PolledFinal applies the settled rule: EXPIRED, DELETED and EXPIRED-DELETED
// are final; APPROVED, DENIED and SUSPECTED are final when the manual fields
// are filled or no manual review is expected.
func PolledFinal(st idenfy.StatusResponse, expectManual bool) bool {
	switch st.Status {
	case "EXPIRED", "DELETED", "EXPIRED-DELETED":
		return true
	case "APPROVED", "DENIED", "SUSPECTED":
		return !expectManual || (st.ManualDocument != "" && st.ManualFace != "")
	}
	return false
}
