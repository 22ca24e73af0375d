package export

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// Row is one exported record: one row of the Parquet output, with the columns
// of DESIGN.md ("Parquet output") in that order, then deleted_at.
//
// Physical layout (see testdata/schema.golden):
//   - Strings are UTF8 and always valid UTF-8: RowFromRecord replaces each
//     invalid byte with U+FFFD (one bad byte would make DuckDB refuse the
//     whole column of the file). A string column tagged optional is written as null
//     when the Go value is "" (parquet-go writes the zero value of an optional
//     non-pointer field as null). job, run_id and outcome are required.
//   - Strings are PLAIN encoded (the Exporter sets PLAIN as the default for
//     BYTE_ARRAY, instead of parquet-go's DELTA_LENGTH_BYTE_ARRAY), except the
//     low-cardinality columns tagged dict (RLE_DICTIONARY). The other string
//     columns are tagged plain too, so the schema says so on its own.
//   - Dates are *int32 days since 1970-01-01 with the date tag (parquet-go
//     0.32 writes a time.Time tagged date wrongly); nil is null.
//   - Timestamps are *int64 microseconds since the epoch, UTC, with
//     isAdjustedToUTC=true (DuckDB: TIMESTAMP WITH TIME ZONE); nil is null.
//   - Lists are 3-level LISTs of required strings; a nil slice is a null list,
//     an empty non-nil slice is an empty list.
//   - raw_result and extra hold JSON text in plain UTF8 columns (no JSON
//     logical type, so every engine reads them as strings).
type Row struct {
	Job            string   `parquet:"job,dict"`
	RunID          string   `parquet:"run_id,dict"`
	ClientID       string   `parquet:"client_id,optional,plain"`
	ScanRef        string   `parquet:"scan_ref,optional,plain"`
	Outcome        string   `parquet:"outcome,dict"`
	OverallStatus  string   `parquet:"overall_status,optional,dict"`
	AutoDocument   string   `parquet:"auto_document,optional,dict"`
	AutoFace       string   `parquet:"auto_face,optional,dict"`
	ManualDocument string   `parquet:"manual_document,optional,dict"`
	ManualFace     string   `parquet:"manual_face,optional,dict"`
	FraudTags      []string `parquet:"fraud_tags,optional,list,dict"`
	MismatchTags   []string `parquet:"mismatch_tags,optional,list,dict"`
	// SuspicionReasons are iDenfy's suspicionReasons codes.
	SuspicionReasons []string `parquet:"suspicion_reasons,optional,list,dict"`
	// Final is the result's final flag (true once manually reviewed, or for a
	// result that will not change); null when the record has no result.
	Final *bool `parquet:"final"`

	DocFirstName          string `parquet:"doc_first_name,optional,plain"`
	DocLastName           string `parquet:"doc_last_name,optional,plain"`
	DocNumber             string `parquet:"doc_number,optional,plain"`
	DocPersonalCode       string `parquet:"doc_personal_code,optional,plain"`
	DocDOB                *int32 `parquet:"doc_dob,date"`
	DocExpiry             *int32 `parquet:"doc_expiry,date"`
	DocDateOfIssue        *int32 `parquet:"doc_date_of_issue,date"`
	DocType               string `parquet:"doc_type,optional,dict"`
	DocSex                string `parquet:"doc_sex,optional,dict"`
	DocNationality        string `parquet:"doc_nationality,optional,dict"`
	DocIssuingCountry     string `parquet:"doc_issuing_country,optional,dict"`
	SelectedCountry       string `parquet:"selected_country,optional,dict"`
	SubmittedCountry      string `parquet:"submitted_country,optional,dict"`
	SubmittedDocumentType string `parquet:"submitted_document_type,optional,dict"`

	RejectReason string `parquet:"reject_reason,optional,dict"`
	ErrorCode    string `parquet:"error_code,optional,dict"`
	ErrorMessage string `parquet:"error_message,optional,plain"`
	Attempts     int32  `parquet:"attempts"`

	SourceFront string `parquet:"source_front,optional,plain"`
	SourceBack  string `parquet:"source_back,optional,plain"`
	SourceFace  string `parquet:"source_face,optional,plain"`
	FrontSHA256 string `parquet:"front_sha256,optional,plain"`
	BackSHA256  string `parquet:"back_sha256,optional,plain"`
	FaceSHA256  string `parquet:"face_sha256,optional,plain"`

	SubmittedAt *int64 `parquet:"submitted_at,timestamp(microsecond:utc)"`
	ResultAt    *int64 `parquet:"result_at,timestamp(microsecond:utc)"`
	ExportedAt  *int64 `parquet:"exported_at,timestamp(microsecond:utc)"`

	AMLStatus              string   `parquet:"aml_status,optional,dict"`
	AMLHits                []string `parquet:"aml_hits,optional,list,dict"`
	DuplicateFaces         []string `parquet:"duplicate_faces,optional,list,plain"`
	DuplicateDocFaces      []string `parquet:"duplicate_doc_faces,optional,list,plain"`
	AgeEstimate            string   `parquet:"age_estimate,optional,dict"`
	ClientIPProxyRiskLevel string   `parquet:"client_ip_proxy_risk_level,optional,dict"`
	AdditionalSteps        string   `parquet:"additional_steps,optional,dict"`

	// RawResult is the result JSON as received, sanitized by
	// idenfy.SanitizeRaw (no pre-signed URL at any depth, valid UTF-8).
	RawResult string `parquet:"raw_result,optional,plain"`
	// Extra is the unknown manifest columns as a JSON object.
	Extra string `parquet:"extra,optional,plain"`

	// DeletedAt is when the verification was deleted at iDenfy. `idbatch
	// delete` only deletes exported records, so it is null in the row
	// exported first; deletions reach the export through the deletions log
	// (_deletions/job=<job>/deletions.csv, see docs/analysts.md).
	DeletedAt *int64 `parquet:"deleted_at,timestamp(microsecond:utc)"`
}

