package pipeline

import (
	"context"
	"time"
)

// Prepared holds the normalized images of one record, in memory only: images
// are never written to disk.
type Prepared struct {
	Images map[Side][]byte
	Hashes map[Side]string // hex sha256 of each normalized image
	Bytes  int
}

// Preparer fetches and normalizes a record's images. A *RejectError means the
// record can never be verified (no money is spent on it); any other error is
// infrastructure (the record is retried later).
type Preparer interface {
	Prepare(ctx context.Context, rec Record) (Prepared, error)
}

// Submitter moves a claimed record through token and process with the crash
// protocol of the design. Submit handles pending and tokened records; it
// writes every outcome to the Store itself and returns an error only for
// conditions that must stop the run (out of credits, bad credentials, store
// failure). Reconcile decides what to do with a record found tokened at the
// start of its claim (a previous process died between token and process):
// it returns true when the token is still unused and the images must be
// uploaded with it, false when the record has been moved on.
type Submitter interface {
	Submit(ctx context.Context, rec Record, p Prepared) (SubmitOutcome, error)
	Reconcile(ctx context.Context, rec Record) (needsProcess bool, err error)
}

// SubmitOutcome summarizes what Submit did, for counters and the summary.
type SubmitOutcome struct {
	State     State  // the state the record ended in
	Code      string // error code or reason when not submitted
	Charged   bool   // a token was created in this call
	Submitted bool   // /process accepted the images in this call
}

// Exporter writes end-state records not yet exported and marks them exported.
type Exporter interface {
	Export(ctx context.Context) (ExportReport, error)
}

// ExportReport says what an export wrote.
type ExportReport struct {
	Files     []string       `json:"files"`
	Rows      int            `json:"rows"`
	ByOutcome map[string]int `json:"by_outcome"`
}

// Clock is time.Now, injectable in tests.
type Clock func() time.Time
