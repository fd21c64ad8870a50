package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// events shows JetStream advisories and dead letters, one pane each;
// enter inspects a message's headers and payload.
type events struct {
	st   *Styles
	keys *KeyMap
	snap feed.Snapshot
	pane int // paneAdvisories or paneDeadLetters
	// One filter for both panes.
	filter      filter
	advisories  *list[*feed.Advisory]
	deadLetters *list[*feed.DeadLetter]
	// inspecting is the key of the message shown in full, "" for none;
	// scroll is how far down its text is scrolled.
	inspecting string
	scroll     int
	width      int
	height     int
}

const (
	paneAdvisories = iota
	paneDeadLetters
)

func newEvents(st *Styles, k *KeyMap) *events {
	e := &events{st: st, keys: k, filter: newFilter(st)}
	e.advisories = newList(st, listSpec[*feed.Advisory]{
		cols: []column{
			{title: "AGO", width: 4, right: true},
			{title: "KIND", width: 15},
			{title: "STREAM › CONSUMER", width: 20, flex: true},
			{title: "SEQ", width: 8, right: true, prio: 1},
			{title: "DLV", width: 3, right: true, prio: 2},
			{title: "DETAIL", width: 12, flex: true},
		},
		empty: "no advisory yet",
		key:   advisoryKey,
		tail:  true,
		match: func(f *filter, a *feed.Advisory) bool {
			return f.matches(a.Kind, a.Stream, a.Consumer, a.Detail, a.Subject)
		},
		row: e.advisoryRow,
	}, &e.filter)
	e.deadLetters = newList(st, listSpec[*feed.DeadLetter]{
		cols: []column{
			{title: "AGO", width: 4, right: true},
			{title: "SEQ", width: 7, right: true},
			{title: "SUBJECT", width: 16, flex: true},
			{title: "REASON", width: 20, flex: true},
			{title: "FROM", width: 24, flex: true, prio: 1},
			{title: "SIZE", width: 6, right: true, prio: 2},
		},
		empty: "no dead letter: every message was processed",
		key:   func(d *feed.DeadLetter) string { return strconv.FormatUint(d.Seq, 10) },
		tail:  true,
		match: func(f *filter, d *feed.DeadLetter) bool {
			return f.matches(d.Subject, d.Reason, d.From, d.Consumer)
		},
		row: e.deadLetterRow,
	}, &e.filter)
	return e
}

func (e *events) Title() string { return "Events" }

func (e *events) SetSize(w, h int) {
	e.width, e.height = w, h
	e.advisories.setSize(w, h-2)
	e.deadLetters.setSize(w, h-2)
}

func (e *events) Keys() []key.Binding {
	return []key.Binding{e.keys.Left, e.keys.Right, e.keys.Inspect, e.keys.Filter}
}

func (e *events) Capturing() bool { return e.filter.typing }

func (e *events) Back() bool {
	if e.inspecting != "" {
		e.inspecting = ""
		return true
	}
	if e.filter.clear() {
		e.refresh()
		return true
	}
	return false
}

func (e *events) Focus() tea.Cmd { return nil }

// refresh filters both panes again: they share the filter.
func (e *events) refresh() {
	e.advisories.refresh()
	e.deadLetters.refresh()
}

// selectedKey is the key of the message under the cursor of the pane on
// view.
func (e *events) selectedKey() (string, bool) {
	if e.pane == paneAdvisories {
		if a, ok := e.advisories.selected(); ok {
			return advisoryKey(a), true
		}
		return "", false
	}
	if d, ok := e.deadLetters.selected(); ok {
		return e.deadLetters.spec.key(d), true
	}
	return "", false
}

func (e *events) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		e.snap = msg.snap
		e.advisories.set(foldLeaderAdvisories(e.snap.Advisories))
		e.deadLetters.set(e.snap.DeadLetters)
	case tea.KeyMsg:
		if e.filter.typing {
			changed, cmd := e.filter.update(msg)
			if changed {
				e.refresh()
			}
			return cmd
		}
		k := e.keys
		if e.inspecting != "" {
			e.scroll = scrollKey(msg, k, e.scroll, e.height)
			return nil
		}
		switch {
		case key.Matches(msg, k.Left, k.Right):
			e.pane = 1 - e.pane
		case key.Matches(msg, k.Filter):
			return e.filter.start()
		case key.Matches(msg, k.Inspect):
			if sel, ok := e.selectedKey(); ok {
				e.inspecting, e.scroll = sel, 0
			}
		case e.pane == paneAdvisories:
			e.advisories.table.update(msg, k)
		default:
			e.deadLetters.table.update(msg, k)
		}
	}
	return nil
}

