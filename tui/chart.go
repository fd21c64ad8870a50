package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/linechart"
	"github.com/NimbleMarkets/ntcharts/linechart/timeserieslinechart"
	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/tui/feed"
)

// chartLine is one line of a chart: a series sampled at the chart's
// times, drawn in a role.
type chartLine struct {
	name   string
	values feed.Series
	role   role
}

// chart is one small time chart: a title line with the newest values,
// then time on x and the value on y, both with labels.
type chart struct {
	title string
	// times are when each sample was read, oldest first; every line has
	// one value for each.
	times []time.Time
	lines []chartLine
	// label formats a value for the y axis and the title.
	label func(float64) string
	// floor is the least top of the y axis, so a quiet series draws as a
	// flat line at the bottom instead of filling the chart with noise.
	floor float64
	// exact keeps the top of the y axis at the largest value instead of
	// rounding it up: ack pending tops out at its limit.
	exact bool
}

// view draws c in width×height cells, the title line included.
//
// ntcharts draws it, a charting library of the Charm stack whose v0.4
// line is the one on bubbletea, bubbles and lipgloss v1. Times are placed
// at whole seconds (the chart keeps Unix seconds), which is the feed's
// resolution at the default refresh.
func (c chart) view(st *Styles, width, height int) string {
	head := c.titleView(st, width)
	if height < 4 || width < 16 {
		return head
	}
	if len(c.times) < 2 {
		return head + "\n" + st.Muted.Render(fit("  collecting samples…", width))
	}
	first, last := c.times[0], c.times[len(c.times)-1]
	if !last.After(first) {
		last = first.Add(time.Second)
	}
	top := c.floor
	for _, l := range c.lines {
		for _, v := range l.values {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	if !c.exact || top <= 0 {
		top = niceCeil(top)
	}
	// The canvas is the chart less its title; its last two rows are the
	// x axis and its labels.
	canvasH := height - 1
	graphH, span := canvasH-2, last.Sub(first)
	m := timeserieslinechart.New(width, canvasH,
		timeserieslinechart.WithTimeRange(first, last),
		timeserieslinechart.WithYRange(0, top),
		// A label is asked for at every row and column; yLabel and
		// xLabel answer only where a round value falls.
		timeserieslinechart.WithXYSteps(1, 1),
		timeserieslinechart.WithYLabelFormatter(func(i int, _ float64) string { return c.yLabel(i, graphH, top) }),
		timeserieslinechart.WithAxesStyles(st.Muted, st.Muted),
	)
	m.XLabelFormatter = xLabel(last, span, m.GraphWidth())
	var names []string
	for _, l := range c.lines {
		m.SetDataSetStyle(l.name, st.role(l.role))
		n := 0
		for i, v := range l.values {
			if i < len(c.times) && !math.IsNaN(v) {
				m.PushDataSet(l.name, timeserieslinechart.TimePoint{Time: c.times[i], Value: v})
				n++
			}
		}
		// ntcharts stops drawing at the first empty data set.
		if n > 0 {
			names = append(names, l.name)
		}
	}
	if len(names) == 0 {
		m.DrawXYAxisAndLabel()
	}
	// Braille dots: four rows and two columns of them a cell, so a chart
	// of six rows still shows a rate's shape.
	m.DrawBrailleDataSets(names)
	return head + "\n" + render(&m.Canvas)
}

// render draws a canvas as its View does, but styles each run of cells
// that look alike once, as table does, instead of every cell: View's
// Render a cell was most of the 15 ms of CPU four charts took at 160x48.
func render(c *canvas.Model) string {
	// The looks the charts use: a foreground colour, bold or not.
	type look struct {
		fg   lipgloss.TerminalColor
		bold bool
	}
	var b, run strings.Builder
	for y := range c.Height() {
		if y > 0 {
			b.WriteByte('\n')
		}
		var style lipgloss.Style
		var current look
		for x := range c.Width() {
			cell := c.Cell(canvas.Point{X: x, Y: y})
			l := look{cell.Style.GetForeground(), cell.Style.GetBold()}
			if x > 0 && l != current {
				b.WriteString(style.Render(run.String()))
				run.Reset()
			}
			style, current = cell.Style, l
			if cell.Rune == 0 {
				run.WriteByte(' ')
			} else {
				run.WriteRune(cell.Rune)
			}
		}
		b.WriteString(style.Render(run.String()))
		run.Reset()
	}
	return b.String()
}

// yLabel labels the bottom row 0, the top row top and, when there is a
// middle row, the middle top/2 (round values, as top is), unless it
// reads as one of the others (a count of 1 has no middle).
func (c chart) yLabel(i, graphH int, top float64) string {
	switch {
	case i == 0:
		return c.label(0)
	case i == graphH:
		return c.label(top)
	case graphH%2 == 0 && i == graphH/2 && graphH >= 4:
		if mid := c.label(top / 2); mid != c.label(0) && mid != c.label(top) {
			return mid
		}
	}
	return ""
}

// xLabel labels the time axis every tick seconds back from the newest
// sample, at the column whose span holds the tick; every other column
// gets none. The tick is the shortest round step that leaves eight cells
// a label or more.
func xLabel(last time.Time, span time.Duration, graphW int) linechart.LabelFormatter {
	perCell := span.Seconds() / float64(max(1, graphW))
	tick := 5.0
	for _, t := range []float64{5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		tick = t
		if span.Seconds()/t*8 <= float64(graphW) {
			break
		}
	}
	end := float64(last.Unix())
	return func(_ int, v float64) string {
		age := end - v
		k := math.Floor(age/tick + 1e-9)
		if age-k*tick >= perCell || k*tick > span.Seconds() {
			return ""
		}
		return relativeTime(time.Duration(k*tick) * time.Second)
	}
}

// titleView is the chart's name and each line's newest value.
func (c chart) titleView(st *Styles, width int) string {
	var b strings.Builder
	b.WriteString(st.Section.Render(c.title))
	for _, l := range c.lines {
		v, ok := l.values.Last()
		text := "—"
		if ok {
			text = c.label(v)
		}
		if len(c.lines) > 1 {
			text = l.name + " " + text
		}
		b.WriteString("  " + st.paint(l.role, text))
	}
	return clip(b.String(), width, 1)
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so the y axis
// reads in round numbers; 0 and less is 1.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// relativeTime labels the x axis by how long before the newest sample a
// tick is: "-1m30s", "-45s", "now". Clock times would be as long and
// depend on the zone; the age is what a reader compares.
func relativeTime(d time.Duration) string {
	s := int(math.Round(d.Seconds()))
	switch {
	case s <= 0:
		return "now"
	case s < 60:
		return fmt.Sprintf("-%ds", s)
	case s%60 == 0:
		return fmt.Sprintf("-%dm", s/60)
	}
	return fmt.Sprintf("-%dm%02ds", s/60, s%60)
}

// sideBySide joins blocks left to right, each cut and padded to its
// width, as tall as the tallest.
func sideBySide(widths []int, blocks ...string) string {
	split := make([][]string, len(blocks))
	height := 0
	for i, b := range blocks {
		split[i] = strings.Split(b, "\n")
		height = max(height, len(split[i]))
	}
	out := make([]string, height)
	for y := range height {
		var b strings.Builder
		for i, ls := range split {
			l := ""
			if y < len(ls) {
				l = ls[y]
			}
			b.WriteString(fit(l, widths[i]))
		}
		out[y] = strings.TrimRight(b.String(), " ")
	}
	return strings.Join(out, "\n")
}
