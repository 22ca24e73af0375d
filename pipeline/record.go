package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// State is where a record is in its lifecycle. Values are stored as text.
type State string

const (
	// StatePending: loaded from the manifest, nothing spent yet.
	StatePending State = "pending"
	// StateTokening: the intent to create a token is durably recorded; the
	// /token call may or may not have reached iDenfy.
	StateTokening State = "tokening"
	// StateTokened: the token response (scanRef, authToken) is stored; the
	// /process call may or may not have reached iDenfy.
	StateTokened State = "tokened"
	// StateSubmitted: iDenfy accepted the images; the result is awaited.
	StateSubmitted State = "submitted"
	// StateFinal: a final result is stored (outcome APPROVED, DENIED, SUSPECTED or EXPIRED).
	StateFinal State = "final"
	// StateRejected: the input can never be verified; no API call was made.
	StateRejected State = "rejected"
	// StateFailed: the API refused the record permanently (or retries ran out).
	StateFailed State = "failed"
	// StateOrphan: an intent was found without a stored token after a crash
	// (or a /token answer was lost). A token may exist at iDenfy: the record
	// is never given a second one while it may be active. It ends by itself:
	// its NotBefore is the instant any such token has certainly expired
	// (intent + the token's expiryTime + a margin), after which it is claimed
	// and goes back to pending; or earlier, when the token's expiry callback
	// (matched by our externalRef) adopts it.
	StateOrphan State = "orphan"
)

// AllStates lists every state in lifecycle order.
var AllStates = []State{StatePending, StateTokening, StateTokened, StateSubmitted, StateFinal, StateRejected, StateFailed, StateOrphan}

// End reports whether s is an end state: the record is exported once it is in it.
func (s State) End() bool {
	return s == StateFinal || s == StateRejected || s == StateFailed
}

// Outcome is the exported verdict of a record.
type Outcome string

const (
	OutcomeApproved  Outcome = "APPROVED"
	OutcomeDenied    Outcome = "DENIED"
	OutcomeSuspected Outcome = "SUSPECTED"
	OutcomeExpired   Outcome = "EXPIRED"
	OutcomeRejected  Outcome = "REJECTED"
	OutcomeFailed    Outcome = "FAILED"
)

// Side names an image of a record, as the API names it.
type Side string

const (
	SideFront       Side = "FRONT"
	SideBack        Side = "BACK"
	SideFace        Side = "FACE"
	SideUtilityBill Side = "UTILITY_BILL"
)

// Sides lists every side in the order they are fetched and exported.
var Sides = []Side{SideFront, SideBack, SideFace, SideUtilityBill}

// Reject codes: stable, exported in reject_reason.
const (
	RejectMissingObject       = "missing_object"
	RejectEmptyObject         = "empty_object"
	RejectNotAnImage          = "not_an_image"
	RejectUnsupportedFormat   = "unsupported_format"
	RejectCorruptImage        = "corrupt_image"
	RejectTooSmall            = "too_small"
	RejectTooLargePixels      = "too_large_pixels"
	RejectCannotFitSizeLimit  = "cannot_fit_size_limit"
	RejectMissingRequiredSide = "missing_required_side"
	RejectBadCountry          = "bad_country"
	RejectBadDocumentType     = "bad_document_type"
	RejectBadClientID         = "bad_client_id"
	RejectBadManifestRow      = "bad_manifest_row"
	RejectOutOfScope          = "out_of_scope"        // an image reference outside the manifest's bucket or directory
	RejectNotRegularFile      = "not_a_regular_file"  // a local image reference names a directory, FIFO, device...
	RejectDuplicateClientID   = "duplicate_client_id" // several manifest rows share the client id: none is verified
)

// RejectError is a permanent, input-caused refusal of a record with a stable code.
type RejectError struct {
	Code   string // one of the Reject* constants
	Detail string // free text for the operator; never personal data
}

func (e *RejectError) Error() string {
	if e.Detail == "" {
		return "rejected: " + e.Code
	}
	return "rejected: " + e.Code + ": " + e.Detail
}

// Reject returns a *RejectError.
func Reject(code, detail string) error { return &RejectError{Code: code, Detail: detail} }

