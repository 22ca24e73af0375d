package idenfy

import "encoding/json"

// API paths (all POST).
const (
	PathToken          = "/api/v2/token"
	PathProcess        = "/api/v2/process"
	PathStatus         = "/api/v2/status"
	PathData           = "/api/v2/data"
	PathFiles          = "/api/v2/files"
	PathDelete         = "/api/v2/delete"
	PathAddDummyStatus = "/api/v2/add-dummy-status"
)

// DefaultBaseURL is iDenfy's API host; the key pair selects the environment.
const DefaultBaseURL = "https://ivs.idenfy.com"

// Overall statuses (§6.1). Enums are open: compare, never reject unknown values.
const (
	StatusApproved       = "APPROVED"
	StatusDenied         = "DENIED"
	StatusSuspected      = "SUSPECTED"
	StatusReviewing      = "REVIEWING"
	StatusActive         = "ACTIVE"
	StatusExpired        = "EXPIRED"
	StatusExpiredDeleted = "EXPIRED-DELETED"
	StatusDeleted        = "DELETED"
	StatusArchived       = "ARCHIVED"
)

// Token types.
const (
	TokenTypeIdentification = "IDENTIFICATION" // document + selfie
	TokenTypeDocument       = "DOCUMENT"       // document only
)

// Document types accepted by Direct Processing.
const (
	DocIDCard          = "ID_CARD"
	DocPassport        = "PASSPORT"
	DocDriverLicense   = "DRIVER_LICENSE"
	DocResidencePermit = "RESIDENCE_PERMIT"
)

// Image sides (keys of ProcessRequest.Images).
const (
	SideFront       = "FRONT"
	SideBack        = "BACK"
	SideFace        = "FACE"
	SideUtilityBill = "UTILITY_BILL"
)

// Face and document results most callers test for (§6.2, §6.3; open enums).
const (
	FaceMatch     = "FACE_MATCH"
	FaceMismatch  = "FACE_MISMATCH"
	DocValidated  = "DOC_VALIDATED"
	DocExpired    = "DOC_EXPIRED"
	PlatformOther = "OTHER"
)

// TokenRequest is the body of POST /api/v2/token. Empty optional fields are
// omitted so that the account's Dashboard defaults apply.
type TokenRequest struct {
	ClientID    string // required, ≤100 ASCII
	TokenType   string // IDENTIFICATION (sent when empty) or DOCUMENT
	ExternalRef string // ≤40, echoed in webhooks; omitted when empty

	FirstName, LastName, DateOfBirth, Country string // omitted when empty

	Documents   []string // allowed document types; omitted when empty
	ExpiryTime  int      // seconds; omitted when 0
	DummyStatus string   // DEV only (§7.1); omitted when empty
	CallbackURL string   // per-session webhook URL; omitted when empty

	// Extra holds any other token parameter (sessionLength, locale,
	// fraudServices, …), passed through verbatim and merged into the JSON
	// object. A non-empty explicit field above wins over the same key here.
	Extra map[string]any
}

