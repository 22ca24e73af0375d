package idenfytest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/idbatch/idbatch/submit/idenfy"
)

// verification is one token and everything that happened to it. Guarded by
// Server.mu.
type verification struct {
	scanRef, authToken       string
	clientID, externalRef    string
	tokenType                string
	firstName, lastName, dob string // as given to /token (names upper-cased)
	tokenCountry             string
	documents                []string
	utilityBill              bool
	callbackURL              string
	createdAt, expiresAt     time.Time
	expiryTimer              *time.Timer
	dummy                    bool
	processedAt              time.Time // zero = not processed
	country, documentType    string
	sides                    []string
	decision                 Decision
	autoOverall              string
	autoAt, manualAt         time.Time // when the results exist; zero = no such result (yet)
	expiredDummy             bool      // dummyStatus EXPIRED
	deleted                  bool
	photoRejected            bool // /process answered 200 with a message: token spent, no result
	delivered, failed        int
	lastWebhookError         string
	queue                    []step // callbacks waiting to be delivered, in order
	delivering               bool   // a goroutine is working through queue
}

// phase is where a verification is at an instant.
type phase int

const (
	phaseActive    phase = iota // token unused, valid
	phaseExpired                // token expired unused (or dummy EXPIRED)
	phaseReviewing              // processed, no automatic result yet
	phaseAuto                   // automatic result
	phaseManual                 // manual result
	phaseDeleted
)

// step is one callback to deliver at due (real time).
type step struct {
	due   time.Time
	phase phase
	final bool
}

func (s *Server) phaseLocked(v *verification, now time.Time) phase {
	switch {
	case v.deleted:
		return phaseDeleted
	case v.expiredDummy, v.photoRejected:
		return phaseExpired
	case v.autoAt.IsZero():
		if !now.Before(v.expiresAt) {
			return phaseExpired
		}
		return phaseActive
	case now.Before(v.autoAt):
		return phaseReviewing
	case !v.manualAt.IsZero() && !now.Before(v.manualAt):
		return phaseManual
	}
	return phaseAuto
}

// finalLocked reports whether no further result will come in phase ph.
func (s *Server) finalLocked(v *verification, ph phase) bool {
	switch ph {
	case phaseExpired, phaseDeleted, phaseManual:
		return true
	case phaseAuto:
		return !s.opts.ManualReview
	}
	return false
}

func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return slices.Clone(tags)
}

// statusLocked is the /status answer in phase ph.
func (s *Server) statusLocked(v *verification, ph phase) idenfy.StatusResponse {
	st := idenfy.StatusResponse{ScanRef: v.scanRef, ClientID: v.clientID, FraudTags: []string{}, MismatchTags: []string{}}
	switch ph {
	case phaseActive:
		st.Status = idenfy.StatusActive
	case phaseExpired:
		st.Status = idenfy.StatusExpired
	case phaseReviewing:
		st.Status = idenfy.StatusReviewing
	case phaseDeleted:
		st.Status = idenfy.StatusDeleted
		if v.autoAt.IsZero() || v.expiredDummy {
			st.Status = idenfy.StatusExpiredDeleted
		}
	case phaseAuto, phaseManual:
		st.Status = v.autoOverall
		st.AutoDocument, st.AutoFace = v.decision.AutoDocument, v.decision.AutoFace
		st.FraudTags, st.MismatchTags = nonNil(v.decision.FraudTags), nonNil(v.decision.MismatchTags)
		if ph == phaseManual {
			st.Status = v.decision.Overall
			st.ManualDocument, st.ManualFace = v.decision.ManualDocument, v.decision.ManualFace
		}
	}
	return st
}

