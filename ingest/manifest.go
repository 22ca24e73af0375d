package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/pipeline"
)

// Format is the encoding of a manifest.
type Format string

const (
	FormatCSV   Format = "csv"   // RFC 4180 with a header row
	FormatJSONL Format = "jsonl" // one JSON object per line
)

// FormatOf returns the format a manifest name implies by its extension:
// .csv, .jsonl or .ndjson (case-insensitive), optionally followed by .gz.
func FormatOf(name string) (Format, error) {
	ext := strings.ToLower(path.Ext(name))
	if ext == ".gz" {
		ext = strings.ToLower(path.Ext(name[:len(name)-len(ext)]))
	}
	switch ext {
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("ingest: manifest %q: unknown format %q (want .csv, .jsonl or .ndjson, optionally .gz)", name, ext)
}

// MaxRowBytes bounds one manifest row. A JSONL line longer than this is a
// bad_manifest_row; a CSV record longer than this (in practice an unclosed
// quote swallowing the rest of the file) ends ReadManifest with an error.
const MaxRowBytes = 4 << 20

// Manifest is an opened manifest: a stream and what is needed to resolve the
// object references in it.
type Manifest struct {
	Body   io.ReadCloser // the decompressed manifest; Close it
	Format Format
	URI    string // as given to OpenManifest
	// BaseBucket is the bucket of an s3:// manifest: references that are
	// plain keys name objects in it.
	BaseBucket string
	// BaseDir is the directory of a local manifest: relative paths in it
	// are resolved against it.
	BaseDir string
}

// Close closes the body.
func (m *Manifest) Close() error { return m.Body.Close() }

// Read streams the manifest's records to fn; see ReadManifest.
func (m *Manifest) Read(job string, fn func(pipeline.Record) error) error {
	return ReadManifest(m.Body, m.Format, job, fn)
}

// Objects returns an Objects that resolves the manifest's references inside
// its scope: its bucket (and opt.AllowedBuckets) for an s3:// manifest, its
// directory (or opt.LocalRoot) for a local one.
func (m *Manifest) Objects(s3c *s3.Client, opt ObjectOptions) *Objects {
	return &Objects{
		S3: s3c, BaseBucket: m.BaseBucket, BaseDir: m.BaseDir,
		AllowedBuckets: opt.AllowedBuckets, LocalRoot: opt.LocalRoot, MaxBytes: opt.MaxBytes,
	}
}

// OpenManifest opens the manifest at uri: "s3://bucket/key" (through s3c),
// "file:///abs/path", or a local path. The format comes from the extension
// (see FormatOf); a ".gz" suffix is decompressed. A manifest that does not
// exist is an error that matches fs.ErrNotExist. Nothing is read but the
// first bytes of a gzip stream.
func OpenManifest(ctx context.Context, uri string, s3c *s3.Client) (*Manifest, error) {
	format, err := FormatOf(uri)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: format, URI: uri}
	switch {
	case strings.HasPrefix(uri, "s3://"):
		bucket, key, err := ParseS3URI(uri)
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, fmt.Errorf("ingest: manifest %q: no object key", uri)
		}
		if s3c == nil {
			return nil, fmt.Errorf("ingest: manifest %q: no S3 client configured", uri)
		}
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			if isS3NotFound(err) {
				return nil, fmt.Errorf("ingest: manifest %q: %w (%w)", uri, fs.ErrNotExist, err)
			}
			return nil, fmt.Errorf("ingest: manifest %q: %w", uri, err)
		}
		m.Body, m.BaseBucket = out.Body, bucket
	default:
		p := uri
		if strings.HasPrefix(uri, "file://") {
			if p, err = fileURIPath(uri); err != nil {
				return nil, fmt.Errorf("ingest: manifest %q: %w", uri, err)
			}
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("ingest: manifest %q: %w", uri, err)
		}
		f, err := os.Open(abs)
		if err != nil {
			return nil, fmt.Errorf("ingest: manifest: %w", err)
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("ingest: manifest %q is a directory", uri)
		}
		m.Body, m.BaseDir = f, filepath.Dir(abs)
	}
	if strings.EqualFold(path.Ext(uri), ".gz") {
		zr, err := gzip.NewReader(m.Body)
		if err != nil {
			m.Body.Close()
			return nil, fmt.Errorf("ingest: manifest %q: gzip: %w", uri, err)
		}
		m.Body = &gzipBody{Reader: zr, under: m.Body}
	}
	return m, nil
}

type gzipBody struct {
	*gzip.Reader
	under io.Closer
}

func (g *gzipBody) Close() error {
	return errors.Join(g.Reader.Close(), g.under.Close())
}

