package pipeline

// Log keys shared by the stages, so that one attribute has one name in every
// log line: a query for err=… or record=… finds them all. Values logged
// under these keys are never personal data: records are named by their
// Store id and scan_ref, never by client id or document fields.
//
// submit/idenfy, which imports no idbatch package, keeps its own constants
// with the same spellings (its logError is "err" too).
const (
	// LogKeyErr is the key of an error. Always "err", never "error".
	LogKeyErr = "err"
	// LogKeyJob is the job name.
	LogKeyJob = "job"
	// LogKeyRecord is a record's Store id (Record.ID).
	LogKeyRecord = "record"
	// LogKeyScanRef is iDenfy's scanRef of a record's verification.
	LogKeyScanRef = "scan_ref"
	// LogKeyStage names the stage of a logger made with .With(LogKeyStage, …).
	LogKeyStage = "stage"
)
