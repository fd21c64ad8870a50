package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/tui/feed"
)

// consumersScreen is the Consumers screen: the table of every consumer,
// and, with enter on one, that consumer over time, as `nats consumer
// graph` draws it, beside its details; esc returns to the table.
type consumersScreen struct {
	*listScreen[*feed.Consumer]
	// open is the consumer charted, by consumerKey; "" while the table
	// shows.
	open string
	// drawn is the last charts view and what it was drawn from. A poll
	// brings a new history and new consumers, the frames between polls
	// share them (see samePoll), and drawing four charts costs more than
	// a frame may: 26 ms at 160x48 on a busy two-core machine
	// (BenchmarkConsumerChartsFrame), against 0.9 ms for a frame drawn
	// from this.
	drawn struct {
		x             *feed.Consumer
		h             *feed.ConsumerHistory
		width, height int
		view          string
	}
}

// consumerOnView is a screen that may chart one consumer and says which:
// the app tells the feed, whose next snapshots carry its history.
type consumerOnView interface {
	ConsumerOnView() (stream, name string, ok bool)
}

// rechart is a Cmd telling the feed the consumer now charted, or nil when
// it did not change; leaving the charts, or their screen, charts none.
func (a *app) rechart() tea.Cmd {
	if a.focusConsumer == nil {
		return nil
	}
	var stream, name string
	if s, ok := a.screens[a.active].(consumerOnView); ok {
		stream, name, _ = s.ConsumerOnView()
	}
	k := stream + "\x00" + name
	if stream == "" && name == "" {
		k = ""
	}
	if k == a.charted {
		return nil
	}
	a.charted = k
	focus := a.focusConsumer
	return func() tea.Msg { focus(stream, name); return nil }
}

func newConsumersScreen(st *Styles, k *KeyMap) *consumersScreen {
	return &consumersScreen{listScreen: newConsumers(st, k)}
}

// ConsumerOnView implements consumerOnView.
func (s *consumersScreen) ConsumerOnView() (stream, name string, ok bool) {
	if x := s.charted(); x != nil {
		return x.Stream, x.Name, true
	}
	return "", "", false
}

// charted is the consumer whose charts are open, nil when none is or it
// is gone from the server.
func (s *consumersScreen) charted() *feed.Consumer {
	if s.open == "" {
		return nil
	}
	x, _ := s.list.find(s.open)
	return x
}

// StreamsOnView is the charted consumer's stream while its charts are
// open, so the feed reads it first; else the streams of the rows.
func (s *consumersScreen) StreamsOnView() []string {
	if x := s.charted(); x != nil {
		return []string{x.Stream}
	}
	return s.listScreen.StreamsOnView()
}

func (s *consumersScreen) Keys() []key.Binding {
	if s.open != "" {
		return []key.Binding{s.keys.Up, s.keys.Down, s.keys.Back}
	}
	// Charts first: a bar cut at 80 columns keeps it and help.
	return append([]key.Binding{s.keys.Charts}, s.listScreen.Keys()...)
}

func (s *consumersScreen) Capturing() bool { return s.open == "" && s.listScreen.Capturing() }

// Back closes the charts, else the filter.
func (s *consumersScreen) Back() bool {
	if s.open != "" {
		s.open = ""
		return true
	}
	return s.listScreen.Back()
}

func (s *consumersScreen) Update(msg tea.Msg) tea.Cmd {
	km, isKey := msg.(tea.KeyMsg)
	switch {
	case !isKey:
		return s.listScreen.Update(msg)
	case s.open == "" && !s.list.typing() && key.Matches(km, s.keys.Charts):
		if x, ok := s.list.selected(); ok {
			s.open = consumerKey(x)
		}
		return nil
	case s.open != "":
		// Up and down chart the consumer above or below in the table;
		// nothing else of the table's works under the charts.
		if key.Matches(km, s.keys.Up, s.keys.Down) {
			s.list.table.update(km, s.keys)
			if x, ok := s.list.selected(); ok {
				s.open = consumerKey(x)
			}
		}
		return nil
	}
	return s.listScreen.Update(msg)
}

