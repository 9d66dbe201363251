package statusview

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// Night is one recorded night of the chart: a snapshot in the store, what it cost,
// and what the drill said about it.
type Night struct {
	Snapshot string
	Started  time.Time
	Duration time.Duration // backup: finished - started
	Stored   int64         // bytes stored
	// Drill: "proven" (a drill served it or a refresh succeeded), "failed" (the last
	// refresh attempt, of this snapshot, failed) or "none".
	Drill string
	// DataAge is the standby's data age when a drill proved it (verified - source
	// time), when a record of it is kept; nil otherwise.
	DataAge *time.Duration
}

// chart geometry: one column per night.
const (
	chartCol    = 12
	chartHeight = 120
)

type chartNight struct {
	Night
	X, BarY, BarH, DotY float64
	Class, Title        string
	AgePath             string // a tick at the standby's data age, "" without one
}

// chartNights lays nights out: bar height = duration, dot = stored bytes, both scaled
// to their maximum; the tick = the standby's data age.
func chartNights(nights []Night) []chartNight {
	var maxDur time.Duration
	var maxBytes int64
	var maxAge time.Duration
	for _, n := range nights {
		maxDur, maxBytes = max(maxDur, n.Duration), max(maxBytes, n.Stored)
		if n.DataAge != nil {
			maxAge = max(maxAge, *n.DataAge)
		}
	}
	scale := func(v, m float64) float64 {
		if m <= 0 {
			return 0
		}
		return v / m * (chartHeight - 10)
	}
	out := make([]chartNight, len(nights))
	for i, n := range nights {
		h := max(scale(float64(n.Duration), float64(maxDur)), 1)
		c := chartNight{Night: n, X: float64(i * chartCol), BarH: h, BarY: chartHeight - h,
			DotY: chartHeight - scale(float64(n.Stored), float64(maxBytes)), Class: "night " + n.Drill}
		c.Title = fmt.Sprintf("%s: backup %s, %s stored, drill %s", n.Snapshot, backup.HumanDuration(n.Duration), backup.HumanBytes(n.Stored), n.Drill)
		if n.DataAge != nil {
			c.AgePath = fmt.Sprintf("M%g %g h8", c.X, chartHeight-scale(float64(*n.DataAge), float64(maxAge)))
			c.Title += ", standby data age " + backup.HumanDuration(*n.DataAge)
		}
		out[i] = c
	}
	return out
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="300"><title>linkbackup {{.State}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:64em}
.state{padding:.2em .6em;border-radius:.3em;color:#fff}
.OK{background:#2a7d2a}.WARNING{background:#b8860b}.CRITICAL{background:#b22222}.UNKNOWN{background:#666}
pre{background:#f4f4f4;padding:1em;overflow-x:auto}
rect.proven{fill:#2a7d2a}rect.failed{fill:#b22222}rect.none{fill:#999}
circle{fill:#1f4e9e}path.age{stroke:#b8860b;stroke-width:2}
</style></head><body>
<h1>linkbackup <span class="state {{.State}}" id="state">{{.State}}</span></h1>
<p id="summary">{{.Summary}}</p>
<h2>Last {{len .Nights}} nights</h2>
<svg id="nights" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img"
 aria-label="backup duration (bars, green: proven by a drill, red: drill failed, grey: not drilled), stored bytes (dots), standby data age (ticks)">
{{range .Nights}}<g><title>{{.Title}}</title><rect class="{{.Class}}" x="{{.X}}" y="{{.BarY}}" width="8" height="{{.BarH}}"></rect>
<circle cx="{{.X}}" cy="{{.DotY}}" r="2" transform="translate(4 0)"></circle>{{with .AgePath}}<path class="age" d="{{.}}"></path>{{end}}</g>
{{end}}</svg>
<p>Bars: backup duration (green: proven by a standby drill, red: its drill failed, grey: not drilled); dots: stored bytes; ticks: the standby's data age when proven.</p>
<h2>Status</h2>
<pre id="report">{{.Text}}</pre>
</body></html>
`))

// WriteHTML writes the operator status page: the state, the text report (the weekly
// email's lines included) and an inline SVG chart of nights (oldest first).
func WriteHTML(w io.Writer, r *backup.StatusReport, m *Mail, nights []Night) error {
	var text bytes.Buffer
	if err := writeText(&text, r, m); err != nil {
		return err
	}
	return statusPage.Execute(w, struct {
		State, Summary, Text string
		Nights               []chartNight
		Width, Height        int
	}{r.State, r.Summary, text.String(), chartNights(nights), max(len(nights), 1) * chartCol, chartHeight})
}
