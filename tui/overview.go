package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// overview is the first screen: the saga pipeline as a map of its
// services, and the sagas' outcomes and latency over time. A newcomer
// should understand the system from it alone.
type overview struct {
	st   *Styles
	keys *KeyMap
	snap feed.Snapshot
	// lagging indexes snap.Consumers, most unprocessed first.
	lagging []int
	// services is the table of snap.Services, one row per service.
	services table
	// diagnoses is every diagnosis, on view in place of the rest while
	// showDiagnoses is set (d, esc).
	diagnoses     *diagnosesList
	showDiagnoses bool
	width, height int
}

func newOverview(st *Styles, k *KeyMap) *overview {
	o := &overview{st: st, keys: k, services: newTable(serviceColumns(false)), diagnoses: newDiagnosesList(st, k)}
	o.services.static = true
	return o
}

func (o *overview) Title() string  { return "Overview" }
func (o *overview) Focus() tea.Cmd { return nil }

func (o *overview) Keys() []key.Binding {
	if o.showDiagnoses {
		return []key.Binding{o.keys.GoTo, o.keys.Filter, o.keys.Back}
	}
	return []key.Binding{o.keys.Diagnoses, o.keys.Burst}
}

func (o *overview) Capturing() bool { return o.showDiagnoses && o.diagnoses.list.typing() }

// Back closes the diagnoses' filter, else the diagnoses.
func (o *overview) Back() bool {
	if !o.showDiagnoses {
		return false
	}
	if !o.diagnoses.list.back() {
		o.showDiagnoses = false
	}
	return true
}

func (o *overview) SetSize(w, h int) {
	o.width, o.height = w, h
	// The wide layout has more columns and a longer bar.
	o.services.cols = serviceColumns(o.wide())
	o.services.setSize(w, h)
	o.diagnoses.setSize(w, h)
}

func (o *overview) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyMsg); ok {
		if o.showDiagnoses {
			// A diagnosis that names the Overview is shown by closing
			// the list; one that names another screen leaves it open
			// for esc to come back to.
			if d, ok := o.diagnoses.list.selected(); ok && key.Matches(km, o.keys.GoTo) && !o.diagnoses.list.typing() && strings.EqualFold(d.Screen, o.Title()) {
				o.showDiagnoses = false
				return nil
			}
			return o.diagnoses.update(km)
		}
		if key.Matches(km, o.keys.Diagnoses) {
			o.showDiagnoses = true
		}
		return nil
	}
	if m, ok := msg.(snapshotMsg); ok {
		o.snap = m.snap
		o.diagnoses.set(m.snap)
		o.lagging = mostLagging(o.lagging[:0], m.snap.Consumers)
		o.services.setLen(len(o.snap.Services),
			func(i int) string { return string(o.snap.Services[i].Name) },
			func(i int) row { return serviceRow(&o.snap.Services[i]) })
	}
	return nil
}

// mostLagging appends the indexes of the consumers with unprocessed
// messages to idx, most unprocessed first. It runs once a snapshot, not
// once a frame: sorting 1,000 consumers is most of an overview frame.
func mostLagging(idx []int, cs []feed.Consumer) []int {
	for i := range cs {
		if cs[i].Pending > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(x, y int) int {
		a, c := &cs[x], &cs[y]
		return cmp.Or(cmp.Compare(c.Pending, a.Pending), strings.Compare(a.Stream, c.Stream), strings.Compare(a.Name, c.Name))
	})
	return idx
}

// wide is the layout for 120 columns and more: more columns, more trends,
// more lists.
func (o *overview) wide() bool { return o.width >= 120 }

func (o *overview) View() string {
	s := &o.snap
	if s.Time.IsZero() {
		return o.st.Muted.Render("waiting for the first data from the server…")
	}
	if o.showDiagnoses {
		return o.diagnoses.view()
	}
	var parts []string
	if s.Reporting {
		parts = append(parts, o.pipelineView(), "", o.services.view(o.st), o.faultsView(), "", o.sagasView())
	} else {
		parts = append(parts, o.foreignView())
	}
	// Fill what is left of the screen with what helps most, in order.
	room := o.height - lines(parts)
	add := func(section string) {
		if n := lines([]string{section}) + 1; n <= room {
			parts = append(parts, "", section)
			room -= n
		}
	}
	// The worst diagnoses come first: they say in words what the rest
	// shows in numbers. Each takes two lines, its finding and its
	// evidence, or one when two do not fit; two lines are left for the
	// JetStream summary.
	if nd := len(s.Diagnoses); nd > 0 {
		spare, per, most := room-2-2, 2, 3
		if spare < per {
			per = 1
		}
		if o.wide() {
			most = 5
		}
		add(diagnosesPanel(o.st, s, min(nd, max(1, spare/per), most), per == 2, o.width))
	}
	add(o.jetstreamView())
	if s.Reporting {
		add(o.legendView())
	}
	if n := min(8, (room-4)/2); n > 0 {
		add(o.laggingView(n))
		add(o.eventsView(max(1, room-3)))
	}
	return strings.Join(parts, "\n")
}

