package idenfytest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of uploads
	_ "image/png"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idbatch/idbatch/submit/idenfy"
)

// fields reads typed values out of a JSON object, collecting the first
// validation error as iDenfy would report it.
type fields struct {
	obj   map[string]json.RawMessage
	code  int
	ident string
	msg   string
}

func (f *fields) failed() bool { return f.ident != "" }

func (f *fields) fail(ident, format string, args ...any) {
	if f.ident == "" {
		f.code, f.ident, f.msg = http.StatusBadRequest, ident, fmt.Sprintf(format, args...)
	}
}

func (f *fields) present(key string) bool {
	raw, ok := f.obj[key]
	return ok && string(raw) != "null"
}

// str returns the string at key ("" when absent or null); a value of another
// type is a BAD_VALUE.
func (f *fields) str(key string) string {
	if !f.present(key) {
		return ""
	}
	var s string
	if err := json.Unmarshal(f.obj[key], &s); err != nil {
		f.fail(idenfy.IdentifierBadValue, "Field '%s' must be a string.", key)
		return ""
	}
	return s
}

func (f *fields) required(key string) string {
	s := f.str(key)
	if s == "" && !f.failed() {
		f.fail(idenfy.IdentifierMissingValue, "Missing required field '%s'.", key)
	}
	return s
}

func (f *fields) boolean(key string) bool {
	if !f.present(key) {
		return false
	}
	var b bool
	if err := json.Unmarshal(f.obj[key], &b); err != nil {
		f.fail(idenfy.IdentifierBadValue, "Field '%s' must be a boolean.", key)
	}
	return b
}

func (f *fields) write(w http.ResponseWriter) { writeError(w, f.code, f.ident, f.msg) }

var (
	tokenTypes    = []string{idenfy.TokenTypeIdentification, idenfy.TokenTypeDocument}
	dummyStatuses = []string{idenfy.StatusApproved, idenfy.StatusDenied, idenfy.StatusSuspected, idenfy.StatusExpired, idenfy.StatusActive}
	processDocs   = []string{idenfy.DocIDCard, idenfy.DocPassport, idenfy.DocDriverLicense, idenfy.DocResidencePermit}
	tokenDocs     = append(slices.Clone(processDocs), "AADHAAR", "PAN_CARD", "VISA", "BORDER_CROSSING", "ASYLUM",
		"NATIONAL_PASSPORT", "INTERNATIONAL_PASSPORT", "VOTER_CARD", "OLD_ID_CARD", "TRAVEL_CARD", "PHOTO_CARD",
		"MILITARY_CARD", "PROOF_OF_AGE_CARD", "DIPLOMATIC_ID", "OTHER")
	imageSides = []string{idenfy.SideFront, idenfy.SideBack, idenfy.SideFace, idenfy.SideUtilityBill, "SECOND_UTILITY_BILL", "PASSPORT_COVER"}
	twoSided   = []string{idenfy.DocIDCard, idenfy.DocDriverLicense, idenfy.DocResidencePermit}
)

const nameForbidden = "~!@#$%^*()_+={}[]|:;\",<>/?"