// Manifest columns. Header names match case-insensitively after trimming.
const (
	colClientID     = "client_id"
	colFirstName    = "first_name"
	colLastName     = "last_name"
	colDateOfBirth  = "date_of_birth"
	colCountry      = "country"
	colDocumentType = "document_type"
	colFront        = "front"
	colBack         = "back"
	colFace         = "face"
	colUtilityBill  = "utility_bill"
)

var knownColumns = map[string]bool{
	colClientID: true, colFirstName: true, colLastName: true, colDateOfBirth: true,
	colCountry: true, colDocumentType: true, colFront: true, colBack: true, colFace: true, colUtilityBill: true,
}

// ReadManifest streams the rows of a manifest to fn, one pipeline.Record per
// row, in order, never holding more than one row in memory.
//
// CSV needs a header row (a UTF-8 BOM is skipped); JSONL has one object per
// line, blank lines skipped, values strings (numbers and null are accepted
// too). Known columns are matched case-insensitively; other columns go to
// Input.Extra under their name as written. Blank CSV lines are skipped.
//
// Every row yields exactly one Record with Job, Key (the client id, or
// "#line:N" when it is unusable), Ref, Line (the physical line the row starts
// on; the CSV header is line 1), Input (see CanonicalInput) and State
// pending, or State rejected with RejectReason and ErrorMessage ("line N:
// ...") when the row is bad: unparseable rows are bad_manifest_row, the rest
// is Validate's verdict.
//
// Only a read error, a header that cannot be used (missing, no client_id
// column, duplicate columns), a CSV record longer than MaxRowBytes, or an
// error of fn ends ReadManifest with an error; a bad row never does. Errors
// of fn are returned as they are.
func ReadManifest(r io.Reader, format Format, job string, fn func(pipeline.Record) error) error {
	switch format {
	case FormatCSV:
		return readCSV(r, job, fn)
	case FormatJSONL:
		return readJSONL(r, job, fn)
	}
	return fmt.Errorf("ingest: unknown manifest format %q", format)
}

// row is one parsed manifest row before validation.
type row struct {
	fields map[string]string // known columns
	extra  map[string]string
}

func (rw row) input() pipeline.Input {
	f := rw.fields
	in := pipeline.Input{
		ClientID:     f[colClientID],
		FirstName:    f[colFirstName],
		LastName:     f[colLastName],
		DateOfBirth:  f[colDateOfBirth],
		Country:      f[colCountry],
		DocumentType: f[colDocumentType],
		Sources: map[pipeline.Side]string{
			pipeline.SideFront:       f[colFront],
			pipeline.SideBack:        f[colBack],
			pipeline.SideFace:        f[colFace],
			pipeline.SideUtilityBill: f[colUtilityBill],
		},
	}
	in = CanonicalInput(in)
	if len(rw.extra) > 0 {
		in.Extra = rw.extra
	}
	return in
}

// lineKey is the key of a row without a usable client id.
func lineKey(line int) string { return "#line:" + strconv.Itoa(line) }

// recordFor builds the record of a parsed row.
func recordFor(job string, line int, in pipeline.Input) pipeline.Record {
	key := in.ClientID
	if clientIDProblem(key) != "" {
		key = lineKey(line)
	}
	rec := pipeline.Record{Job: job, Key: key, Ref: pipeline.RefFor(job, key), Line: line, Input: in, State: pipeline.StatePending}
	if err := Validate(in); err != nil {
		var re *pipeline.RejectError
		errors.As(err, &re)
		rec.State = pipeline.StateRejected
		rec.RejectReason = re.Code
		rec.ErrorMessage = fmt.Sprintf("line %d: %s", line, re.Detail)
	}
	return rec
}

// badRow is the record of a row that could not be parsed.
func badRow(job string, line int, msg string) pipeline.Record {
	key := lineKey(line)
	return pipeline.Record{
		Job: job, Key: key, Ref: pipeline.RefFor(job, key), Line: line,
		State: pipeline.StateRejected, RejectReason: pipeline.RejectBadManifestRow,
		ErrorMessage: fmt.Sprintf("line %d: %s", line, msg),
	}
}

var errRowTooLong = errors.New("row too long")

// budgetReader fails once more than max bytes are read since the last reset.
type budgetReader struct {
	r      io.Reader
	n, max int
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, errRowTooLong
	}
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

// skipBOM returns a reader of r without a leading UTF-8 byte order mark.
func skipBOM(r io.Reader) *bufio.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	return br
}