// body builds the JSON object of the request.
func (r TokenRequest) body() map[string]any {
	m := make(map[string]any, len(r.Extra)+12)
	for k, v := range r.Extra {
		m[k] = v
	}
	m["clientId"] = r.ClientID
	if r.TokenType != "" {
		m["tokenType"] = r.TokenType
	} else if _, ok := m["tokenType"]; !ok {
		m["tokenType"] = TokenTypeIdentification
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("externalRef", r.ExternalRef)
	set("firstName", r.FirstName)
	set("lastName", r.LastName)
	set("dateOfBirth", r.DateOfBirth)
	set("country", r.Country)
	set("dummyStatus", r.DummyStatus)
	set("callbackUrl", r.CallbackURL)
	if len(r.Documents) > 0 {
		m["documents"] = r.Documents
	}
	if r.ExpiryTime != 0 {
		m["expiryTime"] = r.ExpiryTime
	}
	return m
}

// TokenResponse is the answer of POST /api/v2/token (HTTP 200 or 201). The
// API echoes every request field; the ones a batch needs are decoded, the
// rest is in Raw.
type TokenResponse struct {
	AuthToken     string `json:"authToken"`
	ScanRef       string `json:"scanRef"`
	ClientID      string `json:"clientId"`
	ExternalRef   string `json:"externalRef"`
	Message       string `json:"message"`
	TokenType     string `json:"tokenType"`
	ExpiryTime    int    `json:"expiryTime"`    // seconds
	SessionLength int    `json:"sessionLength"` // seconds
	DigitString   string `json:"digitString"`
	RedirectURL   string `json:"redirectUrl"`
	DummyStatus   string `json:"dummyStatus"`

	HTTPStatus int             `json:"-"` // 200 or 201
	Raw        json.RawMessage `json:"-"` // the body as received
}

func (r *TokenResponse) fields() fields {
	return fields{
		"authToken": text(&r.AuthToken), "scanRef": text(&r.ScanRef), "clientId": text(&r.ClientID),
		"externalRef": text(&r.ExternalRef), "message": text(&r.Message), "tokenType": text(&r.TokenType),
		"expiryTime": number(&r.ExpiryTime), "sessionLength": number(&r.SessionLength),
		"digitString": text(&r.DigitString), "redirectUrl": text(&r.RedirectURL), "dummyStatus": text(&r.DummyStatus),
	}
}

// ProcessRequest is the body of POST /api/v2/process (Direct Processing).
type ProcessRequest struct {
	AuthToken    string // from TokenResponse; sent under Config.ProcessTokenField
	Country      string // ISO 3166-1 alpha-2
	DocumentType string // ID_CARD, PASSPORT, DRIVER_LICENSE, RESIDENCE_PERMIT; omitted when empty
	// Images maps a side (FRONT, BACK, FACE, UTILITY_BILL) to the raw image
	// bytes (JPEG or PNG). The client base64-encodes them (standard encoding,
	// no data: prefix).
	Images       map[string][]byte
	SkipAnalysis bool // sent only when true
}

// StatusResponse is the answer of POST /api/v2/status (§4.1). Manual fields
// are empty until a human reviewed.
type StatusResponse struct {
	Status         string   `json:"status"` // overall, §6.1
	ScanRef        string   `json:"scanRef"`
	ClientID       string   `json:"clientId"`
	AutoDocument   string   `json:"autoDocument"`
	AutoFace       string   `json:"autoFace"`
	ManualDocument string   `json:"manualDocument"`
	ManualFace     string   `json:"manualFace"`
	FraudTags      []string `json:"fraudTags"`
	MismatchTags   []string `json:"mismatchTags"`

	Raw json.RawMessage `json:"-"` // the body as received
}

func (r *StatusResponse) fields() fields {
	return fields{
		"status": text(&r.Status), "scanRef": text(&r.ScanRef), "clientId": text(&r.ClientID),
		"autoDocument": text(&r.AutoDocument), "autoFace": text(&r.AutoFace),
		"manualDocument": text(&r.ManualDocument), "manualFace": text(&r.ManualFace),
		"fraudTags": texts(&r.FraudTags), "mismatchTags": texts(&r.MismatchTags),
	}
}

// DataResponse is the parsed document data: the answer of POST
// /api/v2/data (§4.2) and the "data" object of a webhook (§5.3), where
// ScanRef and ClientID are absent. Every field is nullable; null decodes to
// the zero value. Dates are YYYY-MM-DD as sent.
type DataResponse struct {
	DocFirstName           string   `json:"docFirstName"`
	DocLastName            string   `json:"docLastName"`
	DocNumber              string   `json:"docNumber"`
	DocPersonalCode        string   `json:"docPersonalCode"`
	DocExpiry              string   `json:"docExpiry"`
	DocDOB                 string   `json:"docDob"`
	DocDateOfIssue         string   `json:"docDateOfIssue"`
	DocType                string   `json:"docType"`
	DocSex                 string   `json:"docSex"` // MALE, FEMALE, UNDEFINED
	DocNationality         string   `json:"docNationality"`
	DocIssuingCountry      string   `json:"docIssuingCountry"`
	SelectedCountry        string   `json:"selectedCountry"`
	FullName               string   `json:"fullName"`
	BirthPlace             string   `json:"birthPlace"`
	Authority              string   `json:"authority"`
	Address                string   `json:"address"`
	MothersMaidenName      string   `json:"mothersMaidenName"`
	DocTemporaryAddress    string   `json:"docTemporaryAddress"`
	DocBirthName           string   `json:"docBirthName"`
	DocPatronymic          string   `json:"docPatronymic"`
	DriverLicenseCategory  string   `json:"driverLicenseCategory"`
	ManuallyDataChanged    bool     `json:"manuallyDataChanged"`
	OrgFirstName           string   `json:"orgFirstName"`
	OrgLastName            string   `json:"orgLastName"`
	OrgNationality         string   `json:"orgNationality"`
	OrgBirthPlace          string   `json:"orgBirthPlace"`
	OrgAuthority           string   `json:"orgAuthority"`
	OrgAddress             string   `json:"orgAddress"`
	OrgTemporaryAddress    string   `json:"orgTemporaryAddress"`
	OrgMothersMaidenName   string   `json:"orgMothersMaidenName"`
	OrgPatronymic          string   `json:"orgPatronymic"`
	OrgBirthName           string   `json:"orgBirthName"`
	AgeEstimate            string   `json:"ageEstimate"`
	ClientIPProxyRiskLevel string   `json:"clientIpProxyRiskLevel"`
	DuplicateFaces         []string `json:"duplicateFaces"`    // other scanRefs
	DuplicateDocFaces      []string `json:"duplicateDocFaces"` // other scanRefs
	ManualAddress          string   `json:"manualAddress"`
	ManualAddressMatch     bool     `json:"manualAddressMatch"`

	AdditionalData      json.RawMessage `json:"additionalData"`
	RegistryCenterCheck json.RawMessage `json:"registryCenterCheck,omitempty"`
	AddressVerification json.RawMessage `json:"addressVerification,omitempty"`

	ScanRef  string `json:"scanRef,omitempty"`  // /data only
	ClientID string `json:"clientId,omitempty"` // /data only

	Raw json.RawMessage `json:"-"` // the object as received
}

func (d *DataResponse) fields() fields {
	return fields{
		"docFirstName": text(&d.DocFirstName), "docLastName": text(&d.DocLastName),
		"docNumber": text(&d.DocNumber), "docPersonalCode": text(&d.DocPersonalCode),
		"docExpiry": text(&d.DocExpiry), "docDob": text(&d.DocDOB), "docDateOfIssue": text(&d.DocDateOfIssue),
		"docType": text(&d.DocType), "docSex": text(&d.DocSex),
		"docNationality": text(&d.DocNationality), "docIssuingCountry": text(&d.DocIssuingCountry),
		"selectedCountry": text(&d.SelectedCountry), "fullName": text(&d.FullName),
		"birthPlace": text(&d.BirthPlace), "authority": text(&d.Authority), "address": text(&d.Address),
		"mothersMaidenName": text(&d.MothersMaidenName), "docTemporaryAddress": text(&d.DocTemporaryAddress),
		"docBirthName": text(&d.DocBirthName), "docPatronymic": text(&d.DocPatronymic),
		"driverLicenseCategory": text(&d.DriverLicenseCategory), "manuallyDataChanged": boolean(&d.ManuallyDataChanged),
		"orgFirstName": text(&d.OrgFirstName), "orgLastName": text(&d.OrgLastName),
		"orgNationality": text(&d.OrgNationality), "orgBirthPlace": text(&d.OrgBirthPlace),
		"orgAuthority": text(&d.OrgAuthority), "orgAddress": text(&d.OrgAddress),
		"orgTemporaryAddress": text(&d.OrgTemporaryAddress), "orgMothersMaidenName": text(&d.OrgMothersMaidenName),
		"orgPatronymic": text(&d.OrgPatronymic), "orgBirthName": text(&d.OrgBirthName),
		"ageEstimate": text(&d.AgeEstimate), "clientIpProxyRiskLevel": text(&d.ClientIPProxyRiskLevel),
		"duplicateFaces": texts(&d.DuplicateFaces), "duplicateDocFaces": texts(&d.DuplicateDocFaces),
		"manualAddress": text(&d.ManualAddress), "manualAddressMatch": boolean(&d.ManualAddressMatch),
		"additionalData": rawJSON(&d.AdditionalData), "registryCenterCheck": rawJSON(&d.RegistryCenterCheck),
		"addressVerification": rawJSON(&d.AddressVerification),
		"scanRef":             text(&d.ScanRef), "clientId": text(&d.ClientID),
	}
}

// Webhook is the result callback payload (§5.3). Decode it with
// ParseWebhook after checking the signature over the raw body.
type Webhook struct {
	Final       bool          `json:"final"` // no further callback follows
	Platform    string        `json:"platform"`
	Status      WebhookStatus `json:"status"`
	Data        DataResponse  `json:"data"`
	ScanRef     string        `json:"scanRef"`
	ExternalRef string        `json:"externalRef"`
	ClientID    string        `json:"clientId"`
	StartTime   int64         `json:"startTime"`  // Unix seconds
	FinishTime  int64         `json:"finishTime"` // Unix seconds

	ClientIP           string `json:"clientIp"`
	ClientIPCountry    string `json:"clientIpCountry"`
	ClientLocation     string `json:"clientLocation"`
	CompanyID          string `json:"companyId,omitempty"`
	BeneficiaryID      string `json:"beneficiaryId,omitempty"`
	GDCMatch           bool   `json:"gdcMatch,omitempty"`
	ManualAddress      string `json:"manualAddress,omitempty"`
	ManualAddressMatch bool   `json:"manualAddressMatch,omitempty"`

	// FileURLs are pre-signed, time-limited download URLs by side (FRONT,
	// BACK, FACE, *_VIDEO). They are credentials: never log or store them
	// (see StripFileURLs).
	FileURLs              map[string]string `json:"fileUrls"`
	AdditionalStepPdfURLs map[string]string `json:"additionalStepPdfUrls"`

	AML []AMLCheck `json:"AML"` // also decoded from "aml"
	LID []AMLCheck `json:"LID"` // lost/invalid documents checks, same shape

	Raw json.RawMessage `json:"-"` // the body as received
}

func (w *Webhook) fields() fields {
	return fields{
		"final": boolean(&w.Final), "platform": text(&w.Platform),
		"status": object(&w.Status), "data": object(&w.Data),
		"scanRef": text(&w.ScanRef), "externalRef": text(&w.ExternalRef), "clientId": text(&w.ClientID),
		"startTime": number(&w.StartTime), "finishTime": number(&w.FinishTime),
		"clientIp": text(&w.ClientIP), "clientIpCountry": text(&w.ClientIPCountry), "clientLocation": text(&w.ClientLocation),
		"companyId": text(&w.CompanyID), "beneficiaryId": text(&w.BeneficiaryID), "gdcMatch": boolean(&w.GDCMatch),
		"manualAddress": text(&w.ManualAddress), "manualAddressMatch": boolean(&w.ManualAddressMatch),
		"fileUrls": textMap(&w.FileURLs), "additionalStepPdfUrls": textMap(&w.AdditionalStepPdfURLs),
		"AML": objects(&w.AML), "LID": objects(&w.LID),
	}
}

// WebhookStatus is the "status" object of a webhook (§5.3, §5.4).
type WebhookStatus struct {
	Overall          string   `json:"overall"`
	SuspicionReasons []string `json:"suspicionReasons"` // legacy
	MismatchTags     []string `json:"mismatchTags"`
	FraudTags        []string `json:"fraudTags"`
	AutoDocument     string   `json:"autoDocument"`
	AutoFace         string   `json:"autoFace"`
	ManualDocument   string   `json:"manualDocument"`
	ManualFace       string   `json:"manualFace"`
	AdditionalSteps  string   `json:"additionalSteps"` // VALID, INVALID, NOT_FOUND or ""
}

func (s *WebhookStatus) fields() fields {
	return fields{
		"overall": text(&s.Overall), "suspicionReasons": texts(&s.SuspicionReasons),
		"mismatchTags": texts(&s.MismatchTags), "fraudTags": texts(&s.FraudTags),
		"autoDocument": text(&s.AutoDocument), "autoFace": text(&s.AutoFace),
		"manualDocument": text(&s.ManualDocument), "manualFace": text(&s.ManualFace),
		"additionalSteps": text(&s.AdditionalSteps),
	}
}

// AMLCheck is one element of the AML or LID array of a webhook.
type AMLCheck struct {
	Status           AMLCheckStatus  `json:"status"`
	Data             []AMLHit        `json:"data"`
	ServiceName      string          `json:"serviceName"`
	ServiceGroupType string          `json:"serviceGroupType"` // AML, LID, …
	UID              string          `json:"uid"`
	ErrorMessage     string          `json:"errorMessage"`
	Raw              json.RawMessage `json:"-"`
}

func (c *AMLCheck) fields() fields {
	return fields{
		"status": object(&c.Status), "data": objects(&c.Data), "serviceName": text(&c.ServiceName),
		"serviceGroupType": text(&c.ServiceGroupType), "uid": text(&c.UID), "errorMessage": text(&c.ErrorMessage),
	}
}

// AMLCheckStatus is the "status" object of an AMLCheck.
type AMLCheckStatus struct {
	ServiceSuspected bool   `json:"serviceSuspected"`
	CheckSuccessful  bool   `json:"checkSuccessful"`
	ServiceFound     bool   `json:"serviceFound"`
	ServiceUsed      bool   `json:"serviceUsed"`
	OverallStatus    string `json:"overallStatus"` // NOT_SUSPECTED, SUSPECTED, …
}

func (s *AMLCheckStatus) fields() fields {
	return fields{
		"serviceSuspected": boolean(&s.ServiceSuspected), "checkSuccessful": boolean(&s.CheckSuccessful),
		"serviceFound": boolean(&s.ServiceFound), "serviceUsed": boolean(&s.ServiceUsed),
		"overallStatus": text(&s.OverallStatus),
	}
}

// AMLHit is one item of AMLCheck.Data: a watch-list match (Name … CheckDate),
// an adverse-media item (Title, URL, Text, Type) or a LID document check
// (DocumentNumber … ExpiryDate); fields of the other kinds stay empty.
type AMLHit struct {
	Name        string  `json:"name"`
	Surname     string  `json:"surname"`
	Nationality string  `json:"nationality"`
	Dob         string  `json:"dob"`
	Suspicion   string  `json:"suspicion"` // PEPS, SANCTION, INTERPOL, OTHER
	Reason      string  `json:"reason"`
	Score       float64 `json:"score"`
	LastUpdate  string  `json:"lastUpdate"`
	IsPerson    bool    `json:"isPerson"`
	IsActive    bool    `json:"isActive"`
	CheckDate   string  `json:"checkDate"`

	Title string `json:"title"`
	URL   string `json:"url"`
	Text  string `json:"text"`
	Type  string `json:"type"`

	DocumentNumber string `json:"documentNumber"`
	DocumentType   string `json:"documentType"`
	Valid          bool   `json:"valid"`
	ExpiryDate     string `json:"expiryDate"`

	Raw json.RawMessage `json:"-"`
}

func (h *AMLHit) fields() fields {
	return fields{
		"name": text(&h.Name), "surname": text(&h.Surname), "nationality": text(&h.Nationality), "dob": text(&h.Dob),
		"suspicion": text(&h.Suspicion), "reason": text(&h.Reason), "score": number(&h.Score),
		"lastUpdate": text(&h.LastUpdate), "isPerson": boolean(&h.IsPerson), "isActive": boolean(&h.IsActive),
		"checkDate": text(&h.CheckDate), "title": text(&h.Title), "url": text(&h.URL), "text": text(&h.Text),
		"type": text(&h.Type), "documentNumber": text(&h.DocumentNumber), "documentType": text(&h.DocumentType),
		"valid": boolean(&h.Valid), "expiryDate": text(&h.ExpiryDate),
	}
}

// DummyStatusRequest is the body of POST /api/v2/add-dummy-status (§7.2).
type DummyStatusRequest struct {
	ScanRef                string `json:"scanRef"`
	ManualFaceMatchResult  string `json:"manualFaceMatchResult"`
	ManualDocumentValidity string `json:"manualDocumentValidity"`
}

// ScanRefRequest is the body of /status, /data, /files and /delete.
type ScanRefRequest struct {
	ScanRef string `json:"scanRef"`
}

// keepRaw stores the bytes a wire type was decoded from in its Raw field.
func (r *TokenResponse) keepRaw(b []byte)  { r.Raw = cloneRaw(b) }
func (r *StatusResponse) keepRaw(b []byte) { r.Raw = cloneRaw(b) }
func (d *DataResponse) keepRaw(b []byte)   { d.Raw = cloneRaw(b) }
func (w *Webhook) keepRaw(b []byte)        { w.Raw = cloneRaw(b) }
func (c *AMLCheck) keepRaw(b []byte)       { c.Raw = cloneRaw(b) }
func (h *AMLHit) keepRaw(b []byte)         { h.Raw = cloneRaw(b) }

func cloneRaw(b []byte) json.RawMessage { return append(json.RawMessage(nil), b...) }