func validName(s string) bool {
	n := utf8.RuneCountInString(s)
	if n < 1 || n > 100 {
		return false
	}
	for _, r := range s {
		if unicode.IsDigit(r) || strings.ContainsRune(nameForbidden, r) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// handleToken serves POST /api/v2/token: 201 with the echo of the request,
// defaults filled in, plus message, authToken and scanRef.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	f := &fields{obj: body}
	clientKey := "clientId"
	if !f.present("clientId") && f.present("personScanRef") {
		clientKey = "personScanRef"
	}
	clientID := f.required(clientKey)
	if !f.failed() && (len(clientID) > 100 || !isASCII(clientID)) {
		f.fail(idenfy.IdentifierBadValue, "Field 'clientId' must be at most 100 ASCII characters.")
	}
	tokenType := f.str("tokenType")
	if tokenType == "" {
		tokenType = idenfy.TokenTypeIdentification
	} else if !slices.Contains(tokenTypes, tokenType) && !f.failed() {
		f.fail(idenfy.IdentifierBadValue, "Field 'tokenType' must be one of %s.", strings.Join(tokenTypes, ", "))
	}
	firstName, lastName := f.str("firstName"), f.str("lastName")
	for _, n := range []struct{ key, val string }{{"firstName", firstName}, {"lastName", lastName}} {
		if f.present(n.key) && !validName(n.val) {
			f.fail(idenfy.IdentifierBadValue, "Field '%s' must be 1-100 characters without digits or special characters.", n.key)
		}
	}
	dob := f.str("dateOfBirth")
	if dob != "" {
		if _, err := time.Parse(time.DateOnly, dob); err != nil {
			f.fail(idenfy.IdentifierBadValue, "Field 'dateOfBirth' must be a date in the format YYYY-MM-DD.")
		}
	}
	var country string
	if f.present("country") {
		var list []string
		if json.Unmarshal(body["country"], &list) == nil { // newest docs: an array of countries
			for _, c := range list {
				if !validCountry(c) {
					f.fail(idenfy.IdentifierBadValue, "Field 'country' must contain valid ISO 3166-1 alpha-2 codes.")
				}
			}
			if len(list) == 1 {
				country = strings.ToUpper(list[0])
			}
		} else if country = strings.ToUpper(f.str("country")); !validCountry(country) {
			f.fail(idenfy.IdentifierBadValue, "Field 'country' must be a valid ISO 3166-1 alpha-2 code.")
		}
	}
	expiry := DefaultExpiryTime
	if f.present("expiryTime") {
		var x float64
		if err := json.Unmarshal(body["expiryTime"], &x); err != nil || x != math.Trunc(x) || x <= 0 || x > 2_592_000 {
			f.fail(idenfy.IdentifierBadValue, "Field 'expiryTime' must be an integer between 1 and 2592000.")
		} else {
			expiry = int(x)
		}
	}
	externalRef := f.str("externalRef")
	if len(externalRef) > 40 {
		f.fail(idenfy.IdentifierBadValue, "Field 'externalRef' must be at most 40 characters.")
	}
	var documents []string
	if f.present("documents") {
		if err := json.Unmarshal(body["documents"], &documents); err != nil {
			f.fail(idenfy.IdentifierBadValue, "Field 'documents' must be a list of document types.")
		}
		for _, d := range documents {
			if !slices.Contains(tokenDocs, d) {
				f.fail(idenfy.IdentifierBadValue, "Unknown document type '%s'.", d)
			}
		}
	}
	dummy := f.str("dummyStatus")
	if dummy != "" && !slices.Contains(dummyStatuses, dummy) {
		f.fail(idenfy.IdentifierBadValue, "Field 'dummyStatus' must be one of %s.", strings.Join(dummyStatuses, ", "))
	}
	callback := f.str("callbackUrl")
	if callback != "" {
		u, err := url.Parse(callback)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			f.fail(idenfy.IdentifierBadValue, "Field 'callbackUrl' must be a valid URL.")
		}
	}
	utilityBill := f.boolean("utilityBill")
	if f.failed() {
		f.write(w)
		return
	}

	now := s.opts.Now()
	v := &verification{
		scanRef:      newScanRef(),
		authToken:    newAuthToken(),
		clientID:     clientID,
		externalRef:  externalRef,
		tokenType:    tokenType,
		firstName:    strings.ToUpper(firstName),
		lastName:     strings.ToUpper(lastName),
		dob:          dob,
		tokenCountry: country,
		documents:    documents,
		utilityBill:  utilityBill,
		callbackURL:  callback,
		createdAt:    now,
		expiresAt:    now.Add(time.Duration(expiry) * time.Second),
	}
	message := "Token created successfully"

	s.mu.Lock()
	if s.opts.TokenLimit > 0 && s.tokens >= s.opts.TokenLimit {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, idenfy.IdentifierPermissionsError, idenfy.MessageTokenLimit)
		return
	}
	if s.opts.ConflictOnActiveClient {
		var refs []string
		if cc := s.perClient[clientID]; cc != nil {
			refs = cc.ScanRefs
		}
		for _, ref := range refs {
			if o := s.byScan[ref]; !o.dummy && s.phaseLocked(o, now) == phaseActive {
				s.mu.Unlock()
				writeJSON(w, http.StatusConflict, idenfy.ErrorBody{
					Message:       "An active verification session already exists for this clientId.",
					Documentation: idenfy.DocumentationURL, Severity: "NOT_SEVERE",
				})
				return
			}
		}
	}
	s.tokens++
	cc := s.perClient[clientID]
	if cc == nil {
		cc = &ClientCharges{}
		s.perClient[clientID] = cc
	}
	cc.Tokens++
	cc.ScanRefs = append(cc.ScanRefs, v.scanRef)
	s.byScan[v.scanRef] = v
	s.all = append(s.all, v)
	switch dummy {
	case "", idenfy.StatusActive:
		s.byToken[v.authToken] = v
		if !s.closed {
			v.expiryTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { s.expire(v) })
		}
		if dummy != "" {
			message = "Dummy token and verification created successfully"
		}
	default:
		message = "Dummy token and verification created successfully"
		v.dummy = true
		v.decision = dummyDecision(dummy)
		v.autoOverall = dummy
		if dummy == idenfy.StatusExpired {
			v.expiredDummy = true
			s.scheduleLocked(v, step{due: time.Now(), phase: phaseExpired, final: true})
		} else {
			v.autoAt = now
			s.scheduleLocked(v, step{due: time.Now(), phase: phaseAuto, final: !s.opts.ManualReview})
		}
	}
	s.mu.Unlock()
	s.log.Debug("idenfytest: token created", "scan_ref", v.scanRef, "dummy", dummy)

	echo := make(map[string]any, len(body)+20)
	for k, raw := range body {
		var x any
		if json.Unmarshal(raw, &x) == nil {
			echo[k] = x
		}
	}
	if len(documents) == 0 {
		documents = slices.Clone(processDocs)
	}
	// Defaults fill what the request did not say; the rest is decided here.
	for k, val := range map[string]any{
		"sessionLength":    600,
		"locale":           "en",
		"showInstructions": true,
		"digitString":      nil,
	} {
		if _, ok := echo[k]; !ok {
			echo[k] = val
		}
	}
	for k, val := range map[string]any{
		"message":          message,
		"authToken":        v.authToken,
		"scanRef":          v.scanRef,
		"clientId":         clientID,
		"personScanRef":    clientID,
		"tokenType":        tokenType,
		"expiryTime":       expiry,
		"documents":        documents,
		"allowedDocuments": map[string][]string{"ALL": documents},
		"redirectUrl":      "http://" + r.Host + "/api/v2/redirect?authToken=" + v.authToken,
	} {
		echo[k] = val
	}
	if firstName != "" {
		echo["firstName"] = v.firstName
	}
	if lastName != "" {
		echo["lastName"] = v.lastName
	}
	if country != "" {
		echo["country"] = country
	}
	writeJSON(w, http.StatusCreated, echo)
}

