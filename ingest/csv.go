package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The CSV reader of manifests. encoding/csv reads a record until its
// quotes balance: an unclosed quote in one row swallows every row up to
// the next quote character, or to the end of the file, as one bad record.
// This reader parses the same dialect (RFC 4180, as encoding/csv with
// FieldsPerRecord = -1 and LazyQuotes off: "" escapes a quote in a quoted
// field, \r\n ends a line, a trailing \r at the end of the input and blank
// lines are dropped), but knows where each physical line starts: when a
// record that spans several lines turns out bad (a quoting error, the end of
// the input inside quotes, more than MaxRowBytes, or a caller's verdict such
// as the wrong number of fields), only its first line is reported bad, and
// reading starts again at the next physical line. A quoting error thus
// costs the lines it really spans, each reported with its own number, and
// the good rows after it survive.

// physLine is one physical line of the input, without its line ending.
type physLine struct {
	text    []byte
	n       int  // 1-based line number
	tooLong bool // longer than MaxRowBytes: text is empty
}

// lineSource reads physical lines, and takes lines back to be read again.
type lineSource struct {
	br   *bufio.Reader
	n    int
	back []physLine // read again first, in order
	eof  bool
	max  int
}

func (s *lineSource) next() (physLine, error) {
	if len(s.back) > 0 {
		l := s.back[0]
		s.back = s.back[1:]
		return l, nil
	}
	if s.eof {
		return physLine{}, io.EOF
	}
	b, tooLong, err := readLine(s.br, nil, s.max)
	if err != nil && err != io.EOF {
		return physLine{}, err
	}
	if err == io.EOF {
		s.eof = true
		if len(b) == 0 && !tooLong {
			return physLine{}, io.EOF
		}
	}
	s.n++
	return physLine{text: b, n: s.n, tooLong: tooLong}, nil
}

// unread puts lines back, before anything already put back.
func (s *lineSource) unread(lines []physLine) {
	if len(lines) == 0 {
		return
	}
	s.back = append(append([]physLine(nil), lines...), s.back...)
}

// csvRecord is one record, or the reason its first line is bad.
type csvRecord struct {
	fields []string
	line   int        // the line the record starts on
	rest   []physLine // the lines after the first one it spans
	bad    string     // why the record is bad; fields are then nil
}

// csvReader yields records; see the comment at the top of the file.
type csvReader struct {
	src    lineSource
	fields []string
	field  []byte
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{src: lineSource{br: skipBOM(r), max: MaxRowBytes}}
}

const (
	stFieldStart = iota // at the start of a field
	stUnquoted          // in a field that does not start with a quote
	stQuoted            // in a quoted field
	stQuote             // just after a quote in a quoted field
)

// read returns the next record, io.EOF at the end, or a read error. A bad
// record spanning several lines has already given its other lines back.
func (c *csvReader) read() (csvRecord, error) {
	var first physLine
	for {
		l, err := c.src.next()
		if err != nil {
			return csvRecord{}, err
		}
		if l.tooLong {
			return csvRecord{line: l.n, bad: fmt.Sprintf("line longer than %d bytes", MaxRowBytes)}, nil
		}
		if len(l.text) > 0 {
			first = l
			break
		}
	}
	c.fields, c.field = c.fields[:0], c.field[:0]
	var rest []physLine
	fail := func(msg string) (csvRecord, error) {
		c.src.unread(rest)
		return csvRecord{line: first.n, bad: msg}, nil
	}
	st, size, l := stFieldStart, 0, first
	for {
		size += len(l.text) + 1
		for i, ch := range l.text {
			switch st {
			case stFieldStart:
				switch ch {
				case '"':
					st = stQuoted
				case ',':
					c.endField()
				default:
					c.field = append(c.field, ch)
					st = stUnquoted
				}
			case stUnquoted:
				switch ch {
				case ',':
					c.endField()
					st = stFieldStart
				case '"':
					return fail(fmt.Sprintf("malformed CSV: bare \" in a field that is not quoted (line %d, byte %d)", l.n, i+1))
				default:
					c.field = append(c.field, ch)
				}
			case stQuoted:
				if ch == '"' {
					st = stQuote
				} else {
					c.field = append(c.field, ch)
				}
			case stQuote:
				switch ch {
				case '"':
					c.field = append(c.field, '"')
					st = stQuoted
				case ',':
					c.endField()
					st = stFieldStart
				default:
					return fail(fmt.Sprintf("malformed CSV: extraneous or missing \" in a quoted field (line %d, byte %d)", l.n, i+1))
				}
			}
		}
		if st != stQuoted {
			c.endField()
			return csvRecord{fields: c.fields, line: first.n, rest: rest}, nil
		}
		// A quoted field goes on on the next line.
		next, err := c.src.next()
		switch {
		case err == io.EOF:
			return fail("malformed CSV: quoted field not closed before the end of the manifest")
		case err != nil:
			return csvRecord{}, err
		case next.tooLong || size+len(next.text) > MaxRowBytes:
			rest = append(rest, next)
			return fail(fmt.Sprintf("malformed CSV: quoted field not closed within %d bytes", MaxRowBytes))
		}
		c.field = append(c.field, '\n')
		rest = append(rest, next)
		l = next
	}
}

func (c *csvReader) endField() {
	c.fields = append(c.fields, string(c.field))
	c.field = c.field[:0]
}

// reject reports a record the caller found bad (say, by its number of
// fields): when it spans several lines, they are read again from its second
// line on, and only its first line is the bad row.
func (c *csvReader) reject(rec csvRecord) {
	c.src.unread(rec.rest)
}

var errNoHeader = errors.New("ingest: manifest: empty CSV, no header row")

// header reads the header record: any fault in it is an error.
func (c *csvReader) header() ([]string, error) {
	rec, err := c.read()
	switch {
	case err == io.EOF:
		return nil, errNoHeader
	case err != nil:
		return nil, fmt.Errorf("ingest: manifest header: %w", err)
	case rec.bad != "":
		return nil, fmt.Errorf("ingest: manifest header: %s", rec.bad)
	case len(rec.rest) > 0:
		return nil, errors.New("ingest: manifest header: spans several lines")
	}
	return append([]string(nil), rec.fields...), nil
}
