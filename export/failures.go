package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/idbatch/idbatch/pipeline"
)

// FailuresHeader is the header row of failures.csv.
var FailuresHeader = []string{
	"client_id", "line", "state", "reject_reason", "error_code", "error_message",
	"source_front", "source_back", "source_face",
}

// WriteFailuresCSV writes failures.csv: a header, then one row per record in
// recs, in the given order (the caller picks the records, normally those
// rejected or failed). line is the manifest line, empty when unknown. Values
// are written as they are (RFC 4180 quoting), not altered for spreadsheets.
func WriteFailuresCSV(w io.Writer, recs []pipeline.Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(FailuresHeader); err != nil {
		return fmt.Errorf("export: failures.csv: %w", err)
	}
	for _, rec := range recs {
		line := ""
		if rec.Line > 0 {
			line = strconv.Itoa(rec.Line)
		}
		err := cw.Write([]string{
			rec.Input.ClientID,
			line,
			string(rec.State),
			rec.RejectReason,
			rec.ErrorCode,
			rec.ErrorMessage,
			rec.Input.Sources[pipeline.SideFront],
			rec.Input.Sources[pipeline.SideBack],
			rec.Input.Sources[pipeline.SideFace],
		})
		if err != nil {
			return fmt.Errorf("export: failures.csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: failures.csv: %w", err)
	}
	return nil
}
