package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// events shows JetStream advisories and dead letters, one pane each;
// enter inspects a message's headers and payload.
type events struct {
	st     *Styles
	keys   *KeyMap
	snap   feed.Snapshot
	pane   int // paneAdvisories or paneDeadLetters
	tables [2]table
	filter filter
	// inspecting is the key of the message shown in full, "" for none;
	// scroll is how far down its text is scrolled.
	inspecting string
	scroll     int
	advByKey   map[string]*feed.Advisory
	deadByKey  map[string]*feed.DeadLetter
	width      int
	height     int
}

const (
	paneAdvisories = iota
	paneDeadLetters
)

func newEvents(st *Styles, k *KeyMap) *events {
	e := &events{st: st, keys: k, filter: newFilter(st), advByKey: map[string]*feed.Advisory{}, deadByKey: map[string]*feed.DeadLetter{}}
	e.tables[paneAdvisories] = newTable([]column{
		{title: "AGO", width: 4, right: true},
		{title: "KIND", width: 15},
		{title: "STREAM › CONSUMER", width: 20, flex: true},
		{title: "SEQ", width: 8, right: true, prio: 1},
		{title: "DLV", width: 3, right: true, prio: 2},
		{title: "DETAIL", width: 12, flex: true},
	})
	e.tables[paneAdvisories].empty = "no advisory yet"
	e.tables[paneDeadLetters] = newTable([]column{
		{title: "AGO", width: 4, right: true},
		{title: "SEQ", width: 7, right: true},
		{title: "SUBJECT", width: 16, flex: true},
		{title: "REASON", width: 20, flex: true},
		{title: "FROM", width: 24, flex: true, prio: 1},
		{title: "SIZE", width: 6, right: true, prio: 2},
	})
	e.tables[paneDeadLetters].empty = "no dead letter: every message was processed"
	return e
}

func (e *events) Title() string { return "Events" }

func (e *events) SetSize(w, h int) {
	e.width, e.height = w, h
	for i := range e.tables {
		e.tables[i].setSize(w, h-2)
	}
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
		e.rebuild()
		return true
	}
	return false
}

func (e *events) Focus() tea.Cmd { return nil }

func (e *events) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		e.snap = msg.snap
		e.rebuild()
	case tea.KeyMsg:
		if e.filter.typing {
			changed, cmd := e.filter.update(msg)
			if changed {
				e.rebuild()
			}
			return cmd
		}
		k := e.keys
		if e.inspecting != "" {
			switch {
			case key.Matches(msg, k.Up):
				e.scroll = max(0, e.scroll-1)
			case key.Matches(msg, k.Down):
				e.scroll++
			case key.Matches(msg, k.PageUp):
				e.scroll = max(0, e.scroll-e.height/2)
			case key.Matches(msg, k.PageDown):
				e.scroll += e.height / 2
			case key.Matches(msg, k.Top):
				e.scroll = 0
			}
			return nil
		}
		switch {
		case key.Matches(msg, k.Left, k.Right):
			e.pane = 1 - e.pane
		case key.Matches(msg, k.Filter):
			return e.filter.start()
		case key.Matches(msg, k.Inspect):
			if sel, ok := e.tables[e.pane].selected(); ok {
				e.inspecting, e.scroll = sel.key, 0
			}
		default:
			e.tables[e.pane].update(msg, k)
		}
	}
	return nil
}

func (e *events) rebuild() {
	now := e.snap.Time
	clear(e.advByKey)
	advRows := make([]row, 0, len(e.snap.Advisories))
	for _, a := range e.snap.Advisories {
		if !e.filter.matches(a.Kind, a.Stream, a.Consumer, a.Detail, a.Subject) {
			continue
		}
		k := a.ID
		if k == "" {
			k = a.Subject + a.Time.String()
		}
		e.advByKey[k] = a
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
		advRows = append(advRows, row{key: k, role: advisoryRole(a.Kind), cells: []cell{
			{text: since(now, a.Time)},
			{text: clean(a.Kind, 32)},
			{text: clean(where, 80)},
			{text: seq},
			{text: dlv},
			{text: clean(a.Detail, 200)},
		}})
	}
	e.tables[paneAdvisories].setRows(advRows)

	clear(e.deadByKey)
	deadRows := make([]row, 0, len(e.snap.DeadLetters))
	for _, d := range e.snap.DeadLetters {
		if !e.filter.matches(d.Subject, d.Reason, d.From, d.Consumer) {
			continue
		}
		k := fmt.Sprint(d.Seq)
		e.deadByKey[k] = d
		deadRows = append(deadRows, row{key: k, cells: []cell{
			{text: since(now, d.Time)},
			{text: fmt.Sprint(d.Seq)},
			{text: clean(d.Subject, 80)},
			{text: clean(d.Reason, 200), role: roleFailing},
			{text: clean(d.From, 120), role: roleMuted},
			{text: bytesize(uint64(d.Size))},
		}})
	}
	e.tables[paneDeadLetters].setRows(deadRows)
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
	b.WriteString(tab(paneAdvisories, fmt.Sprintf("ADVISORIES (%d)", len(e.snap.Advisories))))
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
	b.WriteString(e.tables[e.pane].view(st))
	return b.String()
}

