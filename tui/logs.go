package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// logs shows the log lines the services ship, newest first: warnings and
// errors, and a sample of info. The filter matches service, level,
// message, ids and attributes; enter (or t) opens the trace the selected
// line was logged in.
type logs struct {
	st   *Styles
	keys *KeyMap
	snap feed.TelemetrySnapshot
	list *list[*feed.LogLine]
	// errors and warnings among the lines held, counted once a snapshot.
	errors, warnings int
	// note says why the last enter opened nothing; a move clears it.
	note   string
	width  int
	height int
}

// logDetailLines is the height of the selected line's detail under the
// list.
const logDetailLines = 2

func newLogs(st *Styles, k *KeyMap) *logs {
	s := &logs{st: st, keys: k}
	s.list = newList(st, listSpec[*feed.LogLine]{
		cols: []column{
			{title: "TIME", width: 12},
			{title: "LEVEL", width: 5},
			{title: "SERVICE", width: 9},
			{title: "MESSAGE", width: 20, flex: true},
			{title: "TRACE", width: 8, prio: 1},
			{title: "ATTRIBUTES", width: 20, flex: true, prio: 2},
		},
		empty: "no log line matches the filter",
		key:   func(l *feed.LogLine) string { return strconv.FormatUint(l.Seq, 10) },
		tail:  true,
		match: func(f *filter, l *feed.LogLine) bool {
			if f.matches(l.Service, l.Level, l.Message, l.TraceID, l.SagaID, l.Instance) {
				return true
			}
			for _, a := range l.Attrs {
				if f.matches(a.Key, a.Value) {
					return true
				}
			}
			return false
		},
		row: logRow,
	}, nil)
	return s
}

func (s *logs) Title() string { return "Logs" }

func (s *logs) SetSize(w, h int) {
	s.width, s.height = w, h
	s.list.setSize(w, h-1-logDetailLines)
}

func (s *logs) Keys() []key.Binding {
	return []key.Binding{s.keys.OpenTrace, s.keys.Filter}
}

func (s *logs) Capturing() bool { return s.list.typing() }
func (s *logs) Back() bool      { return s.list.back() }
func (s *logs) Focus() tea.Cmd  { return nil }

func (s *logs) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case telemetryMsg:
		s.snap = msg.snap
		s.errors, s.warnings = 0, 0
		for _, l := range s.snap.Logs {
			switch l.Level {
			case feed.LogError:
				s.errors++
			case feed.LogWarn:
				s.warnings++
			}
		}
		s.list.set(s.snap.Logs)
	case tea.KeyMsg:
		if !s.list.typing() && key.Matches(msg, s.keys.OpenTrace) {
			return s.openTrace()
		}
		s.note = ""
		cmd, _ := s.list.update(msg, s.keys)
		return cmd
	}
	return nil
}

// openTrace asks for the trace of the selected line.
func (s *logs) openTrace() tea.Cmd {
	l, ok := s.list.selected()
	switch {
	case !ok:
		return nil
	case l.TraceID == "" && l.SagaID == "":
		s.note = "this line was not logged in a traced saga"
		return nil
	}
	msg := openTraceMsg{TraceID: l.TraceID, SagaID: l.SagaID}
	return func() tea.Msg { return msg }
}

func logRow(l *feed.LogLine) row {
	trace := ""
	if l.TraceID != "" {
		trace = l.TraceID[:8]
	}
	return row{role: logLevelRole(l.Level), cells: []cell{
		{text: l.Time.Format("15:04:05.000"), role: roleMuted},
		{text: clean(l.Level, 5)},
		{text: clean(l.Service, 32)},
		{text: clean(l.Message, 200)},
		{text: trace, role: roleMuted},
		{text: clean(attrText(l.Attrs), 300), role: roleMuted},
	}}
}

// attrText is attributes as key=value pairs on one line.
func attrText(attrs []feed.Attr) string {
	var b strings.Builder
	for i, a := range attrs {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(a.Key + "=" + a.Value)
	}
	return b.String()
}

func (s *logs) View() string {
	st := s.st
	var b strings.Builder
	b.WriteString(st.Section.Render("LOGS"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d · ", s.list.len(), len(s.snap.Logs))))
	b.WriteString(st.paint(nonZero(uint64(s.errors), roleFailing), plural(s.errors, "error", "errors")) + st.Muted.Render(" · "))
	b.WriteString(st.paint(nonZero(uint64(s.warnings), roleDegraded), plural(s.warnings, "warning", "warnings")))
	b.WriteString(telemetryNote(st, s.snap, feed.SourceLogs, s.snap.Counts.MalformedLogs, "log records", s.width-lipgloss.Width(b.String())-2))
	if f := s.list.filterView(st, s.width-lipgloss.Width(b.String())-3); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n")
	if len(s.snap.Logs) == 0 {
		b.WriteString(st.Muted.Render(ansi.Wordwrap("No log line yet. Services ship warnings, errors and a sample of info on "+contract.LogSubjects+
			" as they happen; lines sent before the dashboard started are not kept anywhere.", s.width, "")))
		return b.String()
	}
	b.WriteString(s.list.view(st))
	if pad := s.height - 1 - logDetailLines - strings.Count(b.String(), "\n"); pad > 0 {
		b.WriteString(strings.Repeat("\n", pad))
	}
	b.WriteString("\n" + s.detail())
	return b.String()
}

// detail is two lines on the selected line: where it came from and which
// saga it names, then its whole message and attributes.
func (s *logs) detail() string {
	st := s.st
	l, ok := s.list.selected()
	if !ok {
		return ""
	}
	var ids []string
	ids = append(ids, l.Service+" "+l.Instance)
	if l.SagaID != "" {
		ids = append(ids, "saga "+l.SagaID)
	}
	if l.TraceID != "" {
		ids = append(ids, "trace "+l.TraceID)
	}
	if l.Dropped > 0 {
		ids = append(ids, fmt.Sprintf("%d lines before it held back by the rate limit", l.Dropped))
	}
	first := st.Muted.Render(clean(strings.Join(ids, " · "), s.width))
	if s.note != "" {
		first = st.Degraded.Render(clean(s.note, s.width))
	}
	text := l.Message
	if a := attrText(l.Attrs); a != "" {
		text += "  " + a
	}
	return first + "\n" + st.paint(logLevelRole(l.Level), clean(text, s.width))
}
