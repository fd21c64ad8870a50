package tui

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// waterfall shows one trace: its spans as a tree, each with a bar on a
// shared time axis, the selected span summed up below; detail shows the
// selected span in full.
type waterfall struct {
	trace  *feed.Trace
	rows   []spanRow
	cursor int
	offset int
	detail bool
	scroll int // of the detail
}

// spanRow is a span at its depth in the trace's tree.
type spanRow struct {
	span  *feed.Span
	depth int
}

func newWaterfall(t *feed.Trace) *waterfall {
	w := &waterfall{}
	w.refresh(t)
	return w
}

// refresh shows a newer version of the trace, keeping the same span
// selected.
func (w *waterfall) refresh(t *feed.Trace) {
	sel := ""
	if w.cursor < len(w.rows) {
		sel = w.rows[w.cursor].span.SpanID
	}
	w.trace, w.rows = t, spanTree(t.Spans)
	for i, r := range w.rows {
		if r.span.SpanID == sel {
			w.cursor = i
		}
	}
	w.cursor = max(0, min(w.cursor, len(w.rows)-1))
}

// spanTree orders spans as a tree: each span after its parent, siblings by
// start time. Spans whose parent is missing (not arrived, or from another
// trace) start trees of their own, as do spans caught in a parent cycle,
// which only a broken or hostile sender makes.
func spanTree(spans []*feed.Span) []spanRow {
	held := make(map[string]bool, len(spans))
	for _, s := range spans {
		held[s.SpanID] = true
	}
	children := map[string][]*feed.Span{}
	var roots []*feed.Span
	for _, s := range spans {
		if s.ParentID == "" || s.ParentID == s.SpanID || !held[s.ParentID] {
			roots = append(roots, s)
		} else {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
	}
	byStart := func(a, b *feed.Span) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.SpanID, b.SpanID)
	}
	out := make([]spanRow, 0, len(spans))
	seen := make(map[string]bool, len(spans))
	var walk func(s *feed.Span, depth int)
	walk = func(s *feed.Span, depth int) {
		if seen[s.SpanID] {
			return
		}
		seen[s.SpanID] = true
		out = append(out, spanRow{span: s, depth: depth})
		kids := children[s.SpanID]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	if len(out) < len(spans) {
		var rest []*feed.Span
		for _, s := range spans {
			if !seen[s.SpanID] {
				rest = append(rest, s)
			}
		}
		slices.SortFunc(rest, byStart)
		for _, r := range rest {
			walk(r, 0)
		}
	}
	return out
}

// rowsRoom is how many span rows fit a screen of height lines: the title
// and the axis above, the summary of the selected span below.
func rowsRoom(height int) int { return max(1, height-4) }

func (w *waterfall) update(msg tea.KeyMsg, k *KeyMap, height int) {
	if w.detail {
		switch {
		case key.Matches(msg, k.Up):
			w.scroll = max(0, w.scroll-1)
		case key.Matches(msg, k.Down):
			w.scroll++
		case key.Matches(msg, k.PageUp):
			w.scroll = max(0, w.scroll-height/2)
		case key.Matches(msg, k.PageDown):
			w.scroll += height / 2
		case key.Matches(msg, k.Top):
			w.scroll = 0
		}
		return
	}
	room := rowsRoom(height)
	switch {
	case key.Matches(msg, k.Inspect):
		if len(w.rows) > 0 {
			w.detail, w.scroll = true, 0
		}
		return
	case key.Matches(msg, k.Up):
		w.cursor--
	case key.Matches(msg, k.Down):
		w.cursor++
	case key.Matches(msg, k.PageUp):
		w.cursor -= room
	case key.Matches(msg, k.PageDown):
		w.cursor += room
	case key.Matches(msg, k.Top):
		w.cursor = 0
	case key.Matches(msg, k.Bottom):
		w.cursor = len(w.rows) - 1
	}
	w.cursor = max(0, min(w.cursor, len(w.rows)-1))
}

// waterfallLayout is the width of each part of a span row.
type waterfallLayout struct{ service, label, took, bar int }

func layoutWaterfall(width int) waterfallLayout {
	l := waterfallLayout{service: 9, took: 6}
	rest := width - 2 - (l.service + 1) - (l.took + 1) - 1
	l.label = min(64, max(16, rest/2))
	l.bar = max(8, rest-l.label)
	return l
}

