package tui

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// Reading a stream page by page: a page is what one request returns, the
// window the pages around the cursor that are kept. Moving past either end
// of the window reads the next page that way and drops the far end.
const (
	messagePage   = 100
	messageWindow = 4 * messagePage
)

// landing is where the cursor goes when a page arrives.
type landing int

const (
	landTop    landing = iota // a new window, cursor on its first message
	landBottom                // a new window, cursor on its last
	landAfter                 // appended below: one down from where it was
	landBefore                // prepended above: one up from where it was
	landFollow                // appended by following: on the newest if it was on the last
)

// messages is the messages a stream stored, read by direct get (no
// consumer), one screen of them at a time: sequence, time, subject, size,
// headers and the start of the payload; enter shows one in full. It only
// reads.
type messages struct {
	reads
	st     *Styles
	keys   *KeyMap
	br     browser
	stream string
	// subject filters the stream, with wildcards, on the server.
	subject string

	bounds feed.StreamBounds
	msgs   []feed.StoredMsg
	table  table
	prompt prompt

	inspecting bool
	scroll     int
	width      int
	height     int
}

func newMessages(ctx context.Context, st *Styles, k *KeyMap, br browser, stream, subject string, now time.Time) *messages {
	m := &messages{reads: reads{ctx: ctx, now: now}, st: st, keys: k, br: br, stream: stream, subject: subject, prompt: newPrompt(st)}
	m.table = newTable([]column{
		{title: "SEQ", width: 8, right: true},
		{title: "TIME", width: 12},
		{title: "AGE", width: 4, right: true, prio: 2},
		{title: "SUBJECT", width: 18, flex: true},
		{title: "SIZE", width: 6, right: true},
		{title: "HDRS", width: 4, right: true, prio: 1},
		{title: "DATA", width: 16, flex: true},
	})
	m.table.empty = "no message stored here"
	return m
}

func (m *messages) SetSize(w, h int) {
	m.width, m.height = w, h
	m.table.setSize(w, h-2)
}

func (m *messages) Keys() []key.Binding {
	k := m.keys
	if m.inspecting {
		return []key.Binding{k.Left, k.Right, k.Back}
	}
	return []key.Binding{k.Inspect, k.Jump, k.SubjectFilter, k.Follow, k.Back}
}

func (m *messages) Capturing() bool { return m.prompt.active }

func (m *messages) Back() bool {
	if m.inspecting {
		m.inspecting = false
		return true
	}
	return false
}

func (m *messages) Title() string { return "Messages" }

// Focus makes the first read.
func (m *messages) Focus() tea.Cmd {
	return m.read(feed.MsgQuery{Before: math.MaxUint64}, landBottom, "the newest messages")
}

// read asks for a page; the answer lands the cursor as land says.
func (m *messages) read(q feed.MsgQuery, land landing, what string) tea.Cmd {
	m.req++
	m.loading = what
	q.Stream, q.Subject, q.Limit = m.stream, m.subject, messagePage
	br := m.br
	return readCmd(m.ctx, m, m.req, func(ctx context.Context) (page, error) {
		msgs, bd, err := br.Read(ctx, q)
		return page{msgs, bd}, err
	}, func(p page, err error) { m.land(p, err, land) })
}

type page struct {
	msgs   []feed.StoredMsg
	bounds feed.StreamBounds
}

// land puts a page in the window.
func (m *messages) land(p page, err error, land landing) {
	m.loading = ""
	if p.bounds.Stream != "" {
		m.bounds = p.bounds
	}
	if err != nil {
		m.err = browseErr(err)
		return
	}
	m.err = ""
	switch land {
	case landTop, landBottom:
		m.msgs = p.msgs
		m.table.selKey, m.table.cursor, m.table.offset = "", 0, 0
		if land == landBottom {
			m.table.cursor = len(m.msgs) - 1
		}
	case landAfter, landFollow:
		onLast := m.table.cursor == len(m.msgs)-1
		m.msgs = append(m.msgs, p.msgs...)
		if cut := len(m.msgs) - messageWindow; cut > 0 {
			m.msgs = m.msgs[cut:]
			m.table.cursor -= cut
		}
		if len(p.msgs) > 0 && (land == landAfter || onLast) {
			m.table.cursor++
			if land == landFollow {
				m.table.cursor = len(m.msgs) - 1
			}
		}
	case landBefore:
		m.msgs = append(append([]feed.StoredMsg{}, p.msgs...), m.msgs...)
		m.table.cursor += len(p.msgs)
		if len(p.msgs) > 0 {
			m.table.cursor--
		}
		m.msgs = m.msgs[:min(len(m.msgs), messageWindow)]
	}
	m.table.selKey = ""
	m.table.setLen(len(m.msgs), m.keyAt, m.rowAt)
}

