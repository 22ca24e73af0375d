package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"

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
// Values are written as they are (RFC 4180 quoting), not altered for
// spreadsheets.
func WriteFailuresCSV(w io.Writer, recs []pipeline.Record) error {
	var extra []string
	for _, r := range recs {
		for k := range r.Input.Extra {
			if !slices.Contains(extra, k) && !slices.Contains(manifestColumns, k) && !slices.Contains(reasonColumns, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	cw := csv.NewWriter(w)
	header := slices.Concat(manifestColumns, extra, reasonColumns)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("export: failures csv: %w", err)
	}
	row := make([]string, 0, len(header))
	for _, rec := range recs {
		in := rec.Input
		row = append(row[:0], in.ClientID, in.FirstName, in.LastName, in.DateOfBirth, in.Country, in.DocumentType,
			in.Sources[pipeline.SideFront], in.Sources[pipeline.SideBack], in.Sources[pipeline.SideFace], in.Sources[pipeline.SideUtilityBill])
		for _, k := range extra {
			row = append(row, in.Extra[k])
		}
		line := ""
		if rec.Line > 0 {
			line = strconv.Itoa(rec.Line)
		}
		row = append(row, line, string(rec.State), rec.RejectReason, rec.ErrorCode, rec.ErrorMessage, rec.ScanRef)
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("export: failures csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: failures csv: %w", err)
	}
	return nil
}