func (w *waterfall) view(st *Styles, width, height int) string {
	if w.detail && w.cursor < len(w.rows) {
		return w.detailView(st, w.rows[w.cursor].span, width, height)
	}
	t := w.trace
	l := layoutWaterfall(width)
	var b strings.Builder
	title := "trace " + t.ID
	about := []string{}
	if t.SagaID != "" {
		about = append(about, "saga "+t.SagaID)
	}
	about = append(about, plural(len(t.Spans), "span", "spans"), dur(t.Duration()), strings.Join(t.Services, " "))
	if t.Root == nil {
		about = append(about, "root span not arrived")
	}
	b.WriteString(st.Strong.Render(clean(title, width)))
	b.WriteString(st.Muted.Render(clean("  "+strings.Join(about, " · "), width-len(title))))
	if t.Errors > 0 {
		b.WriteString(st.Failing.Render(" · ✗ " + plural(t.Errors, "error", "errors")))
	}
	b.WriteString("\n")
	b.WriteString(st.Header.Render("  " + fit("SERVICE", l.service) + " " + fit("SPAN", l.label) + " " + fitRight("TOOK", l.took) + " " + axis(t.Duration(), l.bar)))

	room := rowsRoom(height)
	if w.cursor < w.offset {
		w.offset = w.cursor
	}
	if w.cursor >= w.offset+room {
		w.offset = w.cursor - room + 1
	}
	w.offset = max(0, min(w.offset, len(w.rows)-room))
	end := min(len(w.rows), w.offset+room)
	for i := w.offset; i < end; i++ {
		b.WriteString("\n")
		b.WriteString(w.rowView(st, l, i))
	}
	for range room - (end - w.offset) {
		b.WriteString("\n")
	}
	if w.cursor < len(w.rows) {
		b.WriteString("\n")
		b.WriteString(w.summary(st, w.rows[w.cursor].span, width))
	}
	return b.String()
}

// axis labels a time axis of width cells spanning total: 0 at the left,
// total at the right, the quarters between where they fit.
func axis(total time.Duration, width int) string {
	line := []rune(strings.Repeat(" ", width))
	label := func(i int) []rune { return []rune(dur(time.Duration(float64(i) / 4 * float64(total)))) }
	first, last := label(0), label(4)
	if len(first)+1+len(last) > width {
		return string(line)
	}
	copy(line, first)
	copy(line[width-len(last):], last)
	next, end := len(first)+1, width-len(last)-1 // free cells: [next, end)
	for i := 1; i < 4; i++ {
		l := label(i)
		at := int(math.Round(float64(i)/4*float64(width))) - len(l)/2
		if at < next || at+len(l) > end {
			continue
		}
		copy(line[at:], l)
		next = at + len(l) + 1
	}
	return string(line)
}

// bar draws the span on the trace's time axis: █ for its time, ◆ where
// an event happened.
func spanBar(t *feed.Trace, s *feed.Span, width int) (lead, bar, trail string) {
	total := float64(t.Duration())
	cell := func(at time.Time) int {
		if total <= 0 {
			return 0
		}
		c := int(float64(at.Sub(t.Start)) / total * float64(width))
		return max(0, min(c, width-1))
	}
	from := cell(s.Start)
	to := max(from+1, min(width, int(math.Ceil(float64(s.End.Sub(t.Start))/max(total, 1)*float64(width)))))
	cells := []rune(strings.Repeat("█", to-from))
	for _, e := range s.Events {
		if c := cell(e.Time) - from; c >= 0 && c < len(cells) {
			cells[c] = '◆'
		}
	}
	return strings.Repeat(" ", from), string(cells), strings.Repeat(" ", width-to)
}

func (w *waterfall) rowView(st *Styles, l waterfallLayout, i int) string {
	r := w.rows[i]
	s := r.span
	name := s.Name
	if s.Failed() {
		name = "✗ " + name
	}
	// One cell a level: a saga is a chain a dozen spans deep.
	label := strings.Repeat(" ", min(r.depth, 12)) + clean(name, l.label)
	lead, bar, trail := spanBar(w.trace, s, l.bar)
	svc := fit(clean(s.Service, l.service), l.service) + " "
	rest := fit(label, l.label) + " " + fitRight(dur(s.Duration()), l.took) + " "
	if i == w.cursor {
		return st.Selected.Render("▸ " + svc + rest + lead + bar + trail)
	}
	textRole, barStyle := roleNone, st.BarFull
	if s.Failed() {
		textRole, barStyle = roleFailing, st.Failing
	}
	return "  " + st.Muted.Render(svc) + st.paint(textRole, rest) + lead + barStyle.Render(bar) + trail
}