// handleProcess serves POST /api/v2/process. Validation failures leave the
// token usable; the first accepted call consumes it and is charged.
func (s *Server) handleProcess(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	f := &fields{obj: body}
	tokenKey := "authToken"
	if !f.present(tokenKey) && f.present("token") {
		tokenKey = "token"
	}
	token := f.required(tokenKey)
	if f.failed() {
		f.write(w)
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	v := s.byToken[token]
	valid := v != nil && !v.deleted && v.processedAt.IsZero() && now.Before(v.expiresAt)
	var tokenType string
	var utilityBill bool
	if valid {
		tokenType, utilityBill = v.tokenType, v.utilityBill
	}
	s.mu.Unlock()
	if !valid {
		writeError(w, http.StatusBadRequest, idenfy.IdentifierTokenNotValid, "Provided token is not valid.")
		return
	}

	country := strings.ToUpper(f.required("country"))
	if !f.failed() && !validCountry(country) {
		f.fail(idenfy.IdentifierBadValue, "Field 'country' must be a valid ISO 3166-1 alpha-2 code.")
	}
	docType := f.required("documentType")
	if !f.failed() && !slices.Contains(processDocs, docType) {
		f.fail(idenfy.IdentifierBadValue, "Field 'documentType' must be one of %s.", strings.Join(processDocs, ", "))
	}
	skipAnalysis := f.boolean("skipAnalysis")
	var images map[string]json.RawMessage
	if !f.failed() {
		if !f.present("images") {
			f.fail(idenfy.IdentifierMissingValue, "Missing required field 'images'.")
		} else if err := json.Unmarshal(body["images"], &images); err != nil || images == nil {
			f.fail(idenfy.IdentifierBadValue, "Field 'images' must be an object of base64 images by step.")
		}
	}
	if f.failed() {
		f.write(w)
		return
	}
	for side := range images {
		if !slices.Contains(imageSides, side) {
			f.fail(idenfy.IdentifierBadValue, "Unknown image step '%s'.", side)
		}
	}
	need := []string{idenfy.SideFront}
	if slices.Contains(twoSided, docType) {
		need = append(need, idenfy.SideBack)
	}
	if tokenType == idenfy.TokenTypeIdentification {
		need = append(need, idenfy.SideFace)
	}
	if utilityBill {
		need = append(need, idenfy.SideUtilityBill)
	}
	for _, side := range need {
		if raw, ok := images[side]; !ok || string(raw) == "null" || string(raw) == `""` {
			f.fail(idenfy.IdentifierMissingValue, "No image provided for step '%s'", side)
		}
	}
	var sides []string
	for _, side := range imageSides {
		raw, ok := images[side]
		if !ok || string(raw) == "null" || f.failed() {
			continue
		}
		if msg := s.checkImage(side, raw); msg != "" {
			f.fail(idenfy.IdentifierBadValue, "%s", msg)
		}
		sides = append(sides, side)
	}
	if f.failed() {
		f.write(w)
		return
	}

	s.mu.Lock()
	// Re-check under the lock: two concurrent uploads with one token must not
	// both be accepted.
	if !v.processedAt.IsZero() || v.deleted || !now.Before(v.expiresAt) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, idenfy.IdentifierTokenNotValid, "Provided token is not valid.")
		return
	}
	if v.expiryTimer != nil {
		v.expiryTimer.Stop()
	}
	delete(s.byToken, token)
	if !skipAnalysis && s.rollLocked(s.opts.PhotoRejectRate) {
		// Photo validation failed at upload: the token is spent, nothing is
		// processed or charged, no result will come.
		v.photoRejected = true
		s.stats.PhotosRejected++
		s.mu.Unlock()
		s.log.Debug("idenfytest: fault: photo rejected", "scan_ref", v.scanRef)
		writeError(w, http.StatusOK, idenfy.IdentifierValidationError, MessagePhotoRejected)
		return
	}
	v.processedAt = now
	v.country, v.documentType, v.sides = country, docType, sides
	v.decision = Decide(v.clientID, country, docType)
	v.autoOverall = v.decision.Overall
	v.autoAt = now.Add(s.opts.AutoDelay)
	if s.opts.ManualReview {
		v.manualAt = now.Add(s.opts.ManualDelay)
	}
	s.processes++
	s.perClient[v.clientID].Processes++
	wall := time.Now()
	switch {
	case s.opts.ManualReview && s.targetLocked(v) != "" && s.rollLocked(s.opts.WebhookReorderRate):
		s.stats.WebhooksReordered++
		s.scheduleLocked(v,
			step{due: wall.Add(s.opts.ManualDelay), phase: phaseManual, final: true},
			step{due: wall.Add(s.opts.ManualDelay), phase: phaseAuto, final: false})
	case s.opts.ManualReview:
		s.scheduleLocked(v,
			step{due: wall.Add(s.opts.AutoDelay), phase: phaseAuto, final: false},
			step{due: wall.Add(s.opts.ManualDelay), phase: phaseManual, final: true})
	default:
		s.scheduleLocked(v, step{due: wall.Add(s.opts.AutoDelay), phase: phaseAuto, final: true})
	}
	s.mu.Unlock()
	s.log.Debug("idenfytest: process accepted", "scan_ref", v.scanRef, "sides", len(sides))
	w.WriteHeader(http.StatusOK)
}