// Generated identity data: clearly fake values.
var (
	fakeFirstNames = []string{"JONAS", "ANNA", "MARTA", "PETER", "LINA", "TOMAS", "EVA", "MARK", "SOFIA", "LUKAS"}
	fakeLastNames  = []string{"SANDBOX", "EXAMPLE", "TESTER", "SAMPLE", "DEMO", "MUSTER"}
)

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// dataLocked is the document data of a decided verification (empty before
// the automatic result and after deletion).
func (s *Server) dataLocked(v *verification, ph phase) idenfy.DataResponse {
	d := idenfy.DataResponse{ScanRef: v.scanRef, ClientID: v.clientID}
	if ph != phaseAuto && ph != phaseManual {
		return d
	}
	h := hash64(v.clientID)
	first := v.firstName
	if first == "" || slices.Contains(v.decision.MismatchTags, "NAME") {
		first = fakeFirstNames[h%uint64(len(fakeFirstNames))]
		if first == v.firstName {
			first = fakeFirstNames[(h+1)%uint64(len(fakeFirstNames))]
		}
	}
	last := v.lastName
	if last == "" {
		last = fakeLastNames[(h/7)%uint64(len(fakeLastNames))]
	}
	base := v.processedAt
	if base.IsZero() {
		base = v.createdAt
	}
	dob := v.dob
	if dob == "" {
		dob = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(h%18000)).Format(time.DateOnly)
	}
	expiry := base.AddDate(3, 0, int(h%300))
	if v.decision.AutoDocument == idenfy.DocExpired {
		expiry = base.AddDate(0, 0, -30-int(h%300))
	}
	country := v.country
	if country == "" {
		country = v.tokenCountry
	}
	if country == "" {
		country = "LT"
	}
	docType := v.documentType
	if docType == "" {
		docType = idenfy.DocIDCard
		if len(v.documents) > 0 {
			docType = v.documents[0]
		}
	}
	d.DocFirstName, d.DocLastName, d.FullName = first, last, first+" "+last
	d.DocDOB = dob
	d.DocExpiry = expiry.Format(time.DateOnly)
	d.DocDateOfIssue = expiry.AddDate(-10, 0, 0).Format(time.DateOnly)
	d.DocType = docType
	d.DocSex = []string{"MALE", "FEMALE"}[h%2]
	d.DocNumber = fmt.Sprintf("SB%07d", h%10_000_000)
	d.DocPersonalCode = fmt.Sprintf("%011d", (h/3)%100_000_000_000)
	d.DocNationality, d.DocIssuingCountry, d.SelectedCountry = country, country, country
	d.AdditionalData = json.RawMessage(`{}`)
	return d
}

// filesLocked returns fake pre-signed URLs of the uploaded images.
func (s *Server) filesLocked(v *verification, ph phase) map[string]string {
	files := make(map[string]string, len(v.sides))
	if ph == phaseDeleted {
		return files
	}
	expires := s.opts.Now().Add(time.Hour).Unix()
	for _, side := range v.sides {
		m := hmac.New(sha256.New, []byte(s.opts.SigningKey))
		fmt.Fprintf(m, "%s/%s/%d", v.scanRef, side, expires)
		files[side] = fmt.Sprintf("https://sandbox-files.idenfy.invalid/%s/%s.jpg?AWSAccessKeyId=SANDBOX&Signature=%s&Expires=%d",
			v.scanRef, side, hex.EncodeToString(m.Sum(nil))[:32], expires)
	}
	return files
}

// webhookLocked builds the callback of phase ph.
func (s *Server) webhookLocked(v *verification, ph phase, final bool) idenfy.Webhook {
	st := s.statusLocked(v, ph)
	start := v.processedAt
	if start.IsZero() {
		start = v.createdAt
	}
	finish := v.autoAt
	if finish.IsZero() {
		finish = s.opts.Now()
	}
	return idenfy.Webhook{
		Final:       final,
		Platform:    idenfy.PlatformOther,
		ScanRef:     v.scanRef,
		ExternalRef: v.externalRef,
		ClientID:    v.clientID,
		StartTime:   start.Unix(),
		FinishTime:  finish.Unix(),
		Status: idenfy.WebhookStatus{
			Overall:          st.Status,
			SuspicionReasons: []string{},
			MismatchTags:     st.MismatchTags,
			FraudTags:        st.FraudTags,
			AutoDocument:     st.AutoDocument,
			AutoFace:         st.AutoFace,
			ManualDocument:   st.ManualDocument,
			ManualFace:       st.ManualFace,
		},
		Data:                  s.dataWebhookLocked(v, ph),
		FileURLs:              s.filesLocked(v, ph),
		AdditionalStepPdfURLs: map[string]string{},
		AML:                   []idenfy.AMLCheck{},
		LID:                   []idenfy.AMLCheck{},
	}
}

