package export

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/idbatch/idbatch/pipeline"
)

// manifestColumns are the manifest's columns, first in failures.csv so that
// the file, fixed, loads again as a manifest.
var manifestColumns = []string{
	"client_id", "first_name", "last_name", "date_of_birth", "country", "document_type",
	"front", "back", "face", "utility_bill",
}

// reasonColumns follow the manifest columns (and the extra ones) in
// failures.csv. Loaded again as a manifest, they are kept as extra columns.
var reasonColumns = []string{"line", "state", "reject_reason", "error_code", "error_message", "scan_ref"}

// WriteFailuresCSV writes a failures CSV: a header, then one row per record
// in recs, in the given order (the Exporter gives the rejected and failed
// records of one export). The columns are those of the manifest
// (client_id ... utility_bill), then the record's unknown manifest columns
// (extra, by name, sorted), then line (the manifest line, empty when
// unknown), state, reject_reason, error_code, error_message and scan_ref.
// Values are RFC 4180-quoted, and neutralized for spreadsheets (see
// SpreadsheetSafe): compliance staff open this file in Excel.
func WriteFailuresCSV(w io.Writer, recs []pipeline.Record) error {
	var f failuresBuf
	for _, rec := range recs {
		f.add(rec)
	}
	return f.writeTo(w)
}

// failuresBuf collects the rows of a failures CSV as the records come, so
// that an export holds a few hundred bytes per rejected or failed record
// rather than the record. A row's fields are CSV-encoded at once, in two
// parts (the manifest columns, the reason columns); the extra columns, whose
// set is known only at the end, are encoded when the file is written. The
// output is that of WriteFailuresCSV.
type failuresBuf struct {
	buf   []byte // the encoded rows, one after another
	rows  []failureRow
	extra map[string]bool // extra column names seen
	enc   *csv.Writer     // encodes into scratch
	scr   bytes.Buffer
	field []string
}

type failureRow struct {
	mid, end int               // buf[previous end:mid] manifest fields, buf[mid:end] reason fields, each ending in '\n'
	extra    map[string]string // the record's unknown manifest columns, nil if none
}

func (f *failuresBuf) len() int { return len(f.rows) }

// encode returns fields made SpreadsheetSafe and CSV-encoded, ending in
// '\n'; valid until the next call. It changes fields in place.
func (f *failuresBuf) encode(fields []string) []byte {
	if f.enc == nil {
		f.enc = csv.NewWriter(&f.scr)
	}
	for i, v := range fields {
		fields[i] = SpreadsheetSafe(v)
	}
	f.scr.Reset()
	_ = f.enc.Write(fields) // a bytes.Buffer does not fail
	f.enc.Flush()
	return f.scr.Bytes()
}

func (f *failuresBuf) add(rec pipeline.Record) {
	in := rec.Input
	f.field = append(f.field[:0], in.ClientID, in.FirstName, in.LastName, in.DateOfBirth, in.Country, in.DocumentType,
		in.Sources[pipeline.SideFront], in.Sources[pipeline.SideBack], in.Sources[pipeline.SideFace], in.Sources[pipeline.SideUtilityBill])
	f.buf = append(f.buf, f.encode(f.field)...)
	row := failureRow{mid: len(f.buf)}
	line := ""
	if rec.Line > 0 {
		line = strconv.Itoa(rec.Line)
	}
	f.field = append(f.field[:0], line, string(rec.State), rec.RejectReason, rec.ErrorCode, rec.ErrorMessage, rec.ScanRef)
	f.buf = append(f.buf, f.encode(f.field)...)
	row.end = len(f.buf)
	for k := range in.Extra {
		if !slices.Contains(manifestColumns, k) && !slices.Contains(reasonColumns, k) {
			if f.extra == nil {
				f.extra = map[string]bool{}
			}
			f.extra[k] = true
			row.extra = in.Extra
		}
	}
	f.rows = append(f.rows, row)
}

// writeTo writes the CSV: the header, then the rows in the order added.
func (f *failuresBuf) writeTo(w io.Writer) error {
	extra := make([]string, 0, len(f.extra))
	for k := range f.extra {
		extra = append(extra, k)
	}
	slices.Sort(extra)
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	header := slices.Concat(manifestColumns, extra, reasonColumns)
	for i, v := range header {
		header[i] = SpreadsheetSafe(v) // extra names come from the manifest
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("export: failures csv: %w", err)
	}
	cw.Flush()
	start := 0
	for _, r := range f.rows {
		bw.Write(f.buf[start : r.mid-1]) // without its '\n'; errors are sticky, returned by Flush
		if len(extra) > 0 {
			f.field = f.field[:0]
			for _, k := range extra {
				f.field = append(f.field, r.extra[k])
			}
			b := f.encode(f.field)
			bw.WriteByte(',')
			bw.Write(b[:len(b)-1])
		}
		bw.WriteByte(',')
		bw.Write(f.buf[r.mid:r.end])
		start = r.end
	}
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: failures csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: failures csv: %w", err)
	}
	return nil
}

// formulaStart holds the first characters that make a spreadsheet (Excel,
// LibreOffice Calc, Google Sheets) read a cell as a formula or a DDE command:
// = + - @, tab and carriage return (OWASP, "CSV Injection").
const formulaStart = "=+-@\t\r"

// SpreadsheetSafe neutralizes a CSV cell for spreadsheets, by the OWASP rule:
// a value that starts with = + - @, a tab or a carriage return gets a single
// quote in front ('=HYPERLINK(…) is shown as text, never evaluated). Other
// values are returned as they are. The quote is part of the value: remove
// it before loading the file again as a manifest (docs/analysts.md).
func SpreadsheetSafe(v string) string {
	if v != "" && strings.IndexByte(formulaStart, v[0]) >= 0 {
		return "'" + v
	}
	return v
}