func (s *consumersScreen) View() string {
	x := s.charted()
	if x == nil {
		if s.open != "" {
			return s.st.Muted.Render("this consumer is gone from the server; esc returns to the list")
		}
		return s.listScreen.View()
	}
	var h *feed.ConsumerHistory
	if f := s.snap.Focused; f != nil && f.Stream == x.Stream && f.Name == x.Name {
		h = f
	}
	d := &s.drawn
	if d.x != x || d.h != h || d.width != s.width || d.height != s.height || d.view == "" {
		d.x, d.h, d.width, d.height = x, h, s.width, s.height
		d.view = consumerChartsView(s.st, x, h, s.snap.Diagnoses, s.width, s.height)
	}
	return d.view
}

// consumerChartsView is one consumer's four charts and its details: at
// 120 columns and more the details stand right of a 2×2 grid of charts, a
// fact a line; narrower they are packed into a few lines above it. h is
// nil until the feed sends the consumer's history.
func consumerChartsView(st *Styles, x *feed.Consumer, h *feed.ConsumerHistory, diags []feed.Diagnosis, width, height int) string {
	head := st.Section.Render("CONSUMER ") + st.paint(levelRole(x.Level), clean(x.Stream+" › "+x.Name, width-30)) +
		st.Muted.Render("  esc returns · ↑/↓ the next one")
	charts := consumerCharts(x, h)
	body := height - 1
	facts := consumerFacts(st, x, h)
	if width >= 120 {
		detailW := min(48, width/4)
		gridW := width - detailW - 2
		var details []string
		for _, f := range facts {
			details = append(details, wrapStyled(f, detailW)...)
		}
		details = append(details, consumerDiagnoses(st, x, diags, detailW)...)
		return head + "\n" + sideBySide([]int{gridW + 2, detailW}, chartGrid(st, charts, gridW, body), strings.Join(details, "\n"))
	}
	for _, d := range diags {
		if d.Stream == x.Stream && d.Consumer == x.Name {
			facts = append(facts, st.paint(severityRole(d.Severity), severityMark(d.Severity)+" "+d.Rule))
		}
	}
	top := packFacts(st, facts, width, max(1, body/5))
	return head + "\n" + strings.Join(top, "\n") + "\n" + chartGrid(st, charts, width, body-len(top))
}

// packFacts puts facts side by side, " · " apart, in at most n lines of
// width; the facts that do not fit are left out, the last line's first.
func packFacts(st *Styles, facts []string, width, n int) []string {
	sep := st.Muted.Render(" · ")
	var out []string
	line := ""
	for _, f := range facts {
		switch {
		case line == "":
			line = f
		case ansi.StringWidth(line)+3+ansi.StringWidth(f) <= width:
			line += sep + f
		default:
			out = append(out, line)
			line = f
		}
		if len(out) == n {
			return out
		}
	}
	if line != "" {
		out = append(out, line)
	}
	for i, l := range out {
		out[i] = ansi.Truncate(l, width, "…")
	}
	return out
}

// wrapStyled wraps a fact already cleaned and styled to width.
func wrapStyled(s string, width int) []string {
	return strings.Split(ansi.Wrap(s, width, ""), "\n")
}

// chartGrid lays four charts out two by two in width×height cells, one
// column under 60 cells.
func chartGrid(st *Styles, charts []chart, width, height int) string {
	if width < 60 {
		each := max(1, height/len(charts))
		var out []string
		for _, c := range charts {
			out = append(out, c.view(st, width, each))
		}
		return strings.Join(out, "\n")
	}
	colW := (width - 2) / 2
	rowH := max(1, height/2)
	var rows []string
	for i := 0; i < len(charts); i += 2 {
		left := charts[i].view(st, colW, rowH)
		right := ""
		if i+1 < len(charts) {
			right = charts[i+1].view(st, colW, rowH)
		}
		rows = append(rows, sideBySide([]int{colW + 2, colW}, left, right))
	}
	return strings.Join(rows, "\n")
}