// RejectCode returns the code of a *RejectError in err's chain, or "".
func RejectCode(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// Input is what the manifest says about one customer. It is immutable once the
// record has been submitted.
type Input struct {
	ClientID     string            `json:"client_id"`
	FirstName    string            `json:"first_name,omitempty"`
	LastName     string            `json:"last_name,omitempty"`
	DateOfBirth  string            `json:"date_of_birth,omitempty"`
	Country      string            `json:"country,omitempty"`
	DocumentType string            `json:"document_type,omitempty"`
	Sources      map[Side]string   `json:"sources,omitempty"` // object key, s3:// URI or local path per side
	Extra        map[string]string `json:"extra,omitempty"`   // unknown manifest columns
}

// Hash is a stable digest of the input, used to detect a changed manifest row.
func (in Input) Hash() string {
	b, _ := json.Marshal(in) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Record is one customer to verify, with everything the Store knows about it.
// Zero times mean "never".
type Record struct {
	ID    int64
	Job   string
	Key   string // unique within the job: the client id, or "#line:N" for a row without a usable one
	Ref   string // externalRef sent to iDenfy: stable, unique across jobs, ≤40 chars
	Line  int    // manifest line (1-based, header is line 1 for CSV)
	Input Input

	State     State
	Version   int64 // incremented by every write; used for compare-and-set
	Attempts  int
	NotBefore time.Time // not claimable before this instant

	LeaseOwner string
	LeaseUntil time.Time

	ScanRef        string
	AuthToken      string
	TokenExpiresAt time.Time

	IntentAt    time.Time
	SubmittedAt time.Time
	ResultAt    time.Time
	ExportedAt  time.Time
	DeletedAt   time.Time

	Outcome      Outcome
	RejectReason string
	ErrorCode    string
	ErrorMessage string
	Hashes       map[Side]string // sha256 of each normalized image sent
	Result       *Result         // the best result received so far (nil = none)
	RunID        string          // the run in which the record last changed state
	UpdatedAt    time.Time
}

// RefFor derives a record's externalRef from its job and key: 32 hex chars.
func RefFor(job, key string) string {
	sum := sha256.Sum256([]byte(job + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// Result is a verification result in domain terms, from a webhook or a poll.
type Result struct {
	ScanRef     string `json:"scan_ref"`
	ClientID    string `json:"client_id,omitempty"`
	ExternalRef string `json:"external_ref,omitempty"`
	Final       bool   `json:"final"`
	Source      string `json:"source"` // "webhook" or "poll"

	Overall          string   `json:"overall"` // APPROVED, DENIED, SUSPECTED, EXPIRED, ... (open)
	AutoDocument     string   `json:"auto_document,omitempty"`
	AutoFace         string   `json:"auto_face,omitempty"`
	ManualDocument   string   `json:"manual_document,omitempty"`
	ManualFace       string   `json:"manual_face,omitempty"`
	FraudTags        []string `json:"fraud_tags,omitempty"`
	MismatchTags     []string `json:"mismatch_tags,omitempty"`
	SuspicionReasons []string `json:"suspicion_reasons,omitempty"`
	AdditionalSteps  string   `json:"additional_steps,omitempty"`

	DocFirstName      string `json:"doc_first_name,omitempty"`
	DocLastName       string `json:"doc_last_name,omitempty"`
	DocNumber         string `json:"doc_number,omitempty"`
	DocPersonalCode   string `json:"doc_personal_code,omitempty"`
	DocDOB            string `json:"doc_dob,omitempty"` // YYYY-MM-DD as received
	DocExpiry         string `json:"doc_expiry,omitempty"`
	DocDateOfIssue    string `json:"doc_date_of_issue,omitempty"`
	DocType           string `json:"doc_type,omitempty"`
	DocSex            string `json:"doc_sex,omitempty"`
	DocNationality    string `json:"doc_nationality,omitempty"`
	DocIssuingCountry string `json:"doc_issuing_country,omitempty"`
	SelectedCountry   string `json:"selected_country,omitempty"`

	AMLStatus              string   `json:"aml_status,omitempty"`
	AMLHits                []string `json:"aml_hits,omitempty"`
	DuplicateFaces         []string `json:"duplicate_faces,omitempty"`
	DuplicateDocFaces      []string `json:"duplicate_doc_faces,omitempty"`
	AgeEstimate            string   `json:"age_estimate,omitempty"`
	ClientIPProxyRiskLevel string   `json:"client_ip_proxy_risk_level,omitempty"`

	// Raw is the payload as received, without pre-signed fileUrls.
	Raw        json.RawMessage `json:"raw,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

// Rank orders results so that a record never moves backwards: none (0) <
// automatic (1) < final (2).
func (r *Result) Rank() int {
	switch {
	case r == nil:
		return 0
	case r.Final:
		return 2
	default:
		return 1
	}
}

// Outcome maps a final result to the exported outcome: APPROVED, DENIED and
// SUSPECTED as they are; EXPIRED for EXPIRED, EXPIRED-DELETED and DELETED;
// FAILED for any other overall status (REVIEWING, ACTIVE, ARCHIVED, empty,
// unknown), so that an outcome is always one of the enum. results never
// makes such a result final (see its package documentation); FAILED is the
// guard for any other producer.
func (r *Result) Outcome() Outcome {
	switch r.Overall {
	case "APPROVED":
		return OutcomeApproved
	case "DENIED":
		return OutcomeDenied
	case "SUSPECTED":
		return OutcomeSuspected
	case "EXPIRED", "EXPIRED-DELETED", "DELETED":
		return OutcomeExpired
	default:
		return OutcomeFailed
	}
}