func advisoryKey(a *feed.Advisory) string {
	if a.ID == "" {
		return a.Subject + a.Time.String()
	}
	return a.ID
}

func (e *events) advisoryRow(a *feed.Advisory) row {
	where := a.Stream
	if a.Consumer != "" {
		where += " › " + a.Consumer
	}
	seq, dlv := "", ""
	if a.StreamSeq > 0 {
		seq = fmt.Sprint(a.StreamSeq)
	}
	if a.Deliveries > 0 {
		dlv = fmt.Sprint(a.Deliveries)
	}
	return row{role: advisoryRole(a.Kind), cells: []cell{
		{text: since(e.snap.Time, a.Time)},
		{text: clean(a.Kind, 32)},
		{text: clean(where, 80)},
		{text: seq},
		{text: dlv},
		{text: clean(a.Detail, 200)},
	}}
}

func (e *events) deadLetterRow(d *feed.DeadLetter) row {
	return row{cells: []cell{
		{text: since(e.snap.Time, d.Time)},
		{text: fmt.Sprint(d.Seq)},
		{text: clean(d.Subject, 80)},
		{text: clean(d.Reason, 200), role: roleFailing},
		{text: clean(d.From, 120), role: roleMuted},
		{text: bytesize(uint64(d.Size))},
	}}
}

func (e *events) View() string {
	st := e.st
	var b strings.Builder
	tab := func(i int, label string) string {
		if i == e.pane {
			return st.ActiveTab.Render(label)
		}
		return st.Tab.Render(label)
	}
	b.WriteString(tab(paneAdvisories, fmt.Sprintf("ADVISORIES (%d)", len(e.advisories.all))))
	b.WriteString("  ")
	b.WriteString(tab(paneDeadLetters, fmt.Sprintf("DEAD LETTERS (%d)", len(e.snap.DeadLetters))))
	b.WriteString(st.Muted.Render("  ←/→ switch"))
	if f := e.filter.view(st, e.width-50); f != "" {
		b.WriteString("  " + f)
	}
	b.WriteString("\n")
	if e.inspecting != "" {
		b.WriteString(e.inspectView())
		return b.String()
	}
	switch {
	case e.pane == paneAdvisories && e.snap.Sources.Advisories == "live":
		b.WriteString(st.Muted.Render(clean("No "+contract.AdvisoryStream+" stream here: showing advisories live since the dashboard started.", e.width)) + "\n")
	case e.pane == paneDeadLetters && !e.snap.Sources.DeadLetters:
		b.WriteString(st.Muted.Render(clean("No "+contract.DeadLetterStream+" stream on this server: no sagascope services dead-letter here.", e.width)))
		return b.String()
	}
	if e.pane == paneAdvisories {
		b.WriteString(e.advisories.view(st))
	} else {
		b.WriteString(e.deadLetters.view(st))
	}
	return b.String()
}

// inspectView shows the message being inspected: its metadata, headers
// and payload, every byte sanitized.
func (e *events) inspectView() string {
	st := e.st
	var in *inspector
	var payload []byte
	size := 0
	if e.pane == paneAdvisories {
		a, ok := e.advisories.find(e.inspecting)
		if !ok {
			return st.Muted.Render("this advisory left the buffer   esc back")
		}
		in = newInspector(st, "advisory "+clean(a.Kind, 40), "↑/↓ scroll · esc back", 10, e.width)
		in.field("subject", a.Subject)
		in.field("type", a.Type)
		in.field("id", a.ID)
		in.field("time", a.Time.UTC().Format(time.RFC3339Nano)+" ("+since(e.snap.Time, a.Time)+" ago)")
		payload, size = a.Raw, len(a.Raw)
	} else {
		d, ok := e.deadLetters.find(e.inspecting)
		if !ok {
			return st.Muted.Render("this dead letter left the buffer   esc back")
		}
		in = newInspector(st, fmt.Sprintf("dead letter #%d", d.Seq), "↑/↓ scroll · esc back", 10, e.width)
		in.field("subject", d.Subject)
		in.field("time", d.Time.UTC().Format(time.RFC3339Nano)+" ("+since(e.snap.Time, d.Time)+" ago)")
		in.lines = append(in.lines, st.Muted.Render(fit("reason", 10))+st.Failing.Render(clean(d.Reason, e.width-10)))
		in.field("from", d.From)
		in.section("HEADERS", headerLines(st, d.Headers, e.width)...)
		payload, size = d.Payload, d.Size
	}
	in.section(fmt.Sprintf("PAYLOAD (%s)", bytesize(uint64(size))), payloadLines(payload, size, e.width-2)...)
	return in.view(&e.scroll, e.height-1)
}
