package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one drawn chart: an inline SVG and its caption.
type Chart struct {
	ID      string
	Title   string
	Caption string
	SVG     string // <svg …>…</svg>, without the XML prolog
}

var (
	colBlue   = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
	colRed    = color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}
	colGrey   = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
	outcomeCo = map[string]color.Color{
		"APPROVED":  color.RGBA{R: 0x2e, G: 0x8b, B: 0x57, A: 0xff},
		"DENIED":    colRed,
		"SUSPECTED": color.RGBA{R: 0xe6, G: 0x9a, B: 0x22, A: 0xff},
		"EXPIRED":   colGrey,
		"REJECTED":  color.RGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff},
		"FAILED":    color.RGBA{R: 0x7f, G: 0x1d, B: 0x1d, A: 0xff},
	}
)

const (
	chartW = 22 * vg.Centimeter
	chartH = 8 * vg.Centimeter
)

// render draws p as SVG.
func render(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:] // drop the XML prolog and comment: the SVG is inlined in HTML
	}
	return s, nil
}

// cleanTicks are gonum's default ticks labelled without trailing zeros
// (750, not 750.00).
type cleanTicks struct{}

func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.X.Tick.Marker, p.Y.Tick.Marker = cleanTicks{}, cleanTicks{}
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Title.TextStyle.Font.Size = vg.Points(12)
	return p
}

// barsH draws one horizontal bar per key, largest first (at the top).
func barsH(title, xLabel string, m map[string]int, colorOf func(string) color.Color) (string, error) {
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range m {
		if v > 0 {
			kvs = append(kvs, kv{k, v})
		}
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].v != kvs[j].v {
			return kvs[i].v < kvs[j].v // smallest at the bottom
		}
		return kvs[i].k > kvs[j].k
	})
	p := newPlot(title, xLabel, "")
	names := make([]string, len(kvs))
	for i, e := range kvs {
		names[i] = e.k
		vals := make(plotter.Values, len(kvs))
		vals[i] = float64(e.v)
		b, err := plotter.NewBarChart(vals, vg.Points(14))
		if err != nil {
			return "", err
		}
		b.Horizontal = true
		b.Color = colorOf(e.k)
		b.LineStyle.Width = 0
		p.Add(b)
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(e.v), Y: float64(i)}}, Labels: []string{fmt.Sprint(e.v)}})
		if err != nil {
			return "", err
		}
		l.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(-4)}
		p.Add(l)
	}
	p.NominalY(names...)
	p.X.Min = 0
	p.X.Max *= 1.15
	h := max(vg.Points(40+22*float64(len(kvs))), 4*vg.Centimeter)
	return render(p, chartW, h)
}

// apiPerMinute draws the requests of each minute and the limit.
func apiPerMinute(ms []Minute, limitPerMin float64, fromRecords bool) (string, error) {
	what := "API requests per minute"
	if fromRecords {
		what = "submissions per minute (from the Store)"
	}
	p := newPlot(what, "minutes since the first request", "per minute")
	t0 := ms[0].Start
	var req, thr plotter.XYs
	for _, m := range ms {
		x := m.Start.Sub(t0).Minutes()
		req = append(req, plotter.XY{X: x, Y: float64(m.Requests)})
		thr = append(thr, plotter.XY{X: x, Y: float64(m.Throttled)})
	}
	if len(req) == 1 { // a one-minute run: draw it as a flat minute
		req = append(req, plotter.XY{X: 1, Y: req[0].Y})
		thr = append(thr, plotter.XY{X: 1, Y: thr[0].Y})
	}
	l, pts, err := plotter.NewLinePoints(req)
	if err != nil {
		return "", err
	}
	l.Color, pts.Color = colBlue, colBlue
	pts.Radius = vg.Points(2)
	p.Add(l, pts)
	p.Legend.Add(strings.SplitN(what, " (", 2)[0], l)
	if !fromRecords {
		lt, err := plotter.NewLine(thr)
		if err != nil {
			return "", err
		}
		lt.Color = colRed
		p.Add(lt)
		p.Legend.Add("429 answers", lt)
	}
	if limitPerMin > 0 {
		ll, err := plotter.NewLine(plotter.XYs{{X: 0, Y: limitPerMin}, {X: req[len(req)-1].X, Y: limitPerMin}})
		if err != nil {
			return "", err
		}
		ll.Color = colGrey
		ll.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(ll)
		p.Legend.Add(fmt.Sprintf("limit %.0f/min", limitPerMin), ll)
		p.Y.Max = math.Max(p.Y.Max, limitPerMin)
	}
	p.Y.Min = 0
	p.Y.Max *= 1.3 // room for the legend above the lines
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return render(p, chartW, chartH)
}

// latencyHist draws the distribution of times to the final result (sorted
// ds), in seconds, minutes or hours after the slowest.
func latencyHist(ds []time.Duration) (string, error) {
	unit, name := time.Minute, "minutes"
	switch slowest := ds[len(ds)-1]; {
	case slowest < 2*time.Minute:
		unit, name = time.Second, "seconds"
	case slowest > 3*time.Hour:
		unit, name = time.Hour, "hours"
	}
	vals := make(plotter.Values, len(ds))
	for i, d := range ds {
		vals[i] = float64(d) / float64(unit)
	}
	bins := int(math.Min(30, math.Max(5, math.Sqrt(float64(len(ds))))))
	h, err := plotter.NewHist(vals, bins)
	if err != nil {
		return "", err
	}
	h.FillColor = colBlue
	h.LineStyle.Color = color.White
	p := newPlot("Time from submission to final result", name, "records")
	p.Add(h)
	p.Y.Min = 0
	return render(p, chartW, chartH)
}