// summary is two lines on the selected span: what it is, and its
// attributes.
func (w *waterfall) summary(st *Styles, s *feed.Span, width int) string {
	parts := []string{clean(s.Service, width)}
	if s.Instance != "" {
		parts[0] += " " + clean(s.Instance, width)
	}
	if s.Kind != "" {
		parts = append(parts, s.Kind)
	}
	parts = append(parts, "at +"+dur(s.Start.Sub(w.trace.Start)), "took "+dur(s.Duration()))
	if len(s.Events) > 0 {
		parts = append(parts, plural(len(s.Events), "event", "events"))
	}
	first := st.Strong.Render(clean(s.Name, width/2)) + st.Muted.Render(clean("  "+strings.Join(parts, " · "), width))
	if s.Failed() {
		first += st.Failing.Render(clean(" · ✗ "+cmp.Or(s.StatusMessage, "error"), width))
	}
	var attrs strings.Builder
	for i, a := range s.Attrs {
		if i > 0 {
			attrs.WriteString("  ")
		}
		attrs.WriteString(a.Key + "=" + a.Value)
		if attrs.Len() > width*4 {
			break
		}
	}
	return first + "\n" + st.Muted.Render(clean(attrs.String()+"   enter: the span in full", width))
}

// detailView is one span in full: what it is, its status, attributes and
// events, scrolled by scroll.
func (w *waterfall) detailView(st *Styles, s *feed.Span, width, height int) string {
	var lines []string
	kv := func(k, v string, r role) {
		lines = append(lines, st.Muted.Render(fit(k, 10))+st.paint(r, clean(v, width-10)))
	}
	head := st.Strong.Render(clean("span "+s.Name, width-28)) + st.Muted.Render("   ↑/↓ scroll · esc back")
	// Each part is cleaned alone: an escape sequence cut short in one
	// must not swallow the text around it.
	inst := clean(s.Service, width)
	if s.Instance != "" {
		inst += " (instance " + clean(s.Instance, width) + ")"
	}
	kv("service", inst, roleNone)
	kv("kind", cmp.Or(s.Kind, "unspecified"), roleNone)
	switch s.Status {
	case feed.StatusError:
		kv("status", "✗ error: "+cmp.Or(s.StatusMessage, "no message"), roleFailing)
	case feed.StatusOK:
		kv("status", "✓ ok", roleHealthy)
	default:
		kv("status", "unset (no error recorded)", roleMuted)
	}
	kv("start", fmt.Sprintf("+%s into the trace · %s", dur(s.Start.Sub(w.trace.Start)), s.Start.UTC().Format("15:04:05.000000")), roleNone)
	kv("took", dur(s.Duration()), roleNone)
	if s.SagaID != "" {
		kv("saga", s.SagaID, roleNone)
	}
	kv("trace", s.TraceID, roleMuted)
	kv("span", s.SpanID, roleMuted)
	kv("parent", cmp.Or(s.ParentID, "none: the trace's root"), roleMuted)
	if s.Dropped > 0 {
		kv("dropped", fmt.Sprintf("%d attributes or events over the limits", s.Dropped), roleDegraded)
	}
	lines = append(lines, "", st.Section.Render(fmt.Sprintf("ATTRIBUTES (%d)", len(s.Attrs))))
	lines = append(lines, attrLines(st, s.Attrs, "  ", width)...)
	lines = append(lines, "", st.Section.Render(fmt.Sprintf("EVENTS (%d)", len(s.Events))))
	for _, e := range s.Events {
		lines = append(lines, "  "+st.Accent.Render(fitRight("+"+dur(e.Time.Sub(w.trace.Start)), 8))+" "+clean(e.Name, width-12))
		lines = append(lines, attrLines(st, e.Attrs, "           ", width)...)
	}
	room := max(1, height-1)
	w.scroll = min(w.scroll, max(0, len(lines)-room))
	body := lines[w.scroll:]
	return head + "\n" + strings.Join(body[:min(len(body), room)], "\n")
}

// attrLines lists attributes one a line, keys aligned.
func attrLines(st *Styles, attrs []feed.Attr, indent string, width int) []string {
	kw := 0
	for _, a := range attrs {
		kw = max(kw, len([]rune(a.Key)))
	}
	kw = min(kw, 40)
	out := make([]string, 0, len(attrs))
	for _, a := range attrs {
		room := width - len(indent) - kw - 3
		out = append(out, indent+st.Accent.Render(fit(clean(a.Key, kw), kw))+" = "+clean(a.Value, room))
	}
	return out
}
