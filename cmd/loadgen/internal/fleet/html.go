package fleet

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// WriteHTML writes a self-contained page (no script, no network): the text
// report, a latency CDF and a timeline of alive, suspect and evicted
// workers, both drawn as inline SVG. With two reports (a -baseline run) it
// draws both.
func WriteHTML(w io.Writer, reports []*Report) error {
	type section struct {
		Title    string
		Text     string
		CDF      template.HTML
		Timeline template.HTML
	}
	var secs []section
	for _, r := range reports {
		var text strings.Builder
		r.WriteText(&text)
		secs = append(secs, section{
			Title:    "manager: " + r.Manager.Impl,
			Text:     text.String(),
			CDF:      template.HTML(cdfSVG(r)),
			Timeline: template.HTML(timelineSVG(r)),
		})
	}
	return pageTmpl.Execute(w, secs)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>loadgen report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:960px}pre{background:#f6f6f6;padding:1em;overflow:auto}
svg{border:1px solid #ddd;margin:0.5em 0}text{font-size:11px}</style></head><body>
<h1>loadgen report</h1>
{{range .}}<h2>{{.Title}}</h2><pre>{{.Text}}</pre>
<h3>Detection latency (CDF)</h3>{{.CDF}}
<h3>Timeline</h3>{{.Timeline}}
{{end}}</body></html>
`))

const (
	svgW, svgH = 900, 300
	padL, padB = 60, 30
)

func axes(b *strings.Builder, xLabel, yLabel string, xMax, yMax float64, xFmt, yFmt string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">`, svgW, svgH)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, padL, svgH-padB, svgW-10, svgH-padB)
	fmt.Fprintf(b, `<line x1="%d" y1="10" x2="%d" y2="%d" stroke="black"/>`, padL, padL, svgH-padB)
	for i := 0; i <= 4; i++ {
		x := padL + float64(svgW-10-padL)*float64(i)/4
		y := float64(svgH-padB) - float64(svgH-padB-10)*float64(i)/4
		fmt.Fprintf(b, `<text x="%.0f" y="%d" text-anchor="middle">`+xFmt+`</text>`, x, svgH-padB+15, xMax*float64(i)/4)
		fmt.Fprintf(b, `<text x="%d" y="%.0f" text-anchor="end">`+yFmt+`</text>`, padL-5, y+4, yMax*float64(i)/4)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, (svgW+padL)/2, svgH-2, xLabel)
	fmt.Fprintf(b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`, svgH/2, svgH/2, yLabel)
}

func px(v, max float64) float64 { return padL + float64(svgW-10-padL)*v/max }
func py(v, max float64) float64 { return float64(svgH-padB) - float64(svgH-padB-10)*v/max }

func polyline(b *strings.Builder, pts [][2]float64, xMax, yMax float64, color string) {
	b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + color + `" points="`)
	for _, p := range pts {
		fmt.Fprintf(b, "%.1f,%.1f ", px(p[0], xMax), py(p[1], yMax))
	}
	b.WriteString(`"/>`)
}

func legend(b *strings.Builder, i int, color, name string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`,
		padL+20, 20+16*i, color, padL+38, 25+16*i, name)
}

func cdfSVG(r *Report) string {
	var b strings.Builder
	xMax := 1.0
	for _, p := range append(r.Latency.SuspectedCDF, r.Latency.EvictedCDF...) {
		xMax = max(xMax, float64(p.Latency)/float64(time.Second))
	}
	xMax = float64(int(xMax) + 1)
	axes(&b, "seconds after the crash", "share of crashed workers", xMax, 1, "%.1f", "%.2f")
	for i, c := range []struct {
		pts   []Point
		color string
		name  string
	}{{r.Latency.SuspectedCDF, "#e69f00", "crash -> suspected"}, {r.Latency.EvictedCDF, "#d55e00", "crash -> evicted"}} {
		var pts [][2]float64
		for _, p := range c.pts {
			pts = append(pts, [2]float64{float64(p.Latency) / float64(time.Second), p.Fraction})
		}
		polyline(&b, pts, xMax, 1, c.color)
		legend(&b, i, c.color, c.name)
	}
	b.WriteString("</svg>")
	return b.String()
}

func timelineSVG(r *Report) string {
	var b strings.Builder
	xMax, yMax := 1.0, 1.0
	for _, s := range r.Timeline {
		xMax = max(xMax, s.T)
		yMax = max(yMax, float64(s.Alive), float64(s.Suspect), float64(s.Evicted))
	}
	axes(&b, "seconds since every worker joined", "workers", xMax, yMax, "%.0f", "%.0f")
	series := []struct {
		get   func(Sample) float64
		color string
		name  string
	}{
		{func(s Sample) float64 { return float64(s.Alive) }, "#009e73", "alive"},
		{func(s Sample) float64 { return float64(s.Suspect) }, "#e69f00", "suspect"},
		{func(s Sample) float64 { return float64(s.Evicted) }, "#d55e00", "evicted (cumulative)"},
	}
	for i, sr := range series {
		var pts [][2]float64
		for _, s := range r.Timeline {
			pts = append(pts, [2]float64{s.T, sr.get(s)})
		}
		polyline(&b, pts, xMax, yMax, sr.color)
		legend(&b, i, sr.color, sr.name)
	}
	b.WriteString("</svg>")
	return b.String()
}
