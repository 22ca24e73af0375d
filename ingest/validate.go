package ingest

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idbatch/idbatch/pipeline"
)

// MaxClientIDLen is iDenfy's limit on clientId.
const MaxClientIDLen = 100

// MaxNameLen is iDenfy's limit on firstName and lastName, in characters.
const MaxNameLen = 100

// MaxRefBytes bounds an image reference (an S3 key is at most 1024 bytes).
const MaxRefBytes = 2048

// nameForbidden are the characters iDenfy refuses in firstName and
// lastName (idenfy-api.md, section 2.1), besides digits.
const nameForbidden = "~!@#$%^*()_+={}[]|:;\",<>/?"

// DocumentTypes lists the document types Direct Processing accepts.
var DocumentTypes = []string{"ID_CARD", "PASSPORT", "DRIVER_LICENSE", "RESIDENCE_PERMIT"}

// countryCodes are the officially assigned ISO 3166-1 alpha-2 codes (249, as
// of the ISO 3166 Maintenance Agency list; cross-checked against Debian's
// iso-codes), plus XK (Kosovo), a user-assigned code that issuing
// authorities, ICAO travel documents and identity vendors use.
const countryCodes = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"XK " +
	"YE YT " +
	"ZA ZM ZW"

var countries = func() map[string]bool {
	m := make(map[string]bool, 256)
	for _, c := range strings.Fields(countryCodes) {
		m[c] = true
	}
	return m
}()

// ValidCountry reports whether c (upper case) is an ISO 3166-1 alpha-2 code
// that idbatch accepts.
func ValidCountry(c string) bool { return countries[c] }

// ValidDocumentType reports whether t (upper case) is one of DocumentTypes.
func ValidDocumentType(t string) bool {
	for _, d := range DocumentTypes {
		if t == d {
			return true
		}
	}
	return false
}

// RequiredSides returns the sides /process needs for a document type:
// FRONT and FACE always, BACK for every type but PASSPORT.
func RequiredSides(documentType string) []pipeline.Side {
	if documentType == "PASSPORT" {
		return []pipeline.Side{pipeline.SideFront, pipeline.SideFace}
	}
	return []pipeline.Side{pipeline.SideFront, pipeline.SideBack, pipeline.SideFace}
}

// clientIDProblem describes why id is not a usable clientId, or "".
func clientIDProblem(id string) string {
	switch {
	case id == "":
		return "client_id is empty"
	case len(id) > MaxClientIDLen:
		return fmt.Sprintf("client_id is longer than %d characters", MaxClientIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return "client_id has a character outside printable ASCII"
		}
	}
	return ""
}

// CanonicalInput trims every field, upper-cases country and document type,
// and drops empty sources, as manifests and listings do before Validate.
func CanonicalInput(in pipeline.Input) pipeline.Input {
	in.ClientID = strings.TrimSpace(in.ClientID)
	in.FirstName = strings.TrimSpace(in.FirstName)
	in.LastName = strings.TrimSpace(in.LastName)
	in.DateOfBirth = strings.TrimSpace(in.DateOfBirth)
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	in.DocumentType = strings.ToUpper(strings.TrimSpace(in.DocumentType))
	var src map[pipeline.Side]string
	for side, ref := range in.Sources {
		if ref = strings.TrimSpace(ref); ref != "" {
			if src == nil {
				src = make(map[pipeline.Side]string, len(in.Sources))
			}
			src[side] = ref
		}
	}
	in.Sources = src
	return in
}

