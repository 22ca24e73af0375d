package report

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/ingest"
)

// validate's report: outcomes, reasons sorted, where the rejected rows are,
// the calls and their time, the runs of max_duration and max_submissions,
// the cost; "no API call was made" unless checks follow.
func TestWriteValidate(t *testing.T) {
	rep := ingest.ValidateReport{Records: 10, Ready: 6, Infra: 1, ByReason: map[string]int{"too_small": 2, "bad_country": 1}}
	var b bytes.Buffer
	WriteValidate(&b, rep, ValidateOptions{RejectsPath: "/x/j-rejects.csv", RequestsPerHour: 10, MaxDuration: time.Hour,
		MaxSubmissions: 4, Sample: 10, Price: 0.9})
	want := "a random sample of 10 records was validated (-sample); the figures below are for the sample\n" +
		"records: 10; ready to submit: 6; rejected: 3; fetch errors: 1\n" +
		"rejected by reason:\n" +
		"  bad_country              1\n" +
		"  too_small                2\n" +
		"rejected rows (manifest columns, line, reason; fix them and load the file as a manifest): /x/j-rejects.csv\n" +
		"API calls a run needs: 12 (token + process per ready record)\n" +
		"time at 10 requests/hour: 1h12m0s (5 records/hour)\n" +
		"runs of limits.max_duration 1h: 2\n" +
		"limits.max_submissions 4: 2 runs\n" +
		"cost at 0.90 per verification: 5.40 for 6 verifications (tokens that expire unused or a resend cost more)\n" +
		"no API call was made\n"
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	WriteValidate(&b, ingest.ValidateReport{Records: 2, Ready: 2}, ValidateOptions{RequestsPerHour: 9000, MaxDuration: 8 * time.Hour, Checks: true})
	want = "records: 2; ready to submit: 2; rejected: 0; fetch errors: 0\n" +
		"API calls a run needs: 4 (token + process per ready record)\n" +
		"time at 9000 requests/hour: 2s (4500 records/hour)\n" +
		"runs of limits.max_duration 8h: 1\n"
	if b.String() != want {
		t.Errorf("report with checks:\n%s\nwant:\n%s", b.String(), want)
	}
}

// On a terminal: the line, redrawn at most every 200 ms and when done,
// cleared for a message; otherwise log lines, none before ProgressEvery.
func TestValidateProgress(t *testing.T) {
	var tty, logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	p := NewValidateProgress(&tty, log, true)
	p.Show(ingest.ValidateProgress{Done: 1, Total: 3, Ready: 1, Elapsed: time.Second}) // too soon
	p.Clear()                                                                          // nothing drawn yet
	p.Show(ingest.ValidateProgress{Done: 3, Total: 3, Ready: 2, Rejected: 1, Elapsed: 3 * time.Second})
	p.Clear()
	p.Finish() // the line was cleared: nothing to end
	want := "\r\033[Kvalidated 3/3 records (2 ready, 1 rejected, 0 fetch errors) · 3600 rec/h\r\033[K"
	if tty.String() != want || logs.Len() != 0 {
		t.Errorf("terminal:\n%q\nwant\n%q\nlogs: %s", tty.String(), want, logs.String())
	}

	tty.Reset()
	p = NewValidateProgress(&tty, log, false)
	p.Show(ingest.ValidateProgress{Done: 3, Total: 3, Elapsed: time.Second})
	p.last = time.Now().Add(-ProgressEvery)
	p.Show(ingest.ValidateProgress{Done: 4, Total: 10, Ready: 4, Elapsed: time.Hour})
	p.Finish()
	lines := logLines(t, logs.String())
	if tty.Len() != 0 || len(lines) != 1 || lines[0]["msg"] != "validate progress" || lines[0]["done"] != 4.0 ||
		lines[0]["rate_per_hour"] != 4.0 || lines[0]["eta_seconds"] != 5400.0 {
		t.Errorf("log lines: %v; terminal %q", lines, tty.String())
	}
	if !strings.Contains(logs.String(), `"fetch_errors":0`) {
		t.Errorf("log line: %s", logs.String())
	}
}