func readCSV(r io.Reader, job string, fn func(pipeline.Record) error) error {
	budget := &budgetReader{r: skipBOM(r), max: MaxRowBytes}
	cr := csv.NewReader(budget)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = false
	cr.ReuseRecord = true

	header, err := cr.Read()
	switch {
	case err == io.EOF:
		return errors.New("ingest: manifest: empty CSV, no header row")
	case errors.Is(err, errRowTooLong):
		return fmt.Errorf("ingest: manifest header: longer than %d bytes", MaxRowBytes)
	case err != nil:
		return fmt.Errorf("ingest: manifest header: %w", err)
	}
	names, err := csvHeader(header)
	if err != nil {
		return err
	}
	lastLine := 1
	for {
		budget.n = 0
		fields, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var rec pipeline.Record
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			lastLine = pe.StartLine
			rec = badRow(job, pe.StartLine, "malformed CSV: "+pe.Err.Error())
		case errors.Is(err, errRowTooLong):
			return fmt.Errorf("ingest: manifest: record after line %d is longer than %d bytes (unclosed quote?)", lastLine, MaxRowBytes)
		case err != nil:
			return fmt.Errorf("ingest: manifest: read after line %d: %w", lastLine, err)
		default:
			line, _ := cr.FieldPos(0)
			lastLine = line
			if len(fields) == 1 && len(names) > 1 && strings.TrimSpace(fields[0]) == "" {
				continue // a blank line with spaces
			}
			if len(fields) != len(names) {
				rec = badRow(job, line, fmt.Sprintf("%d fields, header has %d", len(fields), len(names)))
				break
			}
			rw := row{fields: make(map[string]string, len(knownColumns))}
			for i, v := range fields {
				switch n := names[i]; {
				case knownColumns[n]:
					rw.fields[n] = v
				case n == "":
					if v != "" {
						rw.setExtra("column_"+strconv.Itoa(i+1), v)
					}
				default:
					rw.setExtra(n, v)
				}
			}
			rec = recordFor(job, line, rw.input())
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func (rw *row) setExtra(k, v string) {
	if rw.extra == nil {
		rw.extra = make(map[string]string)
	}
	rw.extra[k] = v
}

// csvHeader maps header cells to column names: known columns lower-cased,
// others as written (trimmed), empty cells "".
func csvHeader(header []string) ([]string, error) {
	names := make([]string, len(header))
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		n := strings.TrimSpace(h)
		if l := strings.ToLower(n); knownColumns[l] {
			n = l
		}
		if n != "" {
			if seen[n] {
				return nil, fmt.Errorf("ingest: manifest header: column %q appears twice", n)
			}
			seen[n] = true
		}
		names[i] = n
	}
	if !seen[colClientID] {
		return nil, fmt.Errorf("ingest: manifest header: no %s column", colClientID)
	}
	return names, nil
}

func readJSONL(r io.Reader, job string, fn func(pipeline.Record) error) error {
	br := skipBOM(r)
	var buf []byte
	for line := 1; ; line++ {
		b, tooLong, err := readLine(br, buf[:0], MaxRowBytes)
		buf = b
		if err != nil && err != io.EOF {
			return fmt.Errorf("ingest: manifest: read line %d: %w", line, err)
		}
		if len(b) == 0 && !tooLong && err == io.EOF {
			return nil
		}
		var rec pipeline.Record
		switch {
		case tooLong:
			rec = badRow(job, line, fmt.Sprintf("line longer than %d bytes", MaxRowBytes))
		case len(bytes.TrimSpace(b)) == 0:
			if err == io.EOF {
				return nil
			}
			continue
		default:
			rw, msg := jsonRow(b)
			if msg != "" {
				rec = badRow(job, line, msg)
			} else {
				rec = recordFor(job, line, rw.input())
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine appends the next line of br (without its line ending) to buf.
// A line longer than max is skipped and reported as tooLong. err is io.EOF
// for the last line of the input.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 { // +2: the line ending
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if tooLong {
			buf = buf[:0]
		}
		return buf, tooLong, err
	}
}

// jsonRow parses one JSONL line; msg says why it is not a row.
func jsonRow(b []byte) (row, string) {
	b = bytes.TrimSpace(b)
	if b[0] != '{' {
		return row{}, "invalid JSON: not an object"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return row{}, "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	rw := row{fields: make(map[string]string, len(knownColumns))}
	seen := make(map[string]bool, len(obj))
	for k, raw := range obj {
		name := strings.TrimSpace(k)
		if l := strings.ToLower(name); knownColumns[l] {
			name = l
		}
		if seen[name] {
			return row{}, fmt.Sprintf("key %q appears twice", name)
		}
		seen[name] = true
		v, ok := jsonScalar(raw)
		if knownColumns[name] {
			if !ok {
				return row{}, fmt.Sprintf("%s is not a string", name)
			}
			rw.fields[name] = v
			continue
		}
		if !ok {
			v = string(raw) // keep nested JSON of unknown keys as its text
		}
		rw.setExtra(name, v)
	}
	return rw, ""
}

// jsonScalar returns a string, number or null as text; ok is false for
// booleans, objects and arrays.
func jsonScalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "", false
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case string(raw) == "null":
		return "", true
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), true
	}
	return "", false
}
