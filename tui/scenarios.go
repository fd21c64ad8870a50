package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui/feed"
)

// scenarios is the Scenarios screen: the catalogue of shipped scenarios,
// and one run at a time with its narrative beside the timeline of its
// steps and a live line of the services, so an instructor can present it.
// The run goes on in a command's goroutine and reaches the screen as
// messages; leaving the screen does not stop it.
type scenarios struct {
	ctx    context.Context
	st     *Styles
	keys   *KeyMap
	target scenario.Target
	offers scenario.Harness
	opt    scenario.Options
	// send hands a run's events to the program; nil drops them (a model
	// without a program, in tests).
	send func(tea.Msg)
	runs *runGuard

	list    *list[*scenarioEntry]
	loadErr error
	// confirm is the scenario waiting for a yes before it runs.
	confirm *scenarioEntry
	// note says why the last key did nothing.
	note string
	// run is the run on view, going or finished; nil shows the catalogue.
	run   *scenarioRun
	runID int
	// room, name, instructor: see scenarioConfig. step is the step mode
	// of the runs this screen starts; answering is set while the keys a
	// to d pick an answer.
	room       *control.Client
	name       string
	instructor bool
	step       bool
	answering  bool
	// shown is the run started elsewhere that took the screen (see
	// follow); now is the clock that says an event is recent.
	shown string
	now   func() time.Time

	snap          feed.Snapshot
	width, height int
}

// scenarioEntry is one scenario of the catalogue and what its target
// lacks to run it.
type scenarioEntry struct {
	sc      *scenario.Scenario
	missing scenario.Harness
}

// scenarioEventMsg is one event of run number run.
type scenarioEventMsg struct {
	run int
	e   scenario.Event
}

// scenarioDoneMsg ends run number run: err is set when it could not run at
// all.
type scenarioDoneMsg struct {
	run int
	res scenario.Result
	err error
}

// runGuard lets a scenario's command be waited for when the program ends:
// a command that enters after close does not run.
type runGuard struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (g *runGuard) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *runGuard) leave() { g.wg.Done() }

// close stops new runs and waits for the one going; its context must
// have ended.
func (g *runGuard) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// scenarioConfig is what the screen needs from the app.
type scenarioConfig struct {
	target scenario.Target
	opt    scenario.Options
	send   func(tea.Msg)
	runs   *runGuard
	// room sends answers, and an instructor's next and reveal requests;
	// nil in tests without a server.
	room *control.Client
	// name is who answers; instructor is set for a dashboard that may
	// pace runs (not read-only).
	name       string
	instructor bool
}

func newScenarios(ctx context.Context, st *Styles, k *KeyMap, cfg scenarioConfig) *scenarios {
	s := &scenarios{ctx: ctx, st: st, keys: k, target: cfg.target, opt: cfg.opt, send: cfg.send, runs: cfg.runs,
		room: cfg.room, name: cfg.name, instructor: cfg.instructor, now: time.Now}
	if s.runs == nil {
		s.runs = &runGuard{}
	}
	if s.target != nil {
		s.offers = scenario.Offered(s.target)
	}
	s.list = newList(st, listSpec[*scenarioEntry]{
		cols: []column{
			{title: "SCENARIO", width: 22},
			{title: "TEACHES", width: 26, prio: 1},
			{title: "TITLE", width: 20, flex: true, prio: 2},
			{title: "NEEDS", width: 24},
		},
		empty: "no scenarios",
		key:   func(e *scenarioEntry) string { return e.sc.Name },
		match: func(f *filter, e *scenarioEntry) bool { return f.matches(e.sc.Name, e.sc.Teaches, e.sc.Title) },
		row:   s.row,
	}, nil)
	all, err := scenario.Builtin()
	s.loadErr = err
	entries := make([]*scenarioEntry, 0, len(all))
	for _, sc := range all {
		entries = append(entries, &scenarioEntry{sc: sc, missing: s.offers.Missing(sc.Needs())})
	}
	s.list.set(entries)
	return s
}