// consumerCharts are the four charts of a consumer's history: what it
// delivers and acks, what it has not delivered, and what is out awaiting
// an ack against its limit.
func consumerCharts(x *feed.Consumer, h *feed.ConsumerHistory) []chart {
	var hh feed.ConsumerHistory
	if h != nil {
		hh = *h
	}
	unprocessed := levelRole(x.Level)
	if unprocessed == roleNone {
		unprocessed = roleAccent
	}
	return []chart{
		{title: "DELIVERED/S", times: hh.Times, label: rate, floor: 1,
			lines: []chartLine{{name: "delivered", values: hh.Delivered, role: roleAccent}}},
		{title: "ACKED/S", times: hh.Times, label: rate, floor: 1,
			lines: []chartLine{{name: "acked", values: hh.Acked, role: roleHealthy}}},
		{title: "UNPROCESSED", times: hh.Times, label: countLabel, floor: 10,
			lines: []chartLine{{name: "unprocessed", values: hh.Unprocessed, role: unprocessed}}},
		ackPendingChart(x, hh),
	}
}

// countLabel is a count on a chart's axis.
func countLabel(v float64) string { return count(uint64(max(0, v))) }

// ackPendingChart is ack pending against max_ack_pending; a consumer
// without the limit (a push consumer may have none) charts ack pending
// alone.
func ackPendingChart(x *feed.Consumer, h feed.ConsumerHistory) chart {
	c := chart{title: "ACK PENDING", times: h.Times, label: countLabel, floor: 1, exact: true,
		lines: []chartLine{{name: "pending", values: h.AckPending, role: roleAccent}}}
	if x.MaxAckPending > 0 {
		c.lines = append(c.lines, chartLine{name: "max", values: h.MaxAckPending, role: roleMuted})
	}
	return c
}

// consumerFacts are the consumer's config and state, a fact each,
// cleaned but not cut: the layout wraps or packs them.
func consumerFacts(st *Styles, x *feed.Consumer, h *feed.ConsumerHistory) []string {
	kind := "push"
	if x.Pull {
		kind = "pull"
	}
	level := levelRole(x.Level)
	muted := func(s string) string { return st.Muted.Render(clean(s, 0)) }
	out := []string{
		muted(kind + " consumer, filter " + orDash(x.Filter)),
		st.paint(level, fmt.Sprintf("unprocessed %s (%s of the stream)", commas(x.Pending), strings.TrimSpace(pct(x.Pending, x.StreamMessages)))),
		"ack pending " + ackBar(x.AckPending, x.MaxAckPending, 8),
		muted(fmt.Sprintf("delivered %s/s, acked %s/s", rate(x.DeliveredRate), rate(x.AckedRate))),
		muted(fmt.Sprintf("redelivered %d, waiting pulls %d", x.Redelivered, x.Waiting)),
		muted(fmt.Sprintf("last delivery %s, last ack %s", since(x.TimeStamp, x.LastDelivery), since(x.TimeStamp, x.LastAck))),
	}
	lv := "level " + string(x.Level)
	if x.Why != "" {
		lv += ": " + x.Why
	}
	if x.Paused {
		lv += ", paused " + dur(x.PauseRemaining)
	}
	out = append(out, st.paint(level, clean(lv, 0)), muted("thresholds: "+thresholdsText(x.Thresholds)))
	if h != nil && h.Len() > 1 {
		return append(out, muted(fmt.Sprintf("history: %d samples over %s", h.Len(), dur(h.Times[h.Len()-1].Sub(h.Times[0])))))
	}
	return append(out, muted("history: waiting for the feed's samples"))
}

// consumerDiagnoses are the diagnoses about x, each its rule, finding and
// evidence wrapped to width.
func consumerDiagnoses(st *Styles, x *feed.Consumer, diags []feed.Diagnosis, width int) []string {
	var out []string
	for _, d := range diags {
		if d.Stream != x.Stream || d.Consumer != x.Name {
			continue
		}
		r := severityRole(d.Severity)
		out = append(out, "", st.paint(r, clean(severityMark(d.Severity)+" "+d.Rule, width)))
		for _, l := range wrapClean(d.Finding, width, 5) {
			out = append(out, st.paint(r, l))
		}
		for _, l := range wrapClean(d.Evidence, width, 4) {
			out = append(out, st.Muted.Render(l))
		}
	}
	return out
}
