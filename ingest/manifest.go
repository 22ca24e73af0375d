package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
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

// MaxRowBytes bounds one manifest row. A longer JSONL line, CSV line, or
// CSV record (in practice an unclosed quote) is a bad_manifest_row.
const MaxRowBytes = 4 << 20

// Bounds on the columns idbatch does not know, which are kept in
// Input.Extra and exported: a row over them is a bad_manifest_row (its
// extra values are then not kept), and a CSV header with more than
// MaxExtraColumns unknown named columns, or more than MaxColumns columns
// in all, is an error.
const (
	MaxExtraColumns    = 64
	MaxExtraValueBytes = 1 << 10
	MaxExtraBytes      = 16 << 10 // names and values of one row
	MaxColumns         = 1024
)

// maxBufferedManifest bounds the manifest that ReadManifest holds in memory
// when its reader can neither seek nor be reopened.
const maxBufferedManifest = 64 << 20

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
		m.Body = &s3Body{ctx: ctx, s3c: s3c, bucket: bucket, key: key, etag: aws.ToString(out.ETag), body: out.Body}
		m.BaseBucket = bucket
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
	under io.ReadCloser
}

func (g *gzipBody) Close() error {
	return errors.Join(g.Reader.Close(), g.under.Close())
}

func (g *gzipBody) rewind() error {
	switch u := g.under.(type) {
	case rewinder:
		if err := u.rewind(); err != nil {
			return err
		}
	case io.Seeker:
		if _, err := u.Seek(0, io.SeekStart); err != nil {
			return err
		}
	default:
		return errors.New("ingest: manifest: the stream cannot be read again")
	}
	return g.Reader.Reset(g.under)
}

// s3Body is the body of an s3:// manifest, which ReadManifest reads twice:
// rewind gets the object again, only if it is still the same (If-Match).
type s3Body struct {
	ctx         context.Context
	s3c         *s3.Client
	bucket, key string
	etag        string
	body        io.ReadCloser
}

func (b *s3Body) Read(p []byte) (int, error) { return b.body.Read(p) }
func (b *s3Body) Close() error               { return b.body.Close() }

func (b *s3Body) rewind() error {
	b.body.Close()
	in := &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.key)}
	if b.etag != "" {
		in.IfMatch = aws.String(b.etag)
	}
	out, err := b.s3c.GetObject(b.ctx, in)
	if err != nil {
		b.body = io.NopCloser(strings.NewReader(""))
		return s3Error("GetObject (manifest, again)", b.bucket, b.key, err)
	}
	b.body = out.Body
	return nil
}

// rewinder is a stream that can start again from its beginning.
type rewinder interface{ rewind() error }