// inspectView shows the message being inspected: its metadata, headers
// and payload, every byte sanitized.
func (e *events) inspectView() string {
	st := e.st
	var lines []string
	kv := func(k, v string) {
		lines = append(lines, st.Muted.Render(fit(k, 10))+clean(v, e.width-10))
	}
	var payload []byte
	size := 0
	if e.pane == paneAdvisories {
		a := e.advByKey[e.inspecting]
		if a == nil {
			return st.Muted.Render("this advisory left the buffer   esc back")
		}
		lines = append(lines, st.Strong.Render("advisory "+clean(a.Kind, 40))+st.Muted.Render("   ↑/↓ scroll · esc back"))
		kv("subject", a.Subject)
		kv("type", a.Type)
		kv("id", a.ID)
		kv("time", a.Time.UTC().Format(time.RFC3339Nano)+" ("+since(e.snap.Time, a.Time)+" ago)")
		payload, size = a.Raw, len(a.Raw)
	} else {
		d := e.deadByKey[e.inspecting]
		if d == nil {
			return st.Muted.Render("this dead letter left the buffer   esc back")
		}
		lines = append(lines, st.Strong.Render(fmt.Sprintf("dead letter #%d", d.Seq))+st.Muted.Render("   ↑/↓ scroll · esc back"))
		kv("subject", d.Subject)
		kv("time", d.Time.UTC().Format(time.RFC3339Nano)+" ("+since(e.snap.Time, d.Time)+" ago)")
		lines = append(lines, st.Muted.Render(fit("reason", 10))+st.Failing.Render(clean(d.Reason, e.width-10)))
		kv("from", d.From)
		lines = append(lines, "", st.Section.Render("HEADERS"))
		names := make([]string, 0, len(d.Headers))
		for n := range d.Headers {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			for _, v := range d.Headers[n] {
				lines = append(lines, "  "+st.Accent.Render(clean(n, 32))+": "+clean(v, e.width-36))
			}
		}
		payload, size = d.Payload, d.Size
	}
	lines = append(lines, "", st.Section.Render(fmt.Sprintf("PAYLOAD (%s)", bytesize(uint64(size)))))
	lines = append(lines, payloadLines(payload, size, e.width-2)...)
	// Scroll, keeping the title line.
	body := lines[1:]
	room := max(1, e.height-2)
	e.scroll = min(e.scroll, max(0, len(body)-room))
	body = body[e.scroll:]
	return lines[0] + "\n" + strings.Join(body[:min(len(body), room)], "\n")
}

// payloadLines renders a payload for reading: indented if it is JSON,
// sanitized text if it is text, a note if it is binary.
func payloadLines(p []byte, size, width int) []string {
	if len(p) == 0 {
		return []string{"  (empty)"}
	}
	var out []string
	var pretty bytes.Buffer
	text := ""
	switch {
	case json.Valid(p) && json.Indent(&pretty, p, "", "  ") == nil:
		text = pretty.String()
	case utf8.Valid(p):
		text = string(p)
	default:
		return []string{fmt.Sprintf("  (%d bytes of binary data)", size)}
	}
	for _, l := range strings.Split(sanitize.Text(text, feed.MaxPayload*2), "\n") {
		out = append(out, "  "+sanitize.Line(l, width))
	}
	if size > len(p) {
		out = append(out, fmt.Sprintf("  … %d more bytes not kept", size-len(p)))
	}
	return out
}