// pipelineView is the saga as one line: where orders come from, the
// services they go through, and what comes out.
func (o *overview) pipelineView() string {
	st, s := o.st, &o.snap
	arrow := st.Muted.Render(" → ")
	var b strings.Builder
	if s.Load != nil {
		b.WriteString(st.Muted.Render("load "))
		b.WriteString(st.Strong.Render(rate(s.Load.Effective) + "/s"))
		b.WriteString(arrow)
	}
	for i := range s.Services {
		svc := &s.Services[i]
		r, _ := health(svc)
		if i > 0 {
			b.WriteString(arrow)
		}
		b.WriteString(st.paint(r, string(svc.Name)))
	}
	b.WriteString(arrow)
	b.WriteString(st.Healthy.Render(rate(s.Sagas.CompletedRate) + " completed/s"))
	if s.Sagas.CancelledRate > 0 && o.width >= 100 {
		b.WriteString(st.Muted.Render(" · "))
		b.WriteString(st.Degraded.Render(rate(s.Sagas.CancelledRate) + " cancelled/s"))
	}
	return b.String()
}

func (o *overview) faultsView() string {
	st, s := o.st, &o.snap
	if len(s.Faults) == 0 {
		return st.Muted.Render("faults: none injected (screen 4 injects them)")
	}
	var b strings.Builder
	b.WriteString(st.Degraded.Render(fmt.Sprintf("faults (%d): ", len(s.Faults))))
	for i, f := range s.Faults {
		if i > 0 {
			b.WriteString(st.Muted.Render(" · "))
		}
		text := string(f.Service) + " " + string(f.Kind)
		if p := faultParams(f); p != "" {
			text += " " + p
		}
		if !f.Expires.IsZero() {
			text += " " + dur(f.Expires.Sub(s.Time).Round(time.Second)) + " left"
		}
		b.WriteString(st.Degraded.Render(clean(text, o.width)))
	}
	return b.String()
}

// sagasView is the outcome totals and the trends.
func (o *overview) sagasView() string {
	st, s := o.st, &o.snap
	var b strings.Builder
	b.WriteString(st.Section.Render("SAGAS  "))
	if !s.Sagas.Known {
		b.WriteString(st.Muted.Render("no orders stream here yet"))
		return b.String()
	}
	t := s.Sagas
	b.WriteString(st.Healthy.Render("completed " + commas(t.Completed)))
	b.WriteString("  ")
	b.WriteString(st.paint(nonZero(t.Cancelled, roleDegraded), "cancelled "+commas(t.Cancelled)))
	b.WriteString("  ")
	b.WriteString(st.paint(nonZero(t.Parked, roleFailing), "parked "+commas(t.Parked)))
	b.WriteString("  ")
	b.WriteString(st.Strong.Render("in flight " + commas(t.InFlight)))

	labelW, valueW := 12, 14
	sparkW := max(10, o.width-labelW-valueW-2)
	h := &s.History
	line := func(label string, series feed.Series, value string, r role) {
		b.WriteByte('\n')
		b.WriteString(st.Muted.Render(fit(label, labelW)))
		b.WriteString(st.paint(r, sparkline(series, sparkW)))
		b.WriteString(" ")
		b.WriteString(fitRight(value, valueW))
	}
	line("completed/s", h.Completed, rate(t.CompletedRate)+"/s", roleHealthy)
	line("cancelled/s", h.Cancelled, rate(t.CancelledRate)+"/s", nonZeroF(t.CancelledRate, roleDegraded))
	line("latency p50", h.LatencyP50, latencyText(h.LatencyP50), roleAccent)
	line("latency p99", h.LatencyP99, latencyText(h.LatencyP99), roleAccent)
	return b.String()
}

