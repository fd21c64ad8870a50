package tui

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// telemetryMsg carries a telemetry snapshot (traces and logs) into the
// program. The app hands it to the screen on view, and the latest one to a
// screen coming on view; the Traces and Logs screens keep it.
type telemetryMsg struct{ snap feed.TelemetrySnapshot }

// runTelemetry follows the spans and logs on nc until ctx ends, calling
// send at most once per frame (start sends the program a telemetryMsg).
// The feed decodes and sanitizes on its own goroutines: the program only
// receives finished snapshots.
func runTelemetry(ctx context.Context, nc *nats.Conn, frame time.Duration, send func(feed.TelemetrySnapshot)) error {
	f, err := feed.NewTelemetry(nc, feed.TelemetryOptions{FrameEvery: frame})
	if err != nil {
		return err
	}
	return f.Run(ctx, send)
}

// traces lists recent traces; enter shows one as a waterfall of its spans
// across services, and enter again one span in full. The Sagas and Logs
// screens open a trace here through openTraceMsg.
type traces struct {
	st   *Styles
	keys *KeyMap
	snap feed.TelemetrySnapshot
	list *list[*feed.Trace]
	// errs counts the traces with errors, once a snapshot.
	errs int
	// want is a trace asked for that has not arrived yet: spans leave each
	// service about a second after they end.
	want *openTraceMsg
	// wf is the trace on view, nil for the list.
	wf     *waterfall
	width  int
	height int
}

func newTraces(st *Styles, k *KeyMap) *traces {
	s := &traces{st: st, keys: k}
	s.list = newList(st, listSpec[*feed.Trace]{
		cols: []column{
			{title: "AGO", width: 4, right: true},
			{title: "SAGA / TRACE", width: 14, flex: true},
			{title: "ROOT SPAN", width: 16, flex: true},
			{title: "SERVICES", width: 24, flex: true, prio: 2},
			{title: "SPANS", width: 5, right: true},
			{title: "TOOK", width: 6, right: true},
			{title: "STATUS", width: 9, prio: 1},
		},
		empty: "no trace matches the filter",
		key:   func(tr *feed.Trace) string { return tr.ID },
		tail:  true,
		match: func(f *filter, tr *feed.Trace) bool {
			return f.matches(tr.ID, tr.SagaID, tr.Name(), strings.Join(tr.Services, " "))
		},
		row: s.row,
		sorts: []sortBy[*feed.Trace]{
			{col: 0, compare: func(a, b *feed.Trace) int { return b.Start.Compare(a.Start) }},
			{col: 5, compare: func(a, b *feed.Trace) int { return cmp.Compare(a.Duration(), b.Duration()) }},
			{col: 4, compare: func(a, b *feed.Trace) int { return cmp.Compare(len(a.Spans), len(b.Spans)) }},
			{col: 6, compare: func(a, b *feed.Trace) int { return cmp.Compare(a.Errors, b.Errors) }},
		},
	}, nil)
	return s
}

func (s *traces) Title() string { return "Traces" }

func (s *traces) SetSize(w, h int) {
	s.width, s.height = w, h
	s.list.setSize(w, h-1)
}

func (s *traces) Keys() []key.Binding {
	if s.wf != nil {
		return []key.Binding{s.keys.Inspect, s.keys.Back}
	}
	return []key.Binding{s.keys.Inspect, s.keys.Filter, s.keys.Sort}
}

func (s *traces) Capturing() bool { return s.list.typing() }

func (s *traces) Back() bool {
	switch {
	case s.wf != nil && s.wf.detail:
		s.wf.detail = false
	case s.wf != nil, s.want != nil:
		s.wf, s.want = nil, nil
	default:
		return s.list.back()
	}
	return true
}

func (s *traces) Focus() tea.Cmd { return nil }

// OpenTrace shows the trace msg names, or waits for it to arrive.
func (s *traces) OpenTrace(msg openTraceMsg) tea.Cmd {
	s.wf, s.want = nil, &msg
	s.list.back()
	s.resolve()
	return nil
}

func (s *traces) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case telemetryMsg:
		s.snap = msg.snap
		s.errs = 0
		for _, tr := range s.snap.Traces {
			if tr.Errors > 0 {
				s.errs++
			}
		}
		s.list.set(s.snap.Traces)
		s.resolve()
	case tea.KeyMsg:
		if s.wf != nil {
			s.wf.update(msg, s.keys, s.height)
			return nil
		}
		if !s.list.typing() && key.Matches(msg, s.keys.Inspect) {
			if tr, ok := s.list.selected(); ok {
				s.wf = newWaterfall(tr)
			}
			return nil
		}
		if key.Matches(msg, s.keys.Filter) {
			s.want = nil
		}
		cmd, _ := s.list.update(msg, s.keys)
		return cmd
	}
	return nil
}

