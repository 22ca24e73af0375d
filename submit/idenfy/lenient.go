package idenfy

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Responses and webhooks are decoded tolerantly, so that one field of an
// unexpected type (a number where a string was documented, a single string
// where a list was, "true" in quotes) never loses a whole result. Each wire
// type lists its JSON keys in a table of small decoders (its fields method);
// the struct tags are only for encoding (the sandbox marshals these types),
// and a test checks that tags and tables agree. The rules:
//
//   - null (or a missing key) leaves the zero value;
//   - unknown keys are ignored; keys match exactly first, then
//     case-insensitively (so "aml" fills AML);
//   - text takes a string, or the literal text of a number, bool, object or
//     array (an object or array sanitized like a raw result: no pre-signed
//     URL); it is always valid UTF-8 (each invalid byte becomes U+FFFD, as
//     encoding/json does inside strings);
//   - texts takes an array (null elements dropped, other elements as for
//     text) or a single value;
//   - boolean and number take their JSON type or a string holding one
//     (strconv syntax); anything else, and numbers that are not finite or do
//     not fit, leave the zero value;
//   - a nested object or list of objects of the wrong JSON type is left zero;
//   - a wire type's Raw field receives the bytes of the object it came from.
//
// Only the top level must be a JSON object: decodeLenient fails otherwise.

// field decodes one JSON value, never null, into the Go field it is bound to.
// It never fails: a value it cannot take leaves the field as it is.
type field func(raw json.RawMessage)

// fields maps the JSON keys of an object to the decoders of its Go fields.
type fields map[string]field

// decodeLenient decodes the JSON object data into the fields of fs.
func decodeLenient(data []byte, fs fields) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	if !json.Valid(data) {
		return errors.New("invalid JSON")
	}
	decodeObject(data, fs)
	return nil
}

// decodeObject decodes raw into fs if raw is a JSON object, and reports
// whether it was one.
func decodeObject(raw []byte, fs fields) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return false
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic when several keys fold to one field
	// Case-insensitive matches first, exact ones last: an exact key wins.
	for _, k := range keys {
		if _, exact := fs[k]; exact {
			continue
		}
		for name, f := range fs {
			if strings.EqualFold(name, k) {
				apply(f, obj[k])
				break
			}
		}
	}
	for _, k := range keys {
		if f, ok := fs[k]; ok {
			apply(f, obj[k])
		}
	}
	return true
}

func apply(f field, raw json.RawMessage) {
	if !isNull(raw) {
		f(raw)
	}
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// text binds a string field.
func text(p *string) field {
	return func(raw json.RawMessage) {
		if s, ok := asText(raw); ok {
			*p = s
		}
	}
}

// texts binds a []string field.
func texts(p *[]string) field {
	return func(raw json.RawMessage) {
		var elems []json.RawMessage
		if raw[0] != '[' {
			elems = []json.RawMessage{raw} // a single value where a list was documented
		} else if json.Unmarshal(raw, &elems) != nil {
			return
		}
		out := make([]string, 0, len(elems))
		for _, e := range elems {
			if isNull(e) {
				continue
			}
			if s, ok := asText(e); ok {
				out = append(out, s)
			}
		}
		*p = out
	}
}

// textMap binds a map[string]string field; null values are dropped.
func textMap(p *map[string]string) field {
	return func(raw json.RawMessage) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return
		}
		m := make(map[string]string, len(obj))
		for k, e := range obj {
			if isNull(e) {
				continue
			}
			if s, ok := asText(e); ok {
				m[k] = s
			}
		}
		*p = m
	}
}

// boolean binds a bool field.
func boolean(p *bool) field {
	return func(raw json.RawMessage) {
		if b, err := strconv.ParseBool(scalar(raw)); err == nil {
			*p = b
		}
	}
}

// number binds an integer or float field. A fraction is truncated toward
// zero for an integer field.
func number[T int | int64 | float64](p *T) field {
	return func(raw json.RawMessage) {
		f, err := strconv.ParseFloat(scalar(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return
		}
		var limit float64 // 2^(bits-1) for an integer type
		switch any(*p).(type) {
		case int:
			limit = -float64(math.MinInt)
		case int64:
			limit = -float64(math.MinInt64)
		}
		if limit > 0 && (f < -limit || f >= limit) {
			return // does not fit
		}
		*p = T(f)
	}
}

// rawJSON binds a json.RawMessage field: a copy of the value.
func rawJSON(p *json.RawMessage) field {
	return func(raw json.RawMessage) { *p = append(json.RawMessage(nil), raw...) }
}

// wireType is a pointer to a wire struct with its decoder table.
type wireType[T any] interface {
	*T
	fields() fields
}

// rawKeeper is a wire type with a Raw field.
type rawKeeper interface{ keepRaw(b []byte) }

// decodeInto decodes the JSON object data into *p, leniently, and keeps
// data in p's Raw field if it has one.
func decodeInto[T any, P wireType[T]](data []byte, p P) error {
	if err := decodeLenient(data, p.fields()); err != nil {
		return err
	}
	if r, ok := any(p).(rawKeeper); ok {
		r.keepRaw(bytes.TrimSpace(data))
	}
	return nil
}

// decodeWire decodes raw into a new T if raw is a JSON object.
func decodeWire[T any, P wireType[T]](raw json.RawMessage) (T, bool) {
	var v T
	if !decodeObject(raw, P(&v).fields()) {
		return v, false
	}
	if r, ok := any(P(&v)).(rawKeeper); ok {
		r.keepRaw(raw)
	}
	return v, true
}

// object binds a nested wire struct: decoded if the value is an object, left
// zero otherwise.
func object[T any, P wireType[T]](p P) field {
	return func(raw json.RawMessage) {
		if v, ok := decodeWire[T, P](raw); ok {
			*p = v
		}
	}
}

// objects binds a list of wire structs: elements that are not objects are
// dropped; a value that is not an array leaves the list nil.
func objects[T any, P wireType[T]](p *[]T) field {
	return func(raw json.RawMessage) {
		var elems []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
			return
		}
		out := make([]T, 0, len(elems))
		for _, e := range elems {
			if v, ok := decodeWire[T, P](e); ok {
				out = append(out, v)
			}
		}
		*p = out
	}
}

// asText is the text of a non-null JSON value: a string's content, or the
// compact JSON of anything else, sanitized by SanitizeRaw (an object read
// as text must not carry a pre-signed URL into a column); always valid
// UTF-8.
func asText(raw json.RawMessage) (string, bool) {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true // encoding/json already replaced invalid UTF-8
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return "", false
	}
	clean, err := SanitizeRaw(buf.Bytes())
	if err != nil {
		return "", false
	}
	return string(clean), true
}

// scalar is the text of a JSON scalar for strconv: a string's content or
// the literal itself, trimmed.
func scalar(raw json.RawMessage) string {
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
	}
	return strings.TrimSpace(s)
}

// ValidUTF8 returns s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json does when it decodes a string (so a
// column and the raw JSON it came from agree). Valid strings are returned as
// they are, without copying.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