func (s *scenarios) row(e *scenarioEntry) row {
	needs, r := "", roleMuted
	switch {
	case s.target == nil:
	case e.missing.Nodes:
		needs, r = "needs a cluster", roleDegraded
	case !e.missing.None():
		needs, r = "needs the embedded demo", roleDegraded
	}
	return row{cells: []cell{
		{text: clean(e.sc.Name, 40), role: roleAccent},
		{text: clean(e.sc.Teaches, 40)},
		{text: clean(e.sc.Title, 200), role: roleMuted},
		{text: needs, role: r},
	}}
}

func (s *scenarios) Title() string { return "Scenarios" }

func (s *scenarios) SetSize(w, h int) {
	s.width, s.height = w, h
	s.list.setSize(w, h-1-scenarioDetailLines)
}

// scenarioDetailLines are the lines under the catalogue: the selected
// scenario, or the question before it runs.
const scenarioDetailLines = 4

func (s *scenarios) Keys() []key.Binding {
	switch {
	case s.confirm != nil:
		return []key.Binding{s.keys.Confirm, s.keys.Back}
	case s.run != nil && s.run.result == nil:
		ks := []key.Binding{}
		if s.run.local {
			ks = append(ks, s.keys.CancelRun)
		}
		if s.instructor {
			ks = append(ks, s.keys.NextPhase, s.keys.Reveal)
		}
		if s.run.openQuestion() >= 0 {
			ks = append(ks, s.keys.Answer)
		}
		return ks
	case s.run != nil:
		return []key.Binding{s.keys.Back}
	}
	return []key.Binding{s.keys.RunScenario, s.keys.StepMode, s.keys.Filter}
}

func (s *scenarios) Capturing() bool { return (s.run == nil && s.list.typing()) || s.answering }
func (s *scenarios) Focus() tea.Cmd  { return nil }

// Back cancels the question, then cancels a run going, then leaves a
// finished run for the catalogue, then clears the filter.
func (s *scenarios) Back() bool {
	switch {
	case s.answering:
		s.answering = false
		return true
	case s.confirm != nil:
		s.confirm = nil
		return true
	case s.run != nil && s.run.result == nil && s.run.local:
		s.cancelRun()
		return true
	case s.run != nil && s.run.result == nil:
		return false
	case s.run != nil:
		s.run = nil
		return true
	}
	return s.list.back()
}

func (s *scenarios) cancelRun() {
	if !s.run.cancelling {
		s.run.cancelling = true
		s.run.cancel()
	}
}

func (s *scenarios) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		s.snap = msg.snap
	case scenarioEventMsg:
		if s.run != nil && msg.run == s.run.id && s.run.local {
			s.run.event(msg.e)
		}
	case scenarioDoneMsg:
		if s.run != nil && msg.run == s.run.id && s.run.local {
			s.run.done(msg.res, msg.err)
		}
	case runEventMsg:
		return s.follow(msg.e)
	case roomMsg:
		if msg.err != nil {
			s.note = "✗ " + msg.err.Error()
		} else {
			s.note = "✓ " + msg.text
		}
	case tea.KeyMsg:
		return s.key(msg)
	}
	return nil
}

func (s *scenarios) key(msg tea.KeyMsg) tea.Cmd {
	k := s.keys
	switch {
	case s.confirm != nil:
		if key.Matches(msg, k.Confirm) {
			e := s.confirm
			s.confirm = nil
			return s.start(e)
		}
		return nil
	case s.run != nil:
		if cmd, ok := s.roomKey(msg); ok {
			return cmd
		}
		if s.run.result == nil && s.run.local && key.Matches(msg, k.CancelRun) {
			s.cancelRun()
		}
		return nil
	}
	if key.Matches(msg, k.StepMode) && !s.list.typing() {
		s.step = !s.step
		return nil
	}
	if s.list.typing() {
		cmd, _ := s.list.update(msg, k)
		return cmd
	}
	if key.Matches(msg, k.RunScenario) {
		e, ok := s.list.selected()
		switch {
		case !ok:
		case s.target == nil:
			s.note = "this dashboard has no system to run scenarios on: run 'sagascope scenario run " + e.sc.Name + "' in a terminal"
		default:
			s.note, s.confirm = "", e
		}
		return nil
	}
	s.note = ""
	cmd, _ := s.list.update(msg, k)
	return cmd
}

