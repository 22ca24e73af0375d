package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

//go:embed report.html.tmpl
var tmplFS embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur":  func(d time.Duration) string { return d.Round(time.Second).String() },
	"secs": func(s float64) string { return time.Duration(s * float64(time.Second)).Round(time.Second).String() },
	"svg":  func(s string) template.HTML { return template.HTML(s) }, // drawn by gonum/plot, text escaped by vgsvg
	"hours": func(h float64) string {
		if h <= 0 {
			return "—"
		}
		return time.Duration(h * float64(time.Hour)).Round(time.Minute).String()
	},
}).ParseFS(tmplFS, "report.html.tmpl"))

// view is what the template reads.
type view struct {
	*Report
	Title   string
	Verdict string
	Charts  []Chart
	States  []kv
	Reasons []kv
}

type kv struct {
	K string
	V int
}

// WriteHTML renders the report as one self-contained HTML document.
func (r *Report) WriteHTML(w io.Writer) error {
	charts, err := r.charts()
	if err != nil {
		return err
	}
	v := view{Report: r, Charts: charts, Reasons: sorted(r.Reasons)}
	if r.RunID != "" {
		v.Title = fmt.Sprintf("idbatch run %s — job %s", r.RunID, r.Job)
	} else {
		v.Title = fmt.Sprintf("idbatch job %s — all runs", r.Job)
	}
	if r.Summary != nil {
		v.Verdict = verdict(r.Summary.ExitCode)
	}
	for _, s := range pipeline.AllStates {
		v.States = append(v.States, kv{string(s), r.States[s]})
	}
	return page.Execute(w, v)
}

func sorted(m map[string]int) []kv {
	out := make([]kv, 0, len(m))
	for k, n := range m {
		if n > 0 {
			out = append(out, kv{k, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].V != out[j].V {
			return out[i].V > out[j].V
		}
		return out[i].K < out[j].K
	})
	return out
}

// verdict words the exit codes of DESIGN.md.
func verdict(code int) string {
	switch code {
	case pipeline.ExitOK:
		return "done"
	case pipeline.ExitFatal:
		return "failed (fatal error)"
	case pipeline.ExitTooManyFailures:
		return "done, too many rejected or failed records"
	case pipeline.ExitInterrupted:
		return "interrupted"
	}
	return fmt.Sprintf("exit %d", code)
}