// runsBars draws tokens and verifications per run, oldest first.
func runsBars(rows []RunRow) (string, error) {
	n := len(rows)
	tok, ver := make(plotter.Values, n), make(plotter.Values, n)
	names := make([]string, n)
	for i, r := range rows {
		j := n - 1 - i // rows are newest first
		tok[j], ver[j] = float64(r.Tokens), float64(r.Submitted)
		names[j] = shortRun(r.ID)
	}
	w := vg.Points(math.Max(4, math.Min(18, 400/float64(2*n))))
	bt, err := plotter.NewBarChart(tok, w)
	if err != nil {
		return "", err
	}
	bt.Color, bt.LineStyle.Width, bt.Offset = colGrey, 0, -w/2
	bv, err := plotter.NewBarChart(ver, w)
	if err != nil {
		return "", err
	}
	bv.Color, bv.LineStyle.Width, bv.Offset = colBlue, 0, w/2
	p := newPlot("Tokens and verifications per run", "run (start, UTC)", "count")
	p.Add(bt, bv)
	p.Legend.Add("tokens created", bt)
	p.Legend.Add("verifications (uploads accepted)", bv)
	p.Legend.Top = true
	p.NominalX(names...)
	if n > 8 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
	}
	p.Y.Min = 0
	return render(p, chartW, chartH)
}

// shortRun is a run id's time part, for axis labels: 20250304T101500Z-… → 03-04 10:15.
func shortRun(id string) string {
	if t, err := time.Parse("20060102T150405Z", strings.SplitN(id, "-", 2)[0]); err == nil {
		return t.Format("01-02 15:04")
	}
	return id
}

func outcomeColor(k string) color.Color {
	if c, ok := outcomeCo[k]; ok {
		return c
	}
	return colGrey
}

func reasonColor(k string) color.Color {
	if strings.HasPrefix(k, "failed") {
		return outcomeCo["FAILED"]
	}
	return outcomeCo["REJECTED"]
}

func errorColor(k string) color.Color {
	if k == "throttled" {
		return colRed
	}
	return colGrey
}

// charts draws every chart the report has data for.
func (r *Report) charts() ([]Chart, error) {
	var out []Chart
	add := func(id, title, caption string, svg string, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", id, err)
		}
		out = append(out, Chart{ID: id, Title: title, Caption: caption, SVG: svg})
		return nil
	}
	if sum(r.Outcomes) > 0 {
		svg, err := barsH("Records by outcome", "records", r.Outcomes, outcomeColor)
		cap := "Records that reached an end state and were exported in this run."
		if r.RunID == "" {
			cap = "Every record of the job in an end state, by outcome."
		}
		if err := add("outcomes", "Outcomes", cap, svg, err); err != nil {
			return nil, err
		}
	}
	if sum(r.Reasons) > 0 {
		svg, err := barsH("Rejected and failed, by reason", "records", r.Reasons, reasonColor)
		if err := add("reasons", "Reasons", "REJECTED: refused before any API call (nothing spent). FAILED: refused by the API, or retries ran out.", svg, err); err != nil {
			return nil, err
		}
	}
	if len(r.APIMinutes) > 0 {
		svg, err := apiPerMinute(r.APIMinutes, r.LimitPerMin, r.APIFromRecs)
		cap := "Requests sent to iDenfy each minute (every endpoint), against limits.requests_per_hour / 60; 429 answers in red."
		if r.APIFromRecs {
			cap = "This run's summary has no per-minute request series: shown are records submitted per minute, from the Store (each costs two requests or more: token and upload)."
		}
		if err := add("api", "API rate", cap, svg, err); err != nil {
			return nil, err
		}
	}
	if sum(r.ErrorsBy) > 0 {
		svg, err := barsH("Failed API requests by kind", "requests", r.ErrorsBy, errorColor)
		if err := add("errors", "API errors", "throttled = 429 (the limiter slows down and retries); server = 5xx; client = other 4xx; network = no answer.", svg, err); err != nil {
			return nil, err
		}
	}
	if len(r.Latencies) > 0 {
		svg, err := latencyHist(r.Latencies)
		if err := add("latency", "Time to result", fmt.Sprintf("%d records with a final result: median %s, 90th percentile %s, slowest %s.",
			len(r.Latencies), human(pct(r.Latencies, 0.5)), human(pct(r.Latencies, 0.9)), human(r.Latencies[len(r.Latencies)-1])), svg, err); err != nil {
			return nil, err
		}
	}
	if r.RunID == "" && len(r.Runs) > 0 {
		svg, err := runsBars(r.Runs)
		if err := add("runs", "Runs", "What each run spent: tokens created (billed) and uploads accepted.", svg, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// pct is the q-quantile of sorted ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