// start runs e's scenario in a command: the runner restores the load and
// clears its faults when it ends, cancelled or not.
func (s *scenarios) start(e *scenarioEntry) tea.Cmd {
	s.runID++
	id := s.runID
	ctx, cancel := context.WithCancel(s.ctx)
	s.run = newScenarioRun(id, e.sc, cancel)
	target, guard, send, sc, opt := s.target, s.runs, s.send, e.sc, s.opt
	opt.Step = s.step
	opt.OnEvent = func(ev scenario.Event) {
		if send != nil {
			send(scenarioEventMsg{run: id, e: ev})
		}
	}
	return func() tea.Msg {
		defer cancel()
		if !guard.enter() {
			return nil
		}
		defer guard.leave()
		res, err := scenario.Run(ctx, sc, target, opt)
		return scenarioDoneMsg{run: id, res: res, err: err}
	}
}

func (s *scenarios) View() string {
	if s.run != nil {
		return s.runView()
	}
	return s.catalogueView()
}

func (s *scenarios) catalogueView() string {
	st := s.st
	var b strings.Builder
	head := st.Section.Render(fmt.Sprintf("SCENARIOS (%d)", s.list.len()))
	switch {
	case s.target == nil:
		head += "  " + st.Muted.Render("watch only: no system to run them on")
	case s.offers.Services:
		head += "  " + st.Muted.Render("on the embedded demo · enter runs one")
	default:
		head += "  " + st.Muted.Render("on the attached system, through the control API · enter runs one")
	}
	if s.step && s.target != nil {
		head += "  " + st.Degraded.Render("step mode: stops at each phase")
	}
	if f := s.list.filterView(st, s.width-lipgloss.Width(head)-3); f != "" {
		head += "   " + f
	}
	b.WriteString(fit(head, s.width) + "\n")
	b.WriteString(s.list.view(st))
	b.WriteString("\n" + s.detailView())
	return b.String()
}

// detailView is the question before a run, else what the key did not
// do, else the selected scenario.
func (s *scenarios) detailView() string {
	st, w := s.st, s.width
	var lines []string
	switch e, ok := s.list.selected(); {
	case s.confirm != nil:
		sc := s.confirm.sc
		lines = append(lines, st.Degraded.Render(clean("Run "+sc.Name+"? It clears every fault and sets the load of the system on view.", w)))
		switch {
		case !s.confirm.missing.None():
			lines = append(lines, st.Degraded.Render(clean("Its steps that "+s.confirm.missing.String()+" will fail here.", w)))
		case sc.System != (scenario.System{}):
			// The tuning applies only to a system the runner starts.
			lines = append(lines, st.Muted.Render(clean("It was written for a system tuned for it; this one runs as it is.", w)))
		}
		lines = append(lines, st.Muted.Render(clean("enter or y runs it; esc leaves everything as it is.", w)))
	case s.note != "":
		lines = wrapLines(s.note, w)
	case s.target == nil:
		lines = append(lines, st.Muted.Render(clean("Scenarios run from the dashboard of the embedded demo ('sagascope'),", w)),
			st.Muted.Render(clean("or headless: sagascope scenario run NAME (add --server URL to drive this system).", w)))
	case ok:
		lines = append(lines, st.Strong.Render(clean(e.sc.Title, w)))
		switch {
		case e.missing.Nodes:
			lines = append(lines, st.Degraded.Render(clean("Needs a three-node cluster: run 'sagascope scenario run "+e.sc.Name+"'.", w)))
		case !e.missing.None():
			lines = append(lines, st.Degraded.Render(clean("Needs the embedded demo ('sagascope' without --server) to "+e.missing.String()+".", w)))
		}
	}
	return strings.Join(lines, "\n")
}

// wrapLines breaks text into lines of at most width cells, at spaces.
func wrapLines(text string, width int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(clean(text, 4096)) {
		if line != "" && lipgloss.Width(line)+1+lipgloss.Width(word) > width {
			out = append(out, clean(line, width))
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		out = append(out, clean(line, width))
	}
	return out
}