// latencyText is the newest latency sample; an interval in which no saga
// completed has none, and the last known one is shown.
func latencyText(s feed.Series) string {
	v, ok := s.Last()
	if !ok {
		return "—"
	}
	return dur(msToDuration(v))
}

func msToDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// jetstreamView sums up the server's streams and consumers.
func (o *overview) jetstreamView() string {
	st, s := o.st, &o.snap
	var msgs, bytes uint64
	for _, x := range s.Streams {
		msgs += x.Messages
		bytes += x.Bytes
	}
	var b strings.Builder
	b.WriteString(st.Section.Render("JETSTREAM  "))
	b.WriteString(plural(len(s.Streams), "stream", "streams") + " · " + plural(len(s.Consumers), "consumer", "consumers") + freshnessNote(st, *s) +
		" · " + count(msgs) + " msgs · " + bytesize(bytes))
	b.WriteString(levelsNote(st, s.Consumers, " · "))
	return b.String()
}

// laggingView lists the consumers with the most unprocessed messages.
func (o *overview) laggingView(n int) string {
	st, s := o.st, &o.snap
	var b strings.Builder
	b.WriteString(st.Section.Render("MOST LAGGING CONSUMERS"))
	idx := o.lagging
	if len(idx) == 0 {
		b.WriteString("\n" + st.Muted.Render("  every consumer is caught up"))
		return b.String()
	}
	nameW := min(40, max(24, o.width/4))
	sparkW := min(30, max(10, o.width/8))
	for _, i := range idx[:min(n, len(idx))] {
		c := &s.Consumers[i]
		line := "  " + fit(clean(c.Stream+" › "+c.Name, nameW), nameW) + " " +
			fitRight(count(c.Pending), 7) + " " + sparkline(c.LagTrend, sparkW) + " " +
			fmt.Sprintf("ack %d/%d", c.AckPending, c.MaxAckPending)
		if c.Paused {
			line += " · paused"
		}
		if c.Why != "" {
			line += " · " + c.Why
		}
		b.WriteString("\n" + st.paint(levelRole(c.Level), clean(line, o.width)))
	}
	return b.String()
}

// eventsView lists the latest advisories and dead letters.
func (o *overview) eventsView(n int) string {
	st, s := o.st, &o.snap
	var b strings.Builder
	b.WriteString(st.Section.Render("LATEST EVENTS"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %s · %s (screen 6 has them all)", plural(len(s.Advisories), "advisory", "advisories"), plural(len(s.DeadLetters), "dead letter", "dead letters"))))
	type ev struct {
		at   time.Time
		text string
		r    role
	}
	evs := make([]ev, 0, 2*n)
	for _, d := range s.DeadLetters[:min(n, len(s.DeadLetters))] {
		evs = append(evs, ev{d.Time, "dead letter " + d.Subject + ": " + d.Reason, roleFailing})
	}
	for _, a := range s.Advisories[:min(n, len(s.Advisories))] {
		evs = append(evs, ev{a.Time, advisoryLine(a), advisoryRole(a.Kind)})
	}
	slices.SortStableFunc(evs, func(x, y ev) int { return y.at.Compare(x.at) })
	if len(evs) == 0 {
		b.WriteString("\n" + st.Muted.Render("  none yet"))
	}
	for _, e := range evs[:min(n, len(evs))] {
		b.WriteString("\n" + st.paint(e.r, "  "+fitRight(since(s.Time, e.at), 4)+"  "+clean(e.text, o.width-8)))
	}
	return b.String()
}

func advisoryLine(a *feed.Advisory) string {
	text := a.Kind
	if a.Stream != "" {
		text += " " + a.Stream
		if a.Consumer != "" {
			text += " › " + a.Consumer
		}
	}
	if a.StreamSeq > 0 {
		text += fmt.Sprintf(" #%d", a.StreamSeq)
	}
	if a.Detail != "" {
		text += ": " + a.Detail
	}
	return text
}

// foreignView explains a server without sagascope services.
func (o *overview) foreignView() string {
	st := o.st
	text := "No sagascope services report on this connection (nothing on " + contract.StatusSubjects + "). " +
		"Sagas, services and faults need them; streams, consumers, lag and advisories are live here and on screens 2, 3 and 6."
	return st.Degraded.Width(o.width).Render(text)
}

// legendView says what the service columns mean.
func (o *overview) legendView() string {
	return o.st.Muted.Render(clean("IN/S delivered · OUT/S processed · WORKERS busy/pool · LAG commands waiting", o.width))
}