// Validate checks an input (as CanonicalInput leaves it) for everything
// /token and /process need that can be checked without fetching an image.
// It returns a *pipeline.RejectError, checking in this order: client_id
// (bad_client_id), country (bad_country), document_type
// (bad_document_type), first_name and last_name (bad_manifest_row: when
// given, 1-100 characters, no digit, no control character, none of
// ~!@#$%^*()_+={}[]|:;",<>/? as iDenfy requires), date_of_birth
// (bad_manifest_row: when given, YYYY-MM-DD, a real date from 1900 on and
// not in the future), image references (bad_manifest_row: at most
// MaxRefBytes), required sides (missing_required_side). The detail names
// the column and never contains the value of a personal field.
func Validate(in pipeline.Input) error {
	if p := clientIDProblem(in.ClientID); p != "" {
		return pipeline.Reject(pipeline.RejectBadClientID, p)
	}
	switch {
	case in.Country == "":
		return pipeline.Reject(pipeline.RejectBadCountry, "country is empty")
	case !ValidCountry(in.Country):
		return pipeline.Reject(pipeline.RejectBadCountry,
			fmt.Sprintf("country %s is not an ISO 3166-1 alpha-2 code", quoteShort(in.Country)))
	}
	switch {
	case in.DocumentType == "":
		return pipeline.Reject(pipeline.RejectBadDocumentType, "document_type is empty")
	case !ValidDocumentType(in.DocumentType):
		return pipeline.Reject(pipeline.RejectBadDocumentType,
			fmt.Sprintf("document_type %s is not one of %s", quoteShort(in.DocumentType), strings.Join(DocumentTypes, ", ")))
	}
	if p := nameProblem(colFirstName, in.FirstName); p != "" {
		return pipeline.Reject(pipeline.RejectBadManifestRow, p)
	}
	if p := nameProblem(colLastName, in.LastName); p != "" {
		return pipeline.Reject(pipeline.RejectBadManifestRow, p)
	}
	if in.DateOfBirth != "" && !validDate(in.DateOfBirth) {
		return pipeline.Reject(pipeline.RejectBadManifestRow, "date_of_birth is not a valid YYYY-MM-DD date")
	}
	for _, side := range pipeline.Sides {
		if len(in.Sources[side]) > MaxRefBytes {
			return pipeline.Reject(pipeline.RejectBadManifestRow,
				fmt.Sprintf("%s is longer than %d bytes", sideColumn(side), MaxRefBytes))
		}
	}
	var missing []string
	for _, side := range RequiredSides(in.DocumentType) {
		if in.Sources[side] == "" {
			missing = append(missing, sideColumn(side))
		}
	}
	if len(missing) > 0 {
		return pipeline.Reject(pipeline.RejectMissingRequiredSide,
			fmt.Sprintf("%s missing (required for %s)", strings.Join(missing, ", "), in.DocumentType))
	}
	return nil
}

// nameProblem says why a first or last name is refused, or "" (an empty
// name is not sent).
func nameProblem(col, v string) string {
	if v == "" {
		return ""
	}
	if !utf8.ValidString(v) {
		return col + " is not valid UTF-8"
	}
	if utf8.RuneCountInString(v) > MaxNameLen {
		return fmt.Sprintf("%s is longer than %d characters", col, MaxNameLen)
	}
	for _, r := range v {
		switch {
		case unicode.IsDigit(r):
			return col + " has a digit"
		case unicode.IsControl(r):
			return col + " has a control character"
		case strings.ContainsRune(nameForbidden, r):
			return col + " has a character iDenfy refuses (one of " + nameForbidden + ")"
		}
	}
	return ""
}

// validDate reports whether s is a date of birth: YYYY-MM-DD in ASCII
// digits, a real calendar date, from 1900 on, not after today (UTC, a day
// of slack for time zones).
func validDate(s string) bool {
	if len(s) != len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	d, err := time.Parse("2006-01-02", s)
	return err == nil && d.Year() >= 1900 && !d.After(time.Now().UTC().AddDate(0, 0, 1))
}

// clipInput bounds what a rejected row stores: every field cut to the
// bounds a valid row has (a row is bad also when a value is far too long),
// so a rejected record is no larger than an accepted one.
func clipInput(in pipeline.Input) pipeline.Input {
	in.ClientID = clip(in.ClientID, MaxClientIDLen)
	in.FirstName = clip(in.FirstName, 4*MaxNameLen)
	in.LastName = clip(in.LastName, 4*MaxNameLen)
	in.DateOfBirth = clip(in.DateOfBirth, 32)
	in.Country = clip(in.Country, 32)
	in.DocumentType = clip(in.DocumentType, 32)
	for side, ref := range in.Sources {
		in.Sources[side] = clip(ref, MaxRefBytes)
	}
	return in
}

// clip cuts s to at most n bytes, at a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// quoteShort quotes s for a message, cut to a few characters.
func quoteShort(s string) string {
	const max = 24
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// sideColumn names a side as the manifest column does.
func sideColumn(s pipeline.Side) string { return strings.ToLower(string(s)) }
