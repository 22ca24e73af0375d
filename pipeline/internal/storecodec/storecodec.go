// Package storecodec is the driver-neutral part of the SQL pipeline.Store
// implementations (pipeline/sqlitestore, pipeline/pgstore): the JSON codecs of
// the input, hashes and result columns, and the mapping of a pipeline.Patch to
// the columns a Transition sets. Each store keeps its own SQL, placeholders,
// time encoding and error mapping.
package storecodec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// JSONText marshals v without HTML escaping, as text.
func JSONText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// EncodeHashes encodes the hashes column: nil is NULL.
func EncodeHashes(h map[pipeline.Side]string) (any, error) {
	if h == nil {
		return nil, nil
	}
	return JSONText(h)
}

// EncodeResult splits a result into its JSON (without Raw) and Raw, which is
// stored byte for byte: encoding/json would compact and HTML-escape it. A nil
// result is NULL, NULL; an empty Raw is NULL.
func EncodeResult(r *pipeline.Result) (res any, raw any, err error) {
	if r == nil {
		return nil, nil, nil
	}
	c := *r
	c.Raw = nil
	text, err := JSONText(&c)
	if err != nil {
		return nil, nil, fmt.Errorf("encode result: %w", err)
	}
	if len(r.Raw) > 0 {
		raw = []byte(r.Raw)
	}
	return text, raw, nil
}

// DecodeInput decodes the input column.
func DecodeInput(text string) (pipeline.Input, error) {
	var in pipeline.Input
	if err := json.Unmarshal([]byte(text), &in); err != nil {
		return in, fmt.Errorf("decode input: %w", err)
	}
	return in, nil
}

// DecodeHashes decodes a non-NULL hashes column; the map is never nil.
func DecodeHashes(text string) (map[pipeline.Side]string, error) {
	var h map[pipeline.Side]string
	if err := json.Unmarshal([]byte(text), &h); err != nil {
		return nil, fmt.Errorf("decode hashes: %w", err)
	}
	if h == nil {
		h = map[pipeline.Side]string{}
	}
	return h, nil
}

// DecodeResult decodes a non-NULL result column and its result_raw (empty
// when NULL), the inverse of EncodeResult.
func DecodeResult(text string, raw []byte) (*pipeline.Result, error) {
	var res pipeline.Result
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	if len(raw) > 0 {
		res.Raw = json.RawMessage(raw)
	}
	return &res, nil
}

// Column is one column a Transition sets, with the value to bind.
type Column struct {
	Name  string
	Value any
}

// Encoding is how a driver binds the patch values whose Go type it chooses.
type Encoding struct {
	// Time encodes a time column; it must map the zero time to NULL.
	Time func(time.Time) any
	// Int encodes an integer column (attempts); nil binds the int as is.
	Int func(int) any
}

// PatchColumns returns the columns p sets, in a fixed order, with their
// values: nil fields are left out; an empty scan_ref is NULL; a result sets
// both result and result_raw. Errors name the column that failed to encode.
// The columns a Transition always sets (state, version, updated_at) and the
// lease it clears unless p.KeepLease are the caller's.
func PatchColumns(p pipeline.Patch, enc Encoding) ([]Column, error) {
	var cols []Column
	set := func(name string, v any) { cols = append(cols, Column{name, v}) }
	if p.Input != nil {
		in, err := JSONText(*p.Input)
		if err != nil {
			return nil, fmt.Errorf("encode input: %w", err)
		}
		set("input", in)
		set("input_hash", p.Input.Hash())
	}
	if p.Attempts != nil {
		if enc.Int != nil {
			set("attempts", enc.Int(*p.Attempts))
		} else {
			set("attempts", *p.Attempts)
		}
	}
	timeCol := func(name string, v *time.Time) {
		if v != nil {
			set(name, enc.Time(*v))
		}
	}
	timeCol("not_before", p.NotBefore)
	if p.ScanRef != nil {
		if *p.ScanRef == "" {
			set("scan_ref", nil)
		} else {
			set("scan_ref", *p.ScanRef)
		}
	}
	if p.AuthToken != nil {
		set("auth_token", *p.AuthToken)
	}
	timeCol("token_expires_at", p.TokenExpiresAt)
	timeCol("intent_at", p.IntentAt)
	timeCol("submitted_at", p.SubmittedAt)
	timeCol("result_at", p.ResultAt)
	timeCol("exported_at", p.ExportedAt)
	timeCol("deleted_at", p.DeletedAt)
	if p.Outcome != nil {
		set("outcome", string(*p.Outcome))
	}
	if p.RejectReason != nil {
		set("reject_reason", *p.RejectReason)
	}
	if p.ErrorCode != nil {
		set("error_code", *p.ErrorCode)
	}
	if p.ErrorMessage != nil {
		set("error_message", *p.ErrorMessage)
	}
	if p.Hashes != nil {
		h, err := EncodeHashes(p.Hashes)
		if err != nil {
			return nil, fmt.Errorf("encode hashes: %w", err)
		}
		set("hashes", h)
	}
	if p.Result != nil {
		res, raw, err := EncodeResult(p.Result)
		if err != nil {
			return nil, err
		}
		set("result", res)
		set("result_raw", raw)
	}
	if p.RunID != nil {
		set("run_id", *p.RunID)
	}
	if p.KeepLease && p.LeaseUntil != nil {
		timeCol("lease_until", p.LeaseUntil)
	}
	return cols, nil
}