// rewindable returns a function that starts r again where it is now, and
// the reader to read: r itself, or a copy in memory of one that can neither
// be rewound nor seek (up to maxBufferedManifest). A longer stream of that
// kind cannot be read twice: rewind is then nil and the reader gives the
// buffered start followed by the rest of r.
func rewindable(r io.Reader) (func() error, io.Reader, error) {
	switch v := r.(type) {
	case rewinder:
		return v.rewind, r, nil
	case io.Seeker:
		if off, err := v.Seek(0, io.SeekCurrent); err == nil {
			return func() error { _, err := v.Seek(off, io.SeekStart); return err }, r, nil
		}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBufferedManifest+1))
	if err != nil {
		return nil, nil, fmt.Errorf("ingest: manifest: read: %w", err)
	}
	if len(b) > maxBufferedManifest {
		return nil, io.MultiReader(bytes.NewReader(b), r), nil
	}
	br := bytes.NewReader(b)
	return func() error { _, err := br.Seek(0, io.SeekStart); return err }, br, nil
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
// row, in order of their lines.
//
// CSV needs a header row (a UTF-8 BOM is skipped); JSONL has one object per
// line, blank lines skipped, values strings (numbers and null are accepted
// too). Known columns are matched case-insensitively; other columns go to
// Input.Extra under their name as written, within MaxExtraColumns,
// MaxExtraValueBytes and MaxExtraBytes. Blank CSV lines are skipped.
//
// Every row yields exactly one Record with Job, Key (the client id, or
// "#line:N" when it is unusable or shared), Ref, Line (the physical line the
// row starts on; the CSV header is line 1), Input (see CanonicalInput) and
// State pending, or State rejected with RejectReason and ErrorMessage ("line
// N: ..."). A row that cannot be parsed is bad_manifest_row: a CSV quoting
// error costs only the lines it spans (each bad line its own record; see
// csv.go), a JSONL object with a key twice is bad. Rows that share a client
// id are all rejected as duplicate_client_id under their "#line:N" keys,
// none wins. The rest is Validate's verdict. A rejected record keeps what
// was parsed, cut to the bounds a valid row has.
//
// Duplicates are found in a first pass over the manifest (8 bytes of memory
// per row while it runs, and a third pass when there are any), so r is read
// more than once: a Manifest's Body reopens (an s3:// manifest only if the
// object is unchanged), a reader that can seek seeks back, and any other
// reader is held in memory up to 64 MiB; a longer one of that kind is read
// once, and then the first row of a client id is kept (see readOnce).
//
// Only a read error, a header that cannot be used (missing, malformed, no
// client_id column, duplicate columns, too many columns), or an error of fn
// ends ReadManifest with an error; a bad row never does. Errors of fn are
// returned as they are.
func ReadManifest(r io.Reader, format Format, job string, fn func(pipeline.Record) error) error {
	if format != FormatCSV && format != FormatJSONL {
		return fmt.Errorf("ingest: unknown manifest format %q", format)
	}
	rewind, r, err := rewindable(r)
	if err != nil {
		return err
	}
	if rewind == nil {
		return readOnce(r, format, job, fn)
	}
	dups, err := duplicateIDs(r, format, rewind)
	if err != nil {
		return err
	}
	if err := rewind(); err != nil {
		return fmt.Errorf("ingest: manifest: read again: %w", err)
	}
	return scanRows(r, format, func(p parsedRow) error {
		var dup string
		if id, ok := p.clientID(); ok && dups[id] != nil {
			dup = "client_id is also on " + otherLines(dups[id], p.line)
		}
		return fn(p.record(job, dup))
	})
}

// readOnce reads a manifest that cannot be read twice (a stream longer than
// 64 MiB that can neither seek nor be reopened): a client id's later rows
// are rejected as duplicate_client_id, but its first row, already given to
// fn, is kept. The ids seen are remembered as 64-bit hashes with a random
// seed (a collision, about n²/2^65 for n rows, would reject a row wrongly).
func readOnce(r io.Reader, format Format, job string, fn func(pipeline.Record) error) error {
	seed := maphash.MakeSeed()
	first := make(map[uint64]int)
	return scanRows(r, format, func(p parsedRow) error {
		var dup string
		if id, ok := p.clientID(); ok {
			h := maphash.String(seed, id)
			if l, seen := first[h]; seen {
				dup = fmt.Sprintf("client_id is also on line %d (kept: the manifest could not be read twice)", l)
			} else {
				first[h] = p.line
			}
		}
		return fn(p.record(job, dup))
	})
}