// ErrorUnexpectedStatus is the error_code of a row exported as FAILED because
// its outcome in the Store, or the overall status of its final result, is
// not one of the enum (a Store written before results refused such
// results as final; see package results). overall_status and raw_result
// keep what iDenfy sent.
const ErrorUnexpectedStatus = "unexpected_status"

// RowFromRecord maps a record to its exported row. runID is the run that
// exports it and exportedAt the export time (both written on every row).
// Unparseable dates and zero times become nulls; the raw result keeps what
// the columns could not. Every string is made valid UTF-8, and outcome is
// always one of APPROVED, DENIED, SUSPECTED, EXPIRED, REJECTED, FAILED.
func RowFromRecord(rec pipeline.Record, runID string, exportedAt time.Time) Row {
	outcome, unexpected := outcomeOf(rec)
	row := Row{
		Job:          rec.Job,
		RunID:        runID,
		ClientID:     rec.Input.ClientID,
		ScanRef:      rec.ScanRef,
		Outcome:      string(outcome),
		RejectReason: rec.RejectReason,
		ErrorCode:    rec.ErrorCode,
		ErrorMessage: rec.ErrorMessage,
		Attempts:     int32(min(max(rec.Attempts, 0), 1<<31-1)),

		SubmittedCountry:      rec.Input.Country,
		SubmittedDocumentType: rec.Input.DocumentType,
		SourceFront:           rec.Input.Sources[pipeline.SideFront],
		SourceBack:            rec.Input.Sources[pipeline.SideBack],
		SourceFace:            rec.Input.Sources[pipeline.SideFace],
		FrontSHA256:           rec.Hashes[pipeline.SideFront],
		BackSHA256:            rec.Hashes[pipeline.SideBack],
		FaceSHA256:            rec.Hashes[pipeline.SideFace],

		SubmittedAt: micros(rec.SubmittedAt),
		ResultAt:    micros(rec.ResultAt),
		ExportedAt:  micros(exportedAt),
		DeletedAt:   micros(rec.DeletedAt),
		Extra:       extraJSON(rec.Input.Extra),
	}
	if r := rec.Result; r != nil {
		if row.ScanRef == "" {
			row.ScanRef = r.ScanRef
		}
		final := r.Final
		row.Final = &final
		row.OverallStatus = r.Overall
		row.AutoDocument = r.AutoDocument
		row.AutoFace = r.AutoFace
		row.ManualDocument = r.ManualDocument
		row.ManualFace = r.ManualFace
		row.FraudTags = nonNil(r.FraudTags)
		row.MismatchTags = nonNil(r.MismatchTags)
		row.SuspicionReasons = nonNil(r.SuspicionReasons)
		row.AdditionalSteps = r.AdditionalSteps

		row.DocFirstName = r.DocFirstName
		row.DocLastName = r.DocLastName
		row.DocNumber = r.DocNumber
		row.DocPersonalCode = r.DocPersonalCode
		row.DocDOB = days(r.DocDOB)
		row.DocExpiry = days(r.DocExpiry)
		row.DocDateOfIssue = days(r.DocDateOfIssue)
		row.DocType = r.DocType
		row.DocSex = r.DocSex
		row.DocNationality = r.DocNationality
		row.DocIssuingCountry = r.DocIssuingCountry
		row.SelectedCountry = r.SelectedCountry

		row.AMLStatus = r.AMLStatus
		row.AMLHits = nonNil(r.AMLHits)
		row.DuplicateFaces = nonNil(r.DuplicateFaces)
		row.DuplicateDocFaces = nonNil(r.DuplicateDocFaces)
		row.AgeEstimate = r.AgeEstimate
		row.ClientIPProxyRiskLevel = r.ClientIPProxyRiskLevel

		row.RawResult = rawResult(r.Raw)
	}
	if unexpected && row.ErrorCode == "" {
		row.ErrorCode = ErrorUnexpectedStatus
	}
	row.validUTF8()
	return row
}

