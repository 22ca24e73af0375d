package idenfy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SignatureHeader carries the webhook signature: lower-case hex of
// HMAC-SHA256(signing key, raw body).
const SignatureHeader = "Idenfy-Signature"

// Sign returns the lower-case hex HMAC-SHA256 of body under key, as iDenfy
// sends it in SignatureHeader.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether header is the signature of body under key.
// It compares in constant time. It returns false for an empty key, an empty
// header, or a header that is not hex (either case is accepted); surrounding
// whitespace is ignored. Verify over the exact bytes received, before parsing.
func VerifySignature(key, body []byte, header string) bool {
	header = strings.TrimSpace(header)
	if len(key) == 0 || header == "" {
		return false
	}
	got, err := hex.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// ParseWebhook decodes a result callback body (§5.3). It is tolerant:
// unknown fields are ignored, nulls give zero values, enums stay open
// strings, a field of an unexpected JSON type does not fail the whole
// payload, and "aml" fills AML like "AML". It fails only when the body is not
// a JSON object or has no scanRef. w.Raw holds body.
func ParseWebhook(body []byte) (Webhook, error) {
	var w Webhook
	if err := decodeLenient(body, w.fields()); err != nil {
		return Webhook{}, fmt.Errorf("idenfy: webhook: %w", err)
	}
	if w.ScanRef == "" {
		return Webhook{}, errors.New("idenfy: webhook: no scanRef")
	}
	w.Raw = append(json.RawMessage(nil), body...)
	return w, nil
}

// strippedKeys are the keys whose values are pre-signed URLs, removed at any
// depth (matched case-insensitively).
var strippedKeys = []string{"fileUrls", "additionalStepPdfUrls"}

// presignedMarkers are the query parameters of pre-signed S3 URLs (both
// signature versions), matched case-insensitively anywhere in a string.
var presignedMarkers = []string{"signature=", "x-amz-signature", "x-amz-credential", "awsaccesskeyid"}

// SanitizeRaw returns the JSON value body made fit to store and export as
// raw_result:
//
//   - every "fileUrls" and "additionalStepPdfUrls" member is removed, at any
//     depth (keys matched case-insensitively): pre-signed URLs are
//     short-lived credentials to personal images;
//   - every other string value that looks like a pre-signed URL (it contains
//     Signature=, X-Amz-Signature, X-Amz-Credential or AWSAccessKeyId, in any
//     case) is replaced by null, wherever it is;
//   - every string is valid UTF-8: each invalid byte becomes U+FFFD, and an
//     escaped lone UTF-16 surrogate (\ud800) becomes U+FFFD too, as
//     encoding/json decodes them, so DuckDB and Athena read the column and
//     their JSON functions parse it.
//
// Everything else is kept: members and elements in their order, duplicate
// keys, numbers as written. When something is removed or replaced the value
// is re-serialized compactly (strings re-escaped, same content); otherwise
// body is returned as it is, byte for byte. It fails only when body is not
// valid JSON.
func SanitizeRaw(body []byte) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("idenfy: sanitize: invalid JSON")
	}
	if clean(body) {
		return body, nil
	}
	sz := sanitizer{dec: json.NewDecoder(bytes.NewReader(body)), changed: !utf8.Valid(body)}
	sz.dec.UseNumber()
	sz.out.Grow(len(body))
	if err := sz.copyValue(); err != nil {
		return nil, fmt.Errorf("idenfy: sanitize: %w", err)
	}
	if !sz.changed {
		return body, nil
	}
	return sz.out.Bytes(), nil
}

// StripFileURLs is SanitizeRaw for a JSON object: it fails when body is not
// one.
func StripFileURLs(body []byte) ([]byte, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("idenfy: strip file URLs: not a JSON object")
	}
	return SanitizeRaw(body)
}

// clean reports whether the valid JSON body certainly needs no change: it is
// valid UTF-8, has no \u escape (which could spell a key or a surrogate) and
// contains none of the stripped keys or pre-signed markers, in any case. One
// pass: the export calls it for every row.
func clean(body []byte) bool {
	high := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= utf8.RuneSelf:
			high = true
		case c == '\\':
			if i+1 < len(body) && body[i+1] == 'u' {
				return false
			}
			i++ // the escaped character
		case markerFirst[c]:
			for _, m := range markers {
				if len(body)-i >= len(m) && lower(c) == m[0] && bytes.EqualFold(body[i:i+len(m)], []byte(m)) {
					return false
				}
			}
		}
	}
	return !high || utf8.Valid(body)
}

// markers are strippedKeys and presignedMarkers in lower case; markerFirst
// flags their first bytes, in both cases.
var markers, markerFirst = func() ([]string, [256]bool) {
	var ms []string
	var first [256]bool
	for _, m := range append(slices.Clone(strippedKeys), presignedMarkers...) {
		m = strings.ToLower(m)
		ms = append(ms, m)
		first[m[0]], first[upper(m[0])] = true, true
	}
	return ms, first
}()

// containsFold reports whether b contains the ASCII string pat, ignoring
// ASCII case.
func containsFold(b []byte, pat string) bool {
	for i := 0; len(b)-i >= len(pat); i++ {
		if lower(b[i]) == lower(pat[0]) && bytes.EqualFold(b[i:i+len(pat)], []byte(pat)) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func strippedKey(key string) bool {
	for _, k := range strippedKeys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// looksPresigned reports whether s looks like a pre-signed URL.
func looksPresigned(s string) bool {
	for _, m := range presignedMarkers {
		if containsFold([]byte(s), m) {
			return true
		}
	}
	return false
}

// sanitizer copies a JSON value token by token, sanitized.
type sanitizer struct {
	dec *json.Decoder
	out bytes.Buffer
	// changed: something was removed or replaced (a U+FFFD in a decoded
	// string may be one: counted as a change).
	changed bool
}

// copyValue copies the next JSON value of dec to out, sanitized.
func (sz *sanitizer) copyValue() error {
	dec, out := sz.dec, &sz.out
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		closing := json.Delim('}')
		if t == '[' {
			closing = ']'
		}
		out.WriteByte(byte(t))
		first := true
		for dec.More() {
			if t == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				if strippedKey(key) {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					sz.changed = true
					continue
				}
				sz.noteReplaced(key)
				if !first {
					out.WriteByte(',')
				}
				writeString(out, key)
				out.WriteByte(':')
			} else if !first {
				out.WriteByte(',')
			}
			first = false
			if err := sz.copyValue(); err != nil {
				return err
			}
		}
		if end, err := dec.Token(); err != nil || end != closing {
			return errors.New("unbalanced JSON")
		}
		out.WriteByte(byte(closing))
	case string:
		if looksPresigned(t) {
			out.WriteString("null")
			sz.changed = true
		} else {
			sz.noteReplaced(t)
			writeString(out, t)
		}
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

// noteReplaced marks a change when encoding/json may have replaced
// something in s (an invalid byte or a lone surrogate escape).
func (sz *sanitizer) noteReplaced(s string) {
	if strings.ContainsRune(s, utf8.RuneError) {
		sz.changed = true
	}
}

// writeString writes s as a JSON string, without HTML escaping. s comes from
// encoding/json, so it is valid UTF-8.
func writeString(out *bytes.Buffer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
