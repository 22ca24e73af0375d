package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// Check names, as Result.Name.
const (
	NameCredentials = "credentials"
	NameStore       = "store"
	NameDestination = "destination"
	NameWebhook     = "webhook"
)

// DefaultTimeout bounds a check whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// Result is one line of the checklist.
type Result struct {
	Name     string   // NameCredentials, NameStore, …
	OK       bool     // the check passed (Warnings may still be set)
	Detail   string   // what was found; on failure the error's message
	Warnings []string // acceptable, but worth a look
	Err      error    // nil when OK; errors.Is/As see the underlying errors
	Took     time.Duration
}

// String is the result's line, "✓ name  detail" or "✗ name  detail",
// followed by one "  ! warning" line per warning.
func (r Result) String() string {
	mark := "✓"
	if !r.OK {
		mark = "✗"
	}
	var b strings.Builder
	// Continuation lines of a detail (a joined error) align under its first.
	detail := strings.ReplaceAll(r.Detail, "\n", "\n"+strings.Repeat(" ", 15))
	fmt.Fprintf(&b, "%s %-12s %s", mark, r.Name, detail)
	for _, w := range r.Warnings {
		b.WriteString("\n  ! ")
		b.WriteString(w)
	}
	return b.String()
}

// Print writes the results as a checklist and returns how many failed.
func Print(w io.Writer, rs ...Result) (failed int) {
	for _, r := range rs {
		fmt.Fprintln(w, r.String())
		if !r.OK {
			failed++
		}
	}
	return failed
}

// Err is nil when every result passed, else an error naming the checks
// that failed: "pre-flight checks failed (see above): credentials,
// destination". Their details are in the checklist Print writes.
func Err(rs ...Result) error {
	var failed []string
	for _, r := range rs {
		if !r.OK {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return errors.New("pre-flight checks failed (see above): " + strings.Join(failed, ", "))
}

// result completes a Result from the outcome of a check.
func result(name string, start time.Time, detail string, warnings []string, err error) Result {
	r := Result{Name: name, OK: err == nil, Detail: detail, Warnings: warnings, Err: err, Took: time.Since(start)}
	if err != nil {
		r.Detail = err.Error()
	}
	return r
}

// withTimeout applies DefaultTimeout when ctx has no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// seconds formats a duration as the checklist shows it: "0.2 s", "35 ms".
func seconds(d time.Duration) string {
	if d < 100*time.Millisecond {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// Credentials checks the API key and secret with one cheap authenticated
// call (idenfy.Client.CheckCredentials: no verification spent, nothing
// created). The call goes through the client's Limiter: give it the
// client a run would use.
func Credentials(ctx context.Context, c *idenfy.Client) Result {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	start := time.Now()
	err := c.CheckCredentials(ctx)
	took := time.Since(start)
	return result(NameCredentials, start,
		fmt.Sprintf("iDenfy accepted the API key and secret (POST %s%s, %s)", c.BaseURL(), idenfy.PathStatus, seconds(took)), nil, err)
}

// Destination checks that the export destination can be written: it
// writes, reads back and deletes a probe object (objstore.Probe).
func Destination(ctx context.Context, d objstore.Dest) Result {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	start := time.Now()
	loc, err := objstore.Probe(ctx, d)
	took := time.Since(start)
	return result(NameDestination, start, fmt.Sprintf("wrote, read back and deleted %s (%s)", loc, seconds(took)), nil, err)
}

// Store inspects the Store named by dsn (sqlite://PATH with PATH already
// resolved as run resolves it, or postgres://…) without creating or
// migrating anything, and reports its schema version and job's records,
// or that run will create it. The DSN itself never appears in the Result.
func Store(ctx context.Context, dsn, job string) Result {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	start := time.Now()
	var kind string
	var info pipeline.StoreInfo
	var err error
	switch {
	case strings.HasPrefix(dsn, sqlitestore.Scheme):
		kind = "sqlite"
		info, err = sqlitestore.Inspect(ctx, strings.TrimPrefix(dsn, sqlitestore.Scheme), job)
	case pgstore.IsDSN(dsn):
		kind = "postgres"
		info, err = pgstore.Inspect(ctx, dsn, job)
	default:
		scheme, _, ok := strings.Cut(dsn, "://")
		if !ok {
			scheme = "(none)"
		} else {
			scheme += "://"
		}
		err = fmt.Errorf("store: unknown DSN scheme %s; use sqlite://PATH, postgres://… or postgresql://…", scheme)
	}
	return result(NameStore, start, storeDetail(kind, job, info), nil, err)
}

// storeDetail describes what Inspect found.
func storeDetail(kind, job string, info pipeline.StoreInfo) string {
	where := kind + " " + info.Where + ": "
	switch {
	case !info.Exists && kind == "sqlite" && info.CreateDir != "":
		return where + "does not exist yet, will be created by run (with directory " + info.CreateDir + ")"
	case !info.Exists && kind == "sqlite":
		return where + "does not exist yet, will be created by run"
	case !info.Exists:
		return where + "reachable, no idbatch tables yet: run will create them"
	case info.SchemaVersion == 0:
		return where + "an empty database: run will create the schema"
	}
	s := fmt.Sprintf("%sreachable, schema version %d, job %s has %d records", where, info.SchemaVersion, job, info.Records)
	if info.SchemaVersion < info.LatestVersion {
		s += fmt.Sprintf("; run will migrate it to version %d", info.LatestVersion)
	}
	return s
}

// Webhook checks the webhook settings (results.CheckWebhook): the callback
// URL iDenfy will call, the receiver's listen address (bound and closed at
// once), its path and the signing key.
func Webhook(ctx context.Context, s results.WebhookSettings) Result {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	start := time.Now()
	c, err := results.CheckWebhook(ctx, s)
	return result(NameWebhook, start, c.Detail, c.Warnings, err)
}