func (s *Server) dataWebhookLocked(v *verification, ph phase) idenfy.DataResponse {
	d := s.dataLocked(v, ph)
	d.ScanRef, d.ClientID = "", "" // not part of the webhook's data object
	return d
}

// scheduleLocked queues callbacks for v and starts its delivery goroutine if
// none runs. Callbacks of one verification are delivered in order, one at a
// time, so the manual result always arrives after the automatic one.
func (s *Server) scheduleLocked(v *verification, steps ...step) {
	if s.closed || s.targetLocked(v) == "" {
		return
	}
	v.queue = append(v.queue, steps...)
	if v.delivering {
		return
	}
	v.delivering = true
	s.wg.Add(1)
	go s.deliverLoop(v)
}

func (s *Server) targetLocked(v *verification) string {
	if v.callbackURL != "" {
		return v.callbackURL
	}
	return s.opts.WebhookURL
}

func (s *Server) deliverLoop(v *verification) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(v.queue) == 0 || s.closed {
			v.delivering = false
			s.mu.Unlock()
			return
		}
		st := v.queue[0]
		v.queue = v.queue[1:]
		s.mu.Unlock()

		if d := time.Until(st.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-s.ctx.Done():
				t.Stop()
				s.mu.Lock()
				v.delivering = false
				s.mu.Unlock()
				return
			case <-t.C:
			}
		}
		s.mu.Lock()
		if s.rollLocked(s.opts.WebhookDropRate) {
			s.stats.WebhooksDropped++
			s.mu.Unlock()
			s.log.Debug("idenfytest: fault: webhook dropped", "scan_ref", v.scanRef, "final", st.final)
			continue
		}
		payload := s.webhookLocked(v, st.phase, st.final)
		target := s.targetLocked(v)
		s.mu.Unlock()
		if s.deliver(v, target, payload) {
			s.mu.Lock()
			dup := s.rollLocked(s.opts.WebhookDuplicateRate)
			if dup {
				s.stats.WebhooksDuplicated++
			}
			s.mu.Unlock()
			if dup {
				s.deliver(v, target, payload)
			}
		}
	}
}

// deliver POSTs one signed callback, retrying like iDenfy on a non-2xx
// answer or a network error. It reports whether the callback was delivered.
func (s *Server) deliver(v *verification, target string, payload idenfy.Webhook) bool {
	body, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("idenfytest: encode webhook", "err", err)
		return false
	}
	sig := idenfy.Sign([]byte(s.opts.SigningKey), body)
	var lastErr string
	for attempt := 0; attempt <= s.opts.WebhookRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(s.opts.WebhookRetryInterval)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		lastErr = s.post(s.ctx, target, body, sig)
		if s.ctx.Err() != nil {
			return false
		}
		if lastErr == "" {
			s.mu.Lock()
			v.delivered++
			s.mu.Unlock()
			s.log.Debug("idenfytest: webhook delivered", "scan_ref", payload.ScanRef, "final", payload.Final, "attempt", attempt+1)
			return true
		}
		s.log.Debug("idenfytest: webhook attempt failed", "scan_ref", payload.ScanRef, "attempt", attempt+1, "err", lastErr)
	}
	s.mu.Lock()
	v.failed++
	v.lastWebhookError = lastErr
	s.mu.Unlock()
	s.log.Warn("idenfytest: webhook delivery failed, giving up", "scan_ref", payload.ScanRef, "final", payload.Final, "err", lastErr)
	return false
}

// post sends one attempt and returns "" on a 2xx answer, else what went wrong.
func (s *Server) post(ctx context.Context, target string, body []byte, sig string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idenfy.SignatureHeader, sig)
	req.Header.Set("User-Agent", "idenfytest-sandbox")
	resp, err := s.hc.Do(req)
	if err != nil {
		// Drop the URL from the message: a receiver URL may carry a secret.
		return strings.ReplaceAll(err.Error(), target, "<webhook url>")
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("receiver answered HTTP %d", resp.StatusCode)
	}
	return ""
}

// expire runs when an unused token's expiry timer fires: iDenfy then sends
// an expiry callback (final, overall EXPIRED).
func (s *Server) expire(v *verification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || v.deleted || !v.autoAt.IsZero() || v.expiredDummy {
		return
	}
	s.scheduleLocked(v, step{due: time.Now(), phase: phaseExpired, final: true})
}