func (m *messages) keyAt(i int) string { return strconv.FormatUint(m.msgs[i].Seq, 10) }

func (m *messages) Update(msg tea.Msg) tea.Cmd {
	again := func() tea.Cmd {
		// A stream written faster than a page a second is followed at
		// its end, not read through. (Under a subject filter the stream's
		// last sequence says nothing of how many match.)
		if m.subject == "" && m.bounds.Last > m.lastSeq()+messagePage {
			return m.read(feed.MsgQuery{Before: math.MaxUint64}, landBottom, "")
		}
		return m.read(feed.MsgQuery{From: m.lastSeq() + 1}, landFollow, "")
	}
	if cmd, ok := m.take(m, msg, again); ok {
		return cmd
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return m.key(msg)
	}
	return nil
}

func (m *messages) lastSeq() uint64 {
	if len(m.msgs) == 0 {
		return 0
	}
	return m.msgs[len(m.msgs)-1].Seq
}

func (m *messages) key(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if m.prompt.active {
		submitted, cmd := m.prompt.update(msg)
		if !submitted {
			return cmd
		}
		return m.submit()
	}
	if m.inspecting {
		return m.inspectKey(msg)
	}
	n := len(m.msgs)
	switch {
	case key.Matches(msg, k.Inspect):
		if n > 0 {
			m.inspecting, m.scroll = true, 0
		}
	case key.Matches(msg, k.Top):
		m.follow = false
		return m.read(feed.MsgQuery{From: 1}, landTop, "the first messages")
	case key.Matches(msg, k.Bottom):
		return m.read(feed.MsgQuery{Before: math.MaxUint64}, landBottom, "the newest messages")
	case key.Matches(msg, k.Jump):
		return m.prompt.ask("jump", ":", "sequence, time (RFC 3339) or -5m", "")
	case key.Matches(msg, k.SubjectFilter):
		return m.prompt.ask("subject", "/", "subject, with * and > wildcards", m.subject)
	case key.Matches(msg, k.Follow):
		m.follow = !m.follow
		if m.follow {
			return m.read(feed.MsgQuery{Before: math.MaxUint64}, landBottom, "the newest messages")
		}
		m.req++ // the follow's tick in flight is dropped
		m.loading = ""
	case key.Matches(msg, k.Up, k.PageUp) && m.table.cursor == 0 && n > 0 && m.msgs[0].Seq > m.bounds.First:
		m.follow = false
		return m.read(feed.MsgQuery{Before: m.msgs[0].Seq}, landBefore, "earlier messages")
	case key.Matches(msg, k.Down, k.PageDown) && m.table.cursor == n-1 && n > 0 && m.lastSeq() < m.bounds.Last:
		return m.read(feed.MsgQuery{From: m.lastSeq() + 1}, landAfter, "later messages")
	default:
		m.table.update(msg, k)
	}
	return nil
}

// submit acts on the prompt's answer.
func (m *messages) submit() tea.Cmd {
	v := m.prompt.value()
	if m.prompt.what == "subject" {
		m.subject = v
		return m.read(feed.MsgQuery{Before: math.MaxUint64}, landBottom, "the newest messages on "+v)
	}
	if v == "" {
		return nil
	}
	seq, at, err := parseJump(v, m.now)
	if err != nil {
		m.err = err.Error()
		return nil
	}
	m.follow = false
	return m.read(feed.MsgQuery{From: seq, Since: at}, landTop, "messages from "+v)
}

func (m *messages) inspectKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Inspect):
		m.inspecting = false
	case key.Matches(msg, k.Left, k.Right):
		step := 1
		if key.Matches(msg, k.Left) {
			step = -1
		}
		m.table.cursor = max(0, min(m.table.cursor+step, len(m.msgs)-1))
		m.table.follow()
		m.scroll = 0
	default:
		m.scroll = scrollKey(msg, k, m.scroll, m.height)
	}
	return nil
}

