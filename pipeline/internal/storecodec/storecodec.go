// Package storecodec is the driver-neutral part of the SQL pipeline.Store
// implementations (pipeline/sqlitestore, pipeline/pgstore): the JSON codecs of
// the input, hashes and result columns, and the mapping of a pipeline.Patch to
// the columns a Transition sets. Each store keeps its own SQL, placeholders,
// time encoding and error mapping.
package storecodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
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

// LoadRow is one manifest record for Store.Load, validated, with its defaults
// filled in and its input encoded.
type LoadRow struct {
	Key, Ref     string
	Line         int
	Input, Hash  string // input as JSON text, and Input.Hash()
	State        pipeline.State
	Outcome      pipeline.Outcome
	RejectReason string
	ErrorCode    string
	ErrorMessage string
	RunID        string
}

// EncodeLoadRow checks a record given to Store.Load for job: it needs a key,
// belongs to job (or names none), and is pending (the default) or rejected (its
// outcome then defaults to REJECTED). An empty Ref defaults to
// pipeline.RefFor(job, key).
func EncodeLoadRow(job string, rec pipeline.Record) (LoadRow, error) {
	if rec.Key == "" {
		return LoadRow{}, errors.New("empty key")
	}
	if rec.Job != "" && rec.Job != job {
		return LoadRow{}, fmt.Errorf("record of job %q loaded into job %q", rec.Job, job)
	}
	state := rec.State
	switch state {
	case "":
		state = pipeline.StatePending
	case pipeline.StatePending, pipeline.StateRejected:
	default:
		return LoadRow{}, fmt.Errorf("cannot load a record in state %q (only pending or rejected)", state)
	}
	outcome := rec.Outcome
	if state == pipeline.StateRejected && outcome == "" {
		outcome = pipeline.OutcomeRejected
	}
	ref := rec.Ref
	if ref == "" {
		ref = pipeline.RefFor(job, rec.Key)
	}
	input, err := JSONText(rec.Input)
	if err != nil {
		return LoadRow{}, fmt.Errorf("encode input: %w", err)
	}
	return LoadRow{
		Key: rec.Key, Ref: ref, Line: rec.Line, Input: input, Hash: rec.Input.Hash(),
		State: state, Outcome: outcome,
		RejectReason: rec.RejectReason, ErrorCode: rec.ErrorCode, ErrorMessage: rec.ErrorMessage, RunID: rec.RunID,
	}, nil
}

// Migration is one embedded schema migration.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads migrations/NNNN_description.sql from fsys, in version
// order; NNNN is the version, and two files may not share one.
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}
