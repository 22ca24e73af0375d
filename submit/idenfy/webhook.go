package idenfy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
// body is returned as it is. It fails only when body is not valid JSON.
func SanitizeRaw(body []byte) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("idenfy: sanitize: invalid JSON")
	}
	if clean(body) {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(body))
	if err := copyValue(dec, &out); err != nil {
		return nil, fmt.Errorf("idenfy: sanitize: %w", err)
	}
	return out.Bytes(), nil
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
// contains none of the stripped keys or pre-signed markers, in any case.
func clean(body []byte) bool {
	if !utf8.Valid(body) || bytes.Contains(body, []byte(`\u`)) {
		return false
	}
	for _, k := range strippedKeys {
		if containsFold(body, k) {
			return false
		}
	}
	for _, m := range presignedMarkers {
		if containsFold(body, m) {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the ASCII string pat, ignoring
// ASCII case.
func containsFold(b []byte, pat string) bool {
	first := [2]byte{lower(pat[0]), upper(pat[0])}
	for len(b) >= len(pat) {
		i := bytes.IndexAny(b, string(first[:]))
		if i < 0 || len(b)-i < len(pat) {
			return false
		}
		if bytes.EqualFold(b[i:i+len(pat)], []byte(pat)) {
			return true
		}
		b = b[i+1:]
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

// copyValue copies the next JSON value of dec to out, sanitized.
func copyValue(dec *json.Decoder, out *bytes.Buffer) error {
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
					continue
				}
				if !first {
					out.WriteByte(',')
				}
				writeString(out, key)
				out.WriteByte(':')
			} else if !first {
				out.WriteByte(',')
			}
			first = false
			if err := copyValue(dec, out); err != nil {
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
		} else {
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

// writeString writes s as a JSON string, without HTML escaping. s comes from
// encoding/json, so it is valid UTF-8.
func writeString(out *bytes.Buffer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
