package idenfytest

import (
	"hash/fnv"

	"github.com/idbatch/idbatch/submit/idenfy"
)

// Decision is the outcome the sandbox gives a verification. The automatic
// callback carries Overall, AutoDocument, AutoFace and the tags; the manual
// one adds ManualDocument and ManualFace.
type Decision struct {
	Overall                    string // APPROVED, DENIED or SUSPECTED
	AutoDocument, AutoFace     string
	ManualDocument, ManualFace string
	FraudTags, MismatchTags    []string // nil when none
}

// Decide returns the outcome the sandbox gives a processed verification. It
// is deterministic, so tests and the demo can predict every result:
//
//	b := FNV-1a 32-bit hash of clientID, mod 10
//	b 0–5  APPROVED   DOC_VALIDATED / FACE_MATCH, no tags
//	b 6    DENIED     DOC_VALIDATED / FACE_MISMATCH
//	b 7    DENIED     DOC_EXPIRED   / FACE_MATCH
//	b 8    SUSPECTED  DOC_VALIDATED / FACE_MATCH, mismatchTags [NAME]
//	b 9    SUSPECTED  DOC_VALIDATED / FACE_MATCH, fraudTags [DOC_MOBILE_PHOTO]
//
// The manual (human review) fields agree with the automatic ones. Only the
// clientId decides, so a customer gets the same outcome on every attempt;
// country and documentType are accepted so the rule can grow without
// breaking callers, and do not change the outcome today. The sandbox's
// /data answer is consistent with the decision: a NAME mismatch returns a
// docFirstName other than the token's firstName, DOC_EXPIRED a past
// docExpiry.
func Decide(clientID, country, documentType string) Decision {
	h := fnv.New32a()
	h.Write([]byte(clientID))
	d := Decision{
		Overall:      idenfy.StatusApproved,
		AutoDocument: idenfy.DocValidated,
		AutoFace:     idenfy.FaceMatch,
	}
	switch h.Sum32() % 10 {
	case 6:
		d.Overall, d.AutoFace = idenfy.StatusDenied, idenfy.FaceMismatch
	case 7:
		d.Overall, d.AutoDocument = idenfy.StatusDenied, idenfy.DocExpired
	case 8:
		d.Overall, d.MismatchTags = idenfy.StatusSuspected, []string{"NAME"}
	case 9:
		d.Overall, d.FraudTags = idenfy.StatusSuspected, []string{"DOC_MOBILE_PHOTO"}
	}
	d.ManualDocument, d.ManualFace = d.AutoDocument, d.AutoFace
	return d
}

// dummyDecision is the automatic result of a dummy token (§7.1).
func dummyDecision(status string) Decision {
	d := Decision{Overall: status, AutoDocument: idenfy.DocValidated, AutoFace: idenfy.FaceMatch}
	switch status {
	case idenfy.StatusDenied:
		d.AutoFace = idenfy.FaceMismatch
	case idenfy.StatusSuspected:
		d.MismatchTags = []string{"NAME"}
	case idenfy.StatusExpired:
		d.AutoDocument, d.AutoFace = "", ""
	}
	return d
}

// withManual applies a manual review to d (add-dummy-status): APPROVED needs
// FACE_MATCH and DOC_VALIDATED; a SUSPECTED verification whose manual
// results are both fine stays SUSPECTED (its tags still stand); anything
// else is DENIED.
func withManual(d Decision, face, doc string) Decision {
	d.ManualFace, d.ManualDocument = face, doc
	ok := face == idenfy.FaceMatch && doc == idenfy.DocValidated
	switch {
	case ok && d.Overall == idenfy.StatusSuspected && (len(d.FraudTags) > 0 || len(d.MismatchTags) > 0):
	case ok:
		d.Overall = idenfy.StatusApproved
	default:
		d.Overall = idenfy.StatusDenied
	}
	return d
}