// duplicateIDs returns, for every client id on more than one row, the lines
// of those rows. A first pass collects a 64-bit hash of every usable client
// id; only when two hashes match does a second pass compare the ids.
func duplicateIDs(r io.Reader, format Format, rewind func() error) (map[string][]int, error) {
	seed := maphash.MakeSeed()
	var hashes []uint64
	err := scanRows(r, format, func(p parsedRow) error {
		if id, ok := p.clientID(); ok {
			hashes = append(hashes, maphash.String(seed, id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(hashes)
	var cand map[uint64]bool
	for i := 1; i < len(hashes); i++ {
		if hashes[i] == hashes[i-1] {
			if cand == nil {
				cand = make(map[uint64]bool)
			}
			cand[hashes[i]] = true
		}
	}
	hashes = nil
	if len(cand) == 0 {
		return nil, nil
	}
	if err := rewind(); err != nil {
		return nil, fmt.Errorf("ingest: manifest: read again: %w", err)
	}
	lines := make(map[string][]int)
	err = scanRows(r, format, func(p parsedRow) error {
		if id, ok := p.clientID(); ok && cand[maphash.String(seed, id)] {
			lines[id] = append(lines[id], p.line)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, l := range lines {
		if len(l) < 2 {
			delete(lines, id)
		}
	}
	return lines, nil
}

// parsedRow is one row of a manifest before validation: a row, or the
// reason (msg) it could not be parsed.
type parsedRow struct {
	line int
	rw   row
	msg  string
}

// clientID returns the client id of a parsed row, if it is usable (it is
// then the row's Key, unless shared).
func (p parsedRow) clientID() (string, bool) {
	if p.msg != "" {
		return "", false
	}
	id := strings.TrimSpace(p.rw.fields[colClientID])
	return id, clientIDProblem(id) == ""
}

// scanRows parses the rows of a manifest, calling fn for each.
func scanRows(r io.Reader, format Format, fn func(parsedRow) error) error {
	if format == FormatCSV {
		return scanCSV(r, fn)
	}
	return scanJSONL(r, fn)
}

// row is one parsed manifest row before validation.
type row struct {
	fields map[string]string // known columns
	extra  map[string]string
	nExtra int    // bytes of extra names and values
	over   string // why the extra columns are over the bounds, or ""
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
	if len(rw.extra) > 0 && rw.over == "" {
		in.Extra = rw.extra
	}
	return in
}

// setExtra keeps an unknown column's value, within the bounds.
func (rw *row) setExtra(k, v string) {
	if rw.over != "" {
		return
	}
	switch {
	case len(rw.extra) >= MaxExtraColumns:
		rw.over = fmt.Sprintf("more than %d columns that are not idbatch's", MaxExtraColumns)
	case len(v) > MaxExtraValueBytes:
		rw.over = fmt.Sprintf("extra column %s: value longer than %d bytes", quoteShort(k), MaxExtraValueBytes)
	case rw.nExtra+len(k)+len(v) > MaxExtraBytes:
		rw.over = fmt.Sprintf("extra columns longer than %d bytes in all", MaxExtraBytes)
	}
	if rw.over != "" {
		rw.extra = nil
		return
	}
	if rw.extra == nil {
		rw.extra = make(map[string]string)
	}
	rw.extra[k] = v
	rw.nExtra += len(k) + len(v)
}

// lineKey is the key of a row without a usable client id of its own.
func lineKey(line int) string { return "#line:" + strconv.Itoa(line) }

// record builds the record of a parsed row; dup, when not "", says which
// other rows have its client id.
func (p parsedRow) record(job string, dup string) pipeline.Record {
	if p.msg != "" {
		return badRow(job, p.line, p.msg)
	}
	in := p.rw.input()
	key := in.ClientID
	var err error
	if dup != "" {
		err = pipeline.Reject(pipeline.RejectDuplicateClientID, dup)
		key = lineKey(p.line)
	} else if clientIDProblem(key) != "" {
		key = lineKey(p.line)
	}
	if err == nil && p.rw.over != "" {
		err = pipeline.Reject(pipeline.RejectBadManifestRow, p.rw.over)
	}
	if err == nil {
		err = Validate(in)
	}
	rec := pipeline.Record{Job: job, Key: key, Ref: pipeline.RefFor(job, key), Line: p.line, Input: in, State: pipeline.StatePending}
	if err != nil {
		var re *pipeline.RejectError
		errors.As(err, &re)
		rec.State = pipeline.StateRejected
		rec.RejectReason = re.Code
		rec.ErrorMessage = fmt.Sprintf("line %d: %s", p.line, re.Detail)
		rec.Input = clipInput(in)
	}
	return rec
}

// otherLines names the lines of a duplicate client id other than this one.
func otherLines(lines []int, this int) string {
	var b strings.Builder
	n := 0
	for _, l := range lines {
		if l == this {
			continue
		}
		if n == 5 {
			fmt.Fprintf(&b, " and %d more", len(lines)-1-n)
			break
		}
		if n > 0 {
			b.WriteString(", ")
		} else if len(lines) > 2 {
			b.WriteString("lines ")
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(l))
		n++
	}
	return b.String()
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

// skipBOM returns a reader of r without a leading UTF-8 byte order mark.
func skipBOM(r io.Reader) *bufio.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	return br
}

func scanCSV(r io.Reader, fn func(parsedRow) error) error {
	cr := newCSVReader(r)
	header, err := cr.header()
	if err != nil {
		return err
	}
	names, err := csvHeader(header)
	if err != nil {
		return err
	}
	for {
		rec, err := cr.read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ingest: manifest: read: %w", err)
		}
		p := parsedRow{line: rec.line}
		switch {
		case rec.bad != "":
			p.msg = rec.bad
		case len(rec.fields) == 1 && len(names) > 1 && strings.TrimSpace(rec.fields[0]) == "":
			continue // a blank line with spaces
		case len(rec.fields) != len(names):
			cr.reject(rec)
			p.msg = fmt.Sprintf("%d fields, header has %d", len(rec.fields), len(names))
		default:
			rw := row{fields: make(map[string]string, len(knownColumns))}
			for i, v := range rec.fields {
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
			p.rw = rw
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// csvHeader maps header cells to column names: known columns lower-cased,
// others as written (trimmed), empty cells "".
func csvHeader(header []string) ([]string, error) {
	if len(header) > MaxColumns {
		return nil, fmt.Errorf("ingest: manifest header: %d columns, at most %d are read", len(header), MaxColumns)
	}
	names := make([]string, len(header))
	seen := make(map[string]bool, len(header))
	unknown := 0
	for i, h := range header {
		n := strings.TrimSpace(h)
		if l := strings.ToLower(n); knownColumns[l] {
			n = l
		} else if n != "" {
			unknown++
		}
		if n != "" {
			if seen[n] {
				return nil, fmt.Errorf("ingest: manifest header: column %s appears twice", quoteShort(n))
			}
			seen[n] = true
		}
		names[i] = n
	}
	if !seen[colClientID] {
		return nil, fmt.Errorf("ingest: manifest header: no %s column", colClientID)
	}
	if unknown > MaxExtraColumns {
		return nil, fmt.Errorf("ingest: manifest header: %d columns that are not idbatch's, at most %d are kept (as extra)", unknown, MaxExtraColumns)
	}
	return names, nil
}

func scanJSONL(r io.Reader, fn func(parsedRow) error) error {
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
		p := parsedRow{line: line}
		switch {
		case tooLong:
			p.msg = fmt.Sprintf("line longer than %d bytes", MaxRowBytes)
		case len(bytes.TrimSpace(b)) == 0:
			if err == io.EOF {
				return nil
			}
			continue
		default:
			p.rw, p.msg = jsonRow(b)
		}
		if err := fn(p); err != nil {
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

// jsonRow parses one JSONL line; msg says why it is not a row. A key that
// appears twice (known columns in any case) makes the line bad: encoding/json
// would silently keep the last value.
func jsonRow(b []byte) (row, string) {
	b = bytes.TrimSpace(b)
	if b[0] != '{' {
		return row{}, "invalid JSON: not an object"
	}
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		if err == nil {
			err = errors.New("not valid")
		}
		return row{}, "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return row{}, "invalid JSON: " + err.Error()
	}
	rw := row{fields: make(map[string]string, len(knownColumns))}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return row{}, "invalid JSON: " + err.Error()
		}
		k, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return row{}, "invalid JSON: " + err.Error()
		}
		name := strings.TrimSpace(k)
		if l := strings.ToLower(name); knownColumns[l] {
			name = l
		}
		if seen[name] {
			return row{}, fmt.Sprintf("duplicate key %s", quoteShort(name))
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
		if rw.over != "" {
			return rw, "" // the row is rejected for it; the rest is not read
		}
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