// checkImage validates one base64 image; it returns "" when it is fine.
func (s *Server) checkImage(side string, raw json.RawMessage) string {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return fmt.Sprintf("Image '%s' must be a base64 string.", side)
	}
	if len(text) > base64.StdEncoding.EncodedLen(s.opts.MaxImageBytes) {
		return fmt.Sprintf("Image '%s' is too large (max %d bytes).", side, s.opts.MaxImageBytes)
	}
	data, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return fmt.Sprintf("Image '%s' is not valid base64.", side)
	}
	if len(data) > s.opts.MaxImageBytes {
		return fmt.Sprintf("Image '%s' is too large (max %d bytes).", side, s.opts.MaxImageBytes)
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return fmt.Sprintf("Image '%s' must be a JPEG or PNG image.", side)
	}
	return ""
}

// lookup reads the scanRef of a request; on failure it has answered.
func (s *Server) lookup(w http.ResponseWriter, body map[string]json.RawMessage) (*verification, bool) {
	f := &fields{obj: body}
	scanRef := f.required("scanRef")
	if f.failed() {
		f.write(w)
		return nil, false
	}
	s.mu.Lock()
	v := s.byScan[scanRef]
	s.mu.Unlock()
	if v == nil {
		writeError(w, http.StatusNotFound, idenfy.IdentifierNotFound, "Verification with this scanRef was not found.")
		return nil, false
	}
	return v, true
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	v, ok := s.lookup(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.statusLocked(v, s.phaseLocked(v, s.opts.Now()))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleData(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	v, ok := s.lookup(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	d := s.dataLocked(v, s.phaseLocked(v, s.opts.Now()))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleFiles(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	v, ok := s.lookup(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	files := s.filesLocked(v, s.phaseLocked(v, s.opts.Now()))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, files)
}

// handleDelete serves POST /api/v2/delete: refused while the token is
// active or the result not final; 200 with no body otherwise (also for an
// already deleted verification).
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	v, ok := s.lookup(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	ph := s.phaseLocked(v, s.opts.Now())
	switch {
	case ph == phaseActive:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, idenfy.IdentifierPartnerError, "Token has not expired yet.")
		return
	case !s.finalLocked(v, ph) && !v.dummy:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, idenfy.IdentifierPartnerError, "Verification is not finished yet.")
		return
	}
	v.deleted = true
	if v.expiryTimer != nil {
		v.expiryTimer.Stop()
	}
	delete(s.byToken, v.authToken)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// handleAddDummyStatus serves POST /api/v2/add-dummy-status: the manual
// result of a dummy verification, followed by a final callback.
func (s *Server) handleAddDummyStatus(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	v, ok := s.lookup(w, body)
	if !ok {
		return
	}
	f := &fields{obj: body}
	face := f.required("manualFaceMatchResult")
	doc := f.required("manualDocumentValidity")
	if f.failed() {
		f.write(w)
		return
	}
	s.mu.Lock()
	if !v.dummy || v.expiredDummy || v.deleted {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, idenfy.IdentifierBadValue, "Verification is not a dummy verification with a result.")
		return
	}
	v.decision = withManual(v.decision, face, doc)
	v.manualAt = s.opts.Now()
	s.scheduleLocked(v, step{due: time.Now(), phase: phaseManual, final: true})
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// newScanRef returns a random UUID (version 4), as iDenfy's scanRefs look.
func newScanRef() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newAuthToken returns 40 random alphanumeric characters.
func newAuthToken() string {
	var b [40]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b[:])
}