// resolve opens the trace asked for once it has arrived, and shows the
// newest version of the trace on view: more of its spans may have come.
func (s *traces) resolve() {
	if w := s.want; w != nil {
		for _, tr := range s.snap.Traces {
			if w.TraceID != "" && tr.ID == w.TraceID || w.TraceID == "" && w.SagaID != "" && tr.SagaID == w.SagaID {
				s.wf, s.want = newWaterfall(tr), nil
				break
			}
		}
	}
	if s.wf != nil {
		if tr, ok := s.list.find(s.wf.trace.ID); ok && tr != s.wf.trace {
			s.wf.refresh(tr)
		}
	}
}

func (s *traces) row(tr *feed.Trace) row {
	name := tr.SagaID
	if name == "" {
		name = tr.ID
	}
	status := cell{text: "✓ ok", role: roleHealthy}
	if tr.Errors > 0 {
		status = cell{text: "✗ " + plural(tr.Errors, "error", "errors"), role: roleFailing}
	}
	root := tr.Name()
	if tr.Root == nil {
		root = "… " + root // the root span has not arrived
	}
	return row{cells: []cell{
		{text: since(s.snap.Time, tr.Start), role: roleMuted},
		{text: clean(name, 64)},
		{text: clean(root, 120)},
		{text: clean(strings.Join(tr.Services, " "), 120), role: roleMuted},
		{text: fmt.Sprint(len(tr.Spans))},
		{text: dur(tr.Duration())},
		status,
	}}
}

func (s *traces) View() string {
	st := s.st
	switch {
	case s.wf != nil:
		return s.wf.view(st, s.width, s.height)
	case s.want != nil:
		return s.waitingView()
	}
	var b strings.Builder
	b.WriteString(st.Section.Render("RECENT TRACES"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d · %s · ", s.list.len(), len(s.snap.Traces), plural(s.snap.Spans, "span", "spans"))))
	b.WriteString(st.paint(nonZero(uint64(s.errs), roleFailing), fmt.Sprintf("%d with errors", s.errs)))
	b.WriteString(telemetryNote(st, s.snap, feed.SourceSpans, s.snap.Counts.MalformedBatches, "span batches", s.width-lipgloss.Width(b.String())-2))
	if f := s.list.filterView(st, s.width-lipgloss.Width(b.String())-3); f != "" {
		b.WriteString("  " + f)
	}
	b.WriteString("\n")
	if len(s.snap.Traces) == 0 {
		b.WriteString(st.Muted.Render(ansi.Wordwrap(clean(s.emptyText(), 0), s.width, "")))
		return b.String()
	}
	b.WriteString(s.list.view(st))
	return b.String()
}

// emptyText says why there is no trace to show.
func (s *traces) emptyText() string {
	switch {
	case s.snap.Time.IsZero():
		return "waiting for the first spans…"
	case !s.snap.Reading:
		return "No " + contract.TelemetryStream + " stream on this server: no sagascope service publishes spans here."
	}
	return fmt.Sprintf("No span since %s: sagas are traced when the demo runs with --trace-ratio above 0.", s.snap.Since.Format(time.TimeOnly))
}

func (s *traces) waitingView() string {
	st := s.st
	what := "trace " + s.want.TraceID
	if s.want.TraceID == "" {
		what = "trace of saga " + s.want.SagaID
	}
	var b strings.Builder
	b.WriteString(st.Strong.Render(clean("Waiting for the "+what+"…", s.width)) + "\n\n")
	for _, l := range []string{
		"Each service publishes its spans about a second after they end.",
		"A saga that was not sampled (--trace-ratio below 1), or whose spans",
		"have left the dashboard's buffer of recent traces, has no trace here.",
		"",
		"esc goes back to the list.",
	} {
		b.WriteString(st.Muted.Render(clean(l, s.width)) + "\n")
	}
	return b.String()
}

// telemetryNote is what the heading of the Traces or Logs screen says
// about its source: the problem reading it, else how many undecodable
// messages were dropped, else nothing. It fits in width cells.
func telemetryNote(st *Styles, snap feed.TelemetrySnapshot, source string, malformed uint64, what string, width int) string {
	if width < 10 {
		return ""
	}
	for _, p := range snap.Problems {
		if p.Source == source {
			return "  " + st.Degraded.Render(clean("⚠ "+p.Error, width-2))
		}
	}
	if malformed > 0 {
		return "  " + st.Degraded.Render(clean(fmt.Sprintf("⚠ %d malformed %s dropped", malformed, what), width-2))
	}
	return ""
}
