package idenfy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
	if err := decodeLenient(body, &w); err != nil {
		return Webhook{}, fmt.Errorf("idenfy: webhook: %w", err)
	}
	if w.ScanRef == "" {
		return Webhook{}, errors.New("idenfy: webhook: no scanRef")
	}
	w.Raw = append(json.RawMessage(nil), body...)
	return w, nil
}

// strippedKeys are the top-level webhook keys holding pre-signed URLs.
var strippedKeys = []string{"fileUrls", "additionalStepPdfUrls"}

// StripFileURLs re-serializes the JSON object body without its top-level
// "fileUrls" and "additionalStepPdfUrls" keys (matched case-insensitively):
// pre-signed URLs are short-lived credentials to personal images and must
// not be stored. Every other key is kept, in its original order, with its
// value byte for byte (only insignificant whitespace between top-level
// members is dropped).
func StripFileURLs(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("idenfy: strip file URLs: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("idenfy: strip file URLs: not a JSON object")
	}
	var out bytes.Buffer
	out.Grow(len(body))
	out.WriteByte('{')
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("idenfy: strip file URLs: %w", err)
		}
		key, _ := kt.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("idenfy: strip file URLs: %w", err)
		}
		if stripped(key) {
			continue
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(key)
		out.Write(kb)
		out.WriteByte(':')
		out.Write(val)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, fmt.Errorf("idenfy: strip file URLs: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("idenfy: strip file URLs: trailing data after the object")
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

func stripped(key string) bool {
	for _, k := range strippedKeys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