// outcomeOf is the record's outcome, derived from its state and result when
// the Store holds none (it always should for an end state), and whether it
// is FAILED only because the Store's outcome or the final result's overall
// status is outside the enum.
func outcomeOf(rec pipeline.Record) (o pipeline.Outcome, unexpected bool) {
	switch {
	case rec.Outcome != "":
		o = rec.Outcome
	case rec.State == pipeline.StateRejected:
		o = pipeline.OutcomeRejected
	case rec.State == pipeline.StateFailed:
		o = pipeline.OutcomeFailed
	case rec.Result != nil:
		o = rec.Result.Outcome()
	}
	switch o {
	case pipeline.OutcomeApproved, pipeline.OutcomeDenied, pipeline.OutcomeSuspected,
		pipeline.OutcomeExpired, pipeline.OutcomeRejected:
		return o, false
	case pipeline.OutcomeFailed:
		// A final record is FAILED only through Result.Outcome's guard.
		return o, rec.State == pipeline.StateFinal
	}
	return pipeline.OutcomeFailed, true
}

// validUTF8 replaces each invalid byte of every string of the row with
// U+FFFD. Lists are copied before they are changed (they may be the
// record's).
func (r *Row) validUTF8() {
	for _, p := range []*string{
		&r.Job, &r.RunID, &r.ClientID, &r.ScanRef, &r.Outcome, &r.OverallStatus,
		&r.AutoDocument, &r.AutoFace, &r.ManualDocument, &r.ManualFace,
		&r.DocFirstName, &r.DocLastName, &r.DocNumber, &r.DocPersonalCode, &r.DocType, &r.DocSex,
		&r.DocNationality, &r.DocIssuingCountry, &r.SelectedCountry, &r.SubmittedCountry, &r.SubmittedDocumentType,
		&r.RejectReason, &r.ErrorCode, &r.ErrorMessage,
		&r.SourceFront, &r.SourceBack, &r.SourceFace, &r.FrontSHA256, &r.BackSHA256, &r.FaceSHA256,
		&r.AMLStatus, &r.AgeEstimate, &r.ClientIPProxyRiskLevel, &r.AdditionalSteps, &r.RawResult, &r.Extra,
	} {
		*p = idenfy.ValidUTF8(*p)
	}
	for _, p := range []*[]string{
		&r.FraudTags, &r.MismatchTags, &r.SuspicionReasons, &r.AMLHits, &r.DuplicateFaces, &r.DuplicateDocFaces,
	} {
		copied := false
		for i, s := range *p {
			if v := idenfy.ValidUTF8(s); v != s {
				if !copied {
					*p, copied = slices.Clone(*p), true
				}
				(*p)[i] = v
			}
		}
	}
}

// nonNil turns a nil list into an empty one: a record with a result has
// lists (possibly empty); only a record without a result has null lists.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// micros is t as microseconds since the epoch, or nil for the zero time.
func micros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

// days parses a YYYY-MM-DD date into days since 1970-01-01, or nil.
func days(s string) *int32 {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil
	}
	d := int32(t.Unix() / 86400) // t is midnight UTC: an exact multiple of a day
	return &d
}

// extraJSON is the unknown manifest columns as a JSON object with sorted
// keys, or "" (null) when there are none.
func extraJSON(extra map[string]string) string {
	if len(extra) == 0 {
		return ""
	}
	b, err := json.Marshal(extra)
	if err != nil { // cannot happen for map[string]string
		return ""
	}
	return string(b)
}

// rawResult is the raw result as text, sanitized again with
// idenfy.SanitizeRaw: results stores it sanitized, but a Store written
// before that may hold invalid UTF-8 or pre-signed URLs below the top level,
// which open the customer's document images. Text that is not JSON at all
// (never stored by idbatch) is dropped rather than exported as invalid JSON.
func rawResult(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	clean, err := idenfy.SanitizeRaw(raw)
	if err != nil {
		return ""
	}
	return string(clean)
}
