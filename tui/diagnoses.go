package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/tui/feed"
)

// The diagnoses, as the Overview shows them: the worst few in its panel,
// every one in the list d opens, from which enter goes to the screen a
// diagnosis names (feed.Diagnosis.Screen) with its stream or consumer
// selected.

// jumpMsg asks the app to show a screen by its title, lower case, with
// the stream and consumer selected when they are not "".
type jumpMsg struct {
	screen           string
	stream, consumer string
}

// selector is a screen that can put its cursor on a stream or a consumer;
// it reports whether it found it.
type selector interface {
	Select(stream, consumer string) bool
}

// jump shows the screen a diagnosis names, with its stream or consumer
// selected.
func (a *app) jump(msg jumpMsg) tea.Cmd {
	for i, s := range a.screens {
		if !strings.EqualFold(s.Title(), msg.screen) {
			continue
		}
		cmd := a.switchTo(i)
		if sel, ok := s.(selector); ok && (msg.stream != "" || msg.consumer != "") && !sel.Select(msg.stream, msg.consumer) {
			return tea.Batch(cmd, a.setFlash(roleMuted, clean("not on this screen now: "+msg.stream+" "+msg.consumer, a.width)))
		}
		return cmd
	}
	return a.setFlash(roleMuted, clean("this dashboard has no "+msg.screen+" screen", a.width))
}

// diagnosesList is every diagnosis as a table, with the selected one's
// finding and evidence in full below it.
type diagnosesList struct {
	st   *Styles
	keys *KeyMap
	list *list[*feed.Diagnosis]
	snap feed.Snapshot
	// width and height are the screen's; the table takes what the
	// heading and the detail leave.
	width, height int
}

// diagnosisDetail is the lines under the table: the finding and the
// evidence, wrapped.
const diagnosisDetail = 6

func newDiagnosesList(st *Styles, k *KeyMap) *diagnosesList {
	l := &diagnosesList{st: st, keys: k}
	l.list = newList(st, listSpec[*feed.Diagnosis]{
		cols: []column{
			{title: " ", width: 1},
			{title: "ABOUT", width: 24},
			{title: "RULE", width: 20, prio: 1},
			{title: "FOR", width: 4, right: true},
			{title: "FINDING", width: 20, flex: true},
			{title: "SCREEN", width: 9, prio: 2},
		},
		empty: "nothing wrong found: no rule's condition held for its window",
		key: func(d *feed.Diagnosis) string {
			return d.Rule + "\x00" + d.About + "\x00" + d.Stream + "\x00" + d.Consumer
		},
		match: func(f *filter, d *feed.Diagnosis) bool {
			return f.matches(d.About, d.Finding, d.Evidence, d.Rule, d.Screen, string(d.Severity))
		},
		row: l.row,
	}, nil)
	return l
}

// row is a diagnosis in the table; FOR is how long its condition has
// held at the snapshot.
func (l *diagnosesList) row(d *feed.Diagnosis) row {
	return row{role: severityRole(d.Severity), cells: []cell{
		{text: severityMark(d.Severity)},
		{text: clean(d.About, 64)},
		{text: clean(d.Rule, 32)},
		{text: since(l.snap.Time, d.Since)},
		{text: clean(d.Finding, 0)},
		{text: clean(d.Screen, 16)},
	}}
}

func (l *diagnosesList) setSize(w, h int) {
	l.width, l.height = w, h
	l.list.setSize(w, max(2, h-1-diagnosisDetail))
}

func (l *diagnosesList) set(s feed.Snapshot) {
	l.snap = s
	l.list.set(pointers(s.Diagnoses))
}

// update handles a key; enter on a diagnosis is a jumpMsg.
func (l *diagnosesList) update(msg tea.KeyMsg) tea.Cmd {
	if !l.list.typing() && key.Matches(msg, l.keys.GoTo) {
		d, ok := l.list.selected()
		if !ok {
			return nil
		}
		j := jumpMsg{screen: d.Screen, stream: d.Stream, consumer: d.Consumer}
		return func() tea.Msg { return j }
	}
	cmd, _ := l.list.update(msg, l.keys)
	return cmd
}

func (l *diagnosesList) view() string {
	st := l.st
	var b strings.Builder
	b.WriteString(st.Section.Render("DIAGNOSES"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d · enter goes to its screen · esc returns", l.list.len(), len(l.snap.Diagnoses))))
	if f := l.list.filterView(st, l.width-ansi.StringWidth(b.String())-3); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n" + l.list.view(st))
	if d, ok := l.list.selected(); ok {
		finding := wrapClean(d.Finding, l.width, diagnosisDetail-2)
		evidence := wrapClean(d.Evidence, l.width, diagnosisDetail-len(finding))
		b.WriteString("\n" + st.paint(severityRole(d.Severity), strings.Join(finding, "\n")))
		b.WriteString("\n" + st.Muted.Render(strings.Join(evidence, "\n")))
	}
	return b.String()
}

// diagnosesPanel is the Overview's panel: the worst n diagnoses, worst
// first as the feed orders them, each its finding on one line and, when
// long is set, how long it has held and its evidence on the next.
func diagnosesPanel(st *Styles, s *feed.Snapshot, n int, long bool, width int) string {
	var b strings.Builder
	b.WriteString(st.Section.Render("DIAGNOSES  "))
	b.WriteString(st.Muted.Render(fmt.Sprintf("%s · d lists them, enter there goes to one", plural(len(s.Diagnoses), "finding", "findings"))))
	for _, d := range s.Diagnoses[:min(n, len(s.Diagnoses))] {
		// The finding names what it is about: the About would say it twice.
		line := severityMark(d.Severity) + " " + d.Finding
		b.WriteString("\n" + st.paint(severityRole(d.Severity), clean(line, width)))
		if long {
			b.WriteString("\n" + st.Muted.Render(clean("  "+since(s.Time, d.Since)+" · "+d.Evidence, width)))
		}
	}
	return b.String()
}

// severityRole is how a diagnosis is coloured: as the levels are.
func severityRole(l feed.Level) role { return levelRole(l) }

// severityMark tells a diagnosis' severity without colour, as levelMark
// tells a consumer's level.
func severityMark(l feed.Level) string {
	if l == feed.LevelCritical {
		return "✗"
	}
	return "!"
}

// wrapClean sanitizes untrusted text and wraps it to width in at most n
// lines, the last cut with an ellipsis when there was more.
func wrapClean(s string, width, n int) []string {
	if n <= 0 || width <= 0 {
		return nil
	}
	out := strings.Split(ansi.Wrap(clean(s, 0), width, ""), "\n")
	if len(out) > n {
		out = out[:n]
		out[n-1] = clean(out[n-1]+" …", width)
		if !strings.HasSuffix(out[n-1], "…") {
			out[n-1] = ansi.Truncate(out[n-1], width-1, "") + "…"
		}
	}
	return out
}
