// Package report renders the run report: one self-contained HTML file per
// run, <destination>/_runs/job=<job>/run-<run_id>.html beside the run's JSON
// summary, and a job report across every run of a job.
//
// It also renders the rest of what a run leaves and shows: the JSON summary
// and the HTML report saved beside the export (SaveSummary, SaveRunReport,
// at SummaryPath and RunReportPath), the summary printed for people
// (WriteSummary) or logged as one JSON line (FinalSummary), the progress as
// a terminal line (ProgressLine) or log lines (ProgressLog), a job's status
// (WriteStatus, from pipeline.CollectStatus), and what `idbatch validate`
// shows: its progress (ValidateProgress) and its report (WriteValidate).
//
// The file needs no network: CSS is inline, and the charts are SVG drawn by
// gonum/plot (vg/vgsvg, fonts named, not embedded) and inlined. One small
// inline script checks that every chart figure holds an SVG that has a size
// and marks <body data-ok="true"> (the browser test reads that mark); the
// report reads the same without it.
//
// What it shows: records by outcome and by reject/failure reason (with where
// failures.csv is), API requests per minute against the configured limit,
// 429s and errors by kind, the time from submission to the final result,
// possible orphan tokens and what happens to them, the tokens and
// verifications spent and the work that remains.
//
// It is opened widely (compliance, operators): it holds counts, reason
// codes, error kinds and timings only — no client id, name, document field,
// image or scanRef.
//
// Its inputs are a pipeline.Summary (the run's, or each stored run's) and
// what the Store holds (Counts, List, Runs); a Summary carries the API's
// per-minute requests under Extra["api_per_minute"] ([]Minute) when the run
// recorded them. Without that series the report derives submissions per
// minute from the records' submitted_at and says so.
package report