// scrollKey moves an inspector's scroll by a movement key.
func scrollKey(msg tea.KeyMsg, k *KeyMap, scroll, height int) int {
	switch {
	case key.Matches(msg, k.Up):
		return max(0, scroll-1)
	case key.Matches(msg, k.Down):
		return scroll + 1
	case key.Matches(msg, k.PageUp):
		return max(0, scroll-height/2)
	case key.Matches(msg, k.PageDown):
		return scroll + height/2
	case key.Matches(msg, k.Top):
		return 0
	}
	return scroll
}

func (m *messages) rowAt(i int) row {
	x := &m.msgs[i]
	hdrs := ""
	if len(x.Header) > 0 {
		hdrs = strconv.Itoa(len(x.Header))
	}
	return row{cells: []cell{
		{text: commas(x.Seq)},
		{text: x.Time.Format("15:04:05.000"), role: roleMuted},
		{text: since(m.now, x.Time), role: roleMuted},
		{text: clean(x.Subject, 200)},
		{text: bytesize(uint64(x.Size))},
		{text: hdrs, role: roleMuted},
		{text: preview(x.Data, 200), role: roleMuted},
	}}
}

// preview is the start of a payload on one line: text sanitized, binary
// as hex.
func preview(p []byte, width int) string {
	if utf8.Valid(p) {
		return clean(string(p[:min(len(p), 4*width)]), width)
	}
	var b strings.Builder
	b.WriteString("⟨hex⟩ ")
	for _, c := range p[:min(len(p), width/3)] {
		fmt.Fprintf(&b, "%02x ", c)
	}
	return clean(b.String(), width)
}

func (m *messages) View() string {
	st := m.st
	var b strings.Builder
	b.WriteString(st.Section.Render("MESSAGES") + "  " + st.Strong.Render(clean(m.stream, 40)))
	bd := m.bounds
	facts := []string{}
	if m.subject != "" {
		facts = append(facts, "subject "+m.subject)
	}
	if bd.Stream != "" {
		facts = append(facts, fmt.Sprintf("%s messages, seq %s–%s", count(bd.Msgs), commas(bd.First), commas(bd.Last)))
		if bd.WorkQueue {
			facts = append(facts, "work queue")
		}
		if !bd.Direct {
			facts = append(facts, "no direct get: a request a message")
		}
	}
	b.WriteString(st.Muted.Render(clean("  "+strings.Join(facts, " · "), m.width-30)))
	if m.follow {
		b.WriteString("  " + st.Healthy.Render("● following"))
	}
	b.WriteString("\n")
	if m.inspecting {
		b.WriteString(m.inspectView())
		return b.String()
	}
	b.WriteString(m.table.view(st))
	return footed(b.String(), m.height, m.statusLine())
}

// statusLine is the prompt, else what is loading or failed, else where
// the window is in the stream.
func (m *messages) statusLine() string {
	st := m.st
	if m.prompt.active {
		return m.prompt.view(m.width)
	}
	if s := m.status(st, m.width); s != "" {
		return s
	}
	switch {
	case len(m.msgs) == 0:
		return ""
	}
	return st.Muted.Render(clean(fmt.Sprintf("showing seq %s–%s · g first · G last · : jump · / subject · F follow · read-only",
		commas(m.msgs[0].Seq), commas(m.lastSeq())), m.width))
}

// inspectView is the message under the cursor in full, every byte
// sanitized.
func (m *messages) inspectView() string {
	st := m.st
	i, ok := m.table.index()
	if !ok {
		return st.Muted.Render("no message here   esc back")
	}
	x := &m.msgs[i]
	in := newInspector(st, "message #"+commas(x.Seq), "↑/↓ scroll · ←/→ previous/next · esc back", 10, m.width)
	in.field("subject", x.Subject)
	in.field("time", x.Time.Format(time.RFC3339Nano)+" ("+sinceAgo(m.now, x.Time)+")")
	in.field("size", bytesize(uint64(x.Size)))
	in.section("HEADERS", headerLines(st, x.Header, m.width)...)
	in.section(fmt.Sprintf("PAYLOAD (%s)", bytesize(uint64(x.Size))), payloadLines(x.Data, x.Size, m.width-2)...)
	return in.view(&m.scroll, m.height-1)
}

// scrolled is lines with the first kept and the rest scrolled by *scroll
// (clamped) into room lines.
func scrolled(lines []string, scroll *int, room int) string {
	body := lines[1:]
	room = max(1, room-1)
	*scroll = max(0, min(*scroll, len(body)-room))
	body = body[*scroll:]
	return lines[0] + "\n" + strings.Join(body[:min(len(body), room)], "\n")
}
