package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/sanitize"
	"github.com/sagascope/sagascope/tui/timeline"
)

// screen is one full-size view of the dashboard. The root model sends it
// the snapshots while it is on view, the keys it does not handle itself,
// and every other message.
//
// A new screen is one line in newApp's list; number keys reach the first
// ten in that order, 0 the tenth (screenKey). A screen that shows traces also implements
// traceViewer, so the Sagas screen can open a saga's trace on it.
type screen interface {
	Title() string
	SetSize(width, height int)
	Update(msg tea.Msg) tea.Cmd
	View() string
	// Keys are the screen's own bindings, for the help views.
	Keys() []key.Binding
	// Capturing reports that the screen is taking text input: every key
	// goes to it, none is a global shortcut.
	Capturing() bool
	// Back handles esc: it reports whether the screen closed something
	// (a filter, an inspector). If not, esc returns to the previous screen.
	Back() bool
	// Focus is called when the screen comes on view.
	Focus() tea.Cmd
}

// openTraceMsg asks the dashboard to show one saga's trace. The Sagas and
// Logs screens send it; the app switches to the first screen that is a
// traceViewer and hands the message to it.
type openTraceMsg struct {
	// SagaID names the saga: every span of its trace carries it as the
	// saga.id attribute (telemetry/sagaspan).
	SagaID string
	// TraceID is the trace's id in hex when the sender knows it, else "".
	TraceID string
}

// traceViewer is a screen that can show one trace (the Traces screen).
type traceViewer interface {
	OpenTrace(msg openTraceMsg) tea.Cmd
}

// snapshotMsg carries a feed snapshot into the program.
type snapshotMsg struct{ snap feed.Snapshot }

// feedStoppedMsg reports that the feed could not start or stopped.
type feedStoppedMsg struct{ err error }

// flashDoneMsg clears the flash line it was scheduled for.
type flashDoneMsg struct{ id int }

// flashFor is how long the outcome of an action stays on the status line.
const flashFor = 6 * time.Second

// app is the root model: it routes messages, owns the chrome (header,
// tabs, status line, help) and lays the active screen out below it.
type app struct {
	ctx   context.Context
	title string
	st    *Styles
	keys  KeyMap
	help  help.Model
	ctl   controller
	burst int
	// focus tells the feed the streams on screen; focused is what it was
	// last told.
	focus   func(streams ...string)
	focused []string
	// focusConsumer tells the feed the consumer charted; charted is what
	// it was last told, by consumerKey, "" for none.
	focusConsumer func(stream, name string)
	charted       string

	screens  []screen
	active   int
	previous int

	width, height int
	snap          feed.Snapshot
	// tel is the latest telemetry snapshot, zero until one came.
	tel      feed.TelemetrySnapshot
	showHelp bool
	feedErr  error

	flash struct {
		text string
		role role
		id   int
	}
	// travel is pause and rewind: while it holds, snap and tel are the
	// frame on screen and the newest ones wait in travel.
	travel travel
}

// appConfig is what newApp needs.
type appConfig struct {
	ctx    context.Context
	title  string
	styles *Styles
	ctl    controller
	burst  int
	// scenarios is what the Scenarios screen runs scenarios with.
	scenarios scenarioConfig
	// focus, if set, tells the feed which streams are on screen, so a
	// system larger than the API budget has those read first.
	focus func(streams ...string)
	// history is what the dashboard saw, to rewind through; nil keeps
	// none (pause still works).
	history *timeline.History
	// browse reads streams' messages and buckets' keys for the views the
	// Streams screen opens; nil leaves them closed.
	browse browser
	// focusConsumer, if set, tells the feed the consumer whose charts are
	// on screen ("" and "" for none), so its snapshots carry its history.
	focusConsumer func(stream, name string)
	// replay, when set, is the recording this dashboard plays instead of
	// a live system.
	replay *replaySource
}

// streamsOnView is a screen that shows streams or their consumers, and
// says which are on screen.
type streamsOnView interface{ StreamsOnView() []string }

func newApp(cfg appConfig) *app {
	a := &app{ctx: cfg.ctx, title: cfg.title, st: cfg.styles, keys: DefaultKeyMap(), ctl: cfg.ctl, burst: cfg.burst, focus: cfg.focus, focusConsumer: cfg.focusConsumer}
	if cfg.history != nil { // not a nil *History in a non-nil interface
		a.travel.hist = cfg.history
	}
	if cfg.replay != nil {
		a.startReplay(cfg.replay)
	}
	if a.ctx == nil {
		a.ctx = context.Background()
	}
	if a.burst <= 0 {
		a.burst = 500
	}
	a.help = help.New()
	a.help.Styles = a.st.Help
	k := &a.keys
	// The screens in tab order.
	a.screens = []screen{
		newOverview(a.st, k),
		newStreams(a.ctx, a.st, k, cfg.browse),
		newConsumersScreen(a.st, k),
		newFaults(a.ctx, a.st, k, a.ctl),
		newSagas(a.st, k),
		newEvents(a.st, k),
		newTraces(a.st, k),
		newLogs(a.st, k),
		newScenarios(a.ctx, a.st, k, cfg.scenarios),
		newServers(a.st, k),
	}
	help := fmt.Sprintf("1-%d", min(len(a.screens), 9))
	if len(a.screens) >= 10 {
		help = "1-9,0"
	}
	k.Screens.SetHelp(help, "screens")
	return a
}

// Init implements tea.Model.
func (a *app) Init() tea.Cmd { return tea.Batch(a.screens[a.active].Focus(), a.replayInit()) }

// chrome is the number of lines around the screen: header, tabs, status
// line and help bar.
const chrome = 4

// Update implements tea.Model.
// Update routes msg, then tells the feed when the streams on screen
// changed.
func (a *app) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := a.update(msg)
	return m, tea.Batch(cmd, a.refocus(), a.rechart())
}

// refocus is a Cmd telling the feed the streams now on screen, or nil when
// they did not change; screens that show no streams focus none.
func (a *app) refocus() tea.Cmd {
	if a.focus == nil {
		return nil
	}
	var names []string
	if s, ok := a.screens[a.active].(streamsOnView); ok {
		names = s.StreamsOnView()
	}
	if slices.Equal(names, a.focused) {
		return nil
	}
	a.focused = names
	focus := a.focus
	return func() tea.Msg { focus(names...); return nil }
}

func (a *app) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.help.Width = msg.Width
		for _, s := range a.screens {
			s.SetSize(msg.Width, max(1, msg.Height-chrome))
		}
		return a, nil
	case playTickMsg:
		return a, a.playTick(msg)
	case snapshotMsg:
		if a.travel.holding() {
			a.travel.live = msg.snap
			return a, nil
		}
		a.snap = msg.snap
		return a, a.screens[a.active].Update(msg)
	case telemetryMsg:
		// Like snapshots, only the screen on view takes it: the trace
		// and log lists are rebuilt from it, up to ten times a second.
		if a.travel.holding() {
			a.travel.liveTel = msg.snap
			return a, nil
		}
		a.tel = msg.snap
		return a, a.screens[a.active].Update(msg)
	case feedStoppedMsg:
		a.feedErr = msg.err
		return a, nil
	case flashDoneMsg:
		if msg.id == a.flash.id {
			a.flash.text = ""
		}
		return a, nil
	case faultsMsg:
		// Control errors name their operation ("set fault: not
		// permitted ..."); a periodic refresh that fails is shown by the
		// faults screen, not flashed.
		var flash tea.Cmd
		switch {
		case msg.quiet:
		case msg.err != nil:
			flash = a.setFlash(roleFailing, "✗ "+msg.err.Error())
		default:
			flash = a.setFlash(roleHealthy, "✓ "+msg.op)
		}
		return a, tea.Batch(flash, a.broadcast(msg))
	case loadMsg:
		if msg.err != nil {
			return a, a.setFlash(roleFailing, "✗ "+msg.err.Error())
		}
		return a, a.setFlash(roleHealthy, "✓ "+msg.op)
	case openTraceMsg:
		return a, a.openTrace(msg)
	case frameMsg:
		return a, a.showFrame(msg)
	case jumpMsg:
		return a, a.jump(msg)
	case showRunMsg:
		return a, a.showRun()
	case tea.KeyMsg:
		return a, a.key(msg)
	}
	return a, a.broadcast(msg)
}

// broadcast sends msg to every screen.
func (a *app) broadcast(msg tea.Msg) tea.Cmd {
	cmds := make([]tea.Cmd, 0, len(a.screens))
	for _, s := range a.screens {
		cmds = append(cmds, s.Update(msg))
	}
	return tea.Batch(cmds...)
}

func (a *app) key(msg tea.KeyMsg) tea.Cmd {
	k := &a.keys
	cur := a.screens[a.active]
	if msg.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if cur.Capturing() {
		return cur.Update(msg)
	}
	if a.showHelp {
		if key.Matches(msg, k.Help, k.Back) {
			a.showHelp = false
		} else if key.Matches(msg, k.Quit) {
			return tea.Quit
		}
		return nil
	}
	if cmd, ok := a.travelKey(msg); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		a.showHelp = true
		return nil
	case key.Matches(msg, k.Screens):
		return a.switchTo(screenOfKey(msg.String()))
	case key.Matches(msg, k.NextScreen):
		return a.switchTo((a.active + 1) % len(a.screens))
	case key.Matches(msg, k.PrevScreen):
		return a.switchTo((a.active + len(a.screens) - 1) % len(a.screens))
	case key.Matches(msg, k.Back):
		if !cur.Back() && a.previous != a.active {
			return a.switchTo(a.previous)
		}
		return nil
	case key.Matches(msg, k.LoadUp, k.LoadDown, k.Burst) && a.ctl == nil:
		return a.setFlash(roleMuted, "read-only dashboard: the load cannot be changed from here")
	case key.Matches(msg, k.LoadUp):
		return tea.Batch(a.setFlash(roleMuted, "… more load"), stepLoadCmd(a.ctx, a.ctl, true))
	case key.Matches(msg, k.LoadDown):
		return tea.Batch(a.setFlash(roleMuted, "… less load"), stepLoadCmd(a.ctx, a.ctl, false))
	case key.Matches(msg, k.Burst):
		return tea.Batch(a.setFlash(roleMuted, fmt.Sprintf("… burst of %d orders", a.burst)), burstCmd(a.ctx, a.ctl, a.burst))
	}
	return cur.Update(msg)
}

// screenKey is the number key of screen i: 1 to 9, then 0 for the tenth,
// as on the keyboard's row.
func screenKey(i int) string {
	if i == 9 {
		return "0"
	}
	return fmt.Sprint(i + 1)
}

// screenOfKey is the screen a number key reaches (screenKey's inverse).
func screenOfKey(k string) int {
	if k == "0" {
		return 9
	}
	return int(k[0] - '1')
}

func (a *app) openTrace(msg openTraceMsg) tea.Cmd {
	for i, s := range a.screens {
		if tv, ok := s.(traceViewer); ok {
			return tea.Batch(a.switchTo(i), tv.OpenTrace(msg))
		}
	}
	return a.setFlash(roleMuted, "this dashboard has no trace view: saga "+msg.SagaID)
}

// showRun puts the Scenarios screen on view, for a run that started
// elsewhere.
func (a *app) showRun() tea.Cmd {
	for i, s := range a.screens {
		if _, ok := s.(*scenarios); ok {
			return a.switchTo(i)
		}
	}
	return nil
}

func (a *app) switchTo(i int) tea.Cmd {
	if i < 0 || i >= len(a.screens) || i == a.active {
		return nil
	}
	a.previous, a.active = a.active, i
	s := a.screens[i]
	// The screen saw no snapshot while it was off view.
	cmds := []tea.Cmd{s.Update(snapshotMsg{a.snap})}
	if !a.tel.Time.IsZero() {
		cmds = append(cmds, s.Update(telemetryMsg{a.tel}))
	}
	return tea.Batch(append(cmds, s.Focus())...)
}

func (a *app) setFlash(r role, text string) tea.Cmd {
	a.flash.id++
	a.flash.text, a.flash.role = text, r
	id := a.flash.id
	return after(a.ctx, flashFor, flashDoneMsg{id: id})
}

// after sends msg once d has passed, unless ctx ends first. It replaces
// tea.Tick, whose goroutine outlives the program until its timer fires.
func after(ctx context.Context, d time.Duration, msg tea.Msg) tea.Cmd {
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return msg
		case <-ctx.Done():
			return nil
		}
	}
}

// View implements tea.Model.
func (a *app) View() string {
	if a.width == 0 || a.height == 0 {
		return ""
	}
	if a.width < 40 || a.height < 10 {
		return clip(fmt.Sprintf("sagascope needs at least 40x10 (80x24 works best); this terminal is %dx%d", a.width, a.height), a.width, a.height)
	}
	body := ""
	if a.showHelp {
		body = a.helpView()
	} else {
		body = a.screens[a.active].View()
	}
	var b strings.Builder
	b.WriteString(a.headerView())
	b.WriteByte('\n')
	b.WriteString(a.tabsView())
	b.WriteByte('\n')
	b.WriteString(clip(body, a.width, a.height-chrome))
	b.WriteByte('\n')
	b.WriteString(a.statusView())
	b.WriteByte('\n')
	b.WriteString(a.help.ShortHelpView(helpKeys{k: &a.keys, screen: a.screens[a.active].Keys(), readOnly: a.ctl == nil, travelling: a.travel.holding(), replaying: a.travel.replay != nil}.ShortHelp()))
	return clip(b.String(), a.width, a.height)
}

func (a *app) headerView() string {
	st := a.st
	right := a.connectionView()
	if a.ctl == nil {
		right += "  " + st.Degraded.Render("read-only")
	}
	if l := a.snap.Load; l != nil {
		load := "load " + rate(l.Effective) + "/s"
		if l.Effective != l.Rate {
			load += fmt.Sprintf(" (burst ×%.0f)", l.Effective/max(l.Rate, 1))
		}
		right += "  " + st.Strong.Render(load)
	}
	switch {
	case a.travel.mode == travelRewound:
		right += "  " + a.travelView() // it says the time
	case a.travel.mode == travelPaused:
		right += "  " + a.travelView() + "  " + st.Muted.Render(a.snap.Time.Format(time.TimeOnly))
	case !a.snap.Time.IsZero():
		right += "  " + st.Muted.Render(a.snap.Time.Format(time.TimeOnly))
	}
	left := st.AppName.Render("sagascope")
	room := a.width - lipgloss.Width(left) - lipgloss.Width(right) - 3
	if room > 3 && a.title != "" {
		left += "  " + st.Muted.Render(clean(a.title, room))
	}
	gap := max(1, a.width-lipgloss.Width(left)-lipgloss.Width(right))
	return left + strings.Repeat(" ", gap) + right
}

func (a *app) connectionView() string {
	c := a.snap.Connection
	st := a.st
	switch c.State {
	case feed.StateConnected:
		return st.Healthy.Render("● connected")
	case "":
		return st.Muted.Render("◌ starting")
	case feed.StateReconnecting, feed.StateConnecting:
		return st.Degraded.Render("◌ " + c.State + "…")
	}
	return st.Failing.Render("✕ " + c.State)
}

func (a *app) tabsView() string {
	var parts []string
	for i, s := range a.screens {
		label := screenKey(i) + " " + s.Title()
		if i == a.active {
			parts = append(parts, a.st.ActiveTab.Render(label))
		} else {
			parts = append(parts, a.st.Tab.Render(label))
		}
	}
	// Nine tabs two spaces apart are 94 cells: one space fits 120, and
	// 80 needs the titles of the tabs not on view shortened.
	if line := strings.Join(parts, "  "); lipgloss.Width(line) <= a.width {
		return line
	}
	if line := strings.Join(parts, " "); lipgloss.Width(line) <= a.width {
		return line
	}
	for cut := 8; cut >= 3; cut-- {
		parts = parts[:0]
		for i, s := range a.screens {
			if i == a.active {
				parts = append(parts, a.st.ActiveTab.Render(screenKey(i)+" "+s.Title()))
			} else {
				parts = append(parts, a.st.Tab.Render(screenKey(i)+" "+clean(s.Title(), cut)))
			}
		}
		if line := strings.Join(parts, " "); lipgloss.Width(line) <= a.width {
			return line
		}
	}
	return strings.Join(parts, " ")
}

// statusView is the line above the help: the outcome of the last action,
// else what the feed cannot read, else how fresh the data is.
func (a *app) statusView() string {
	st := a.st
	w := a.width
	switch {
	case a.flash.text != "":
		return st.paint(a.flash.role, sanitize.Line(a.flash.text, w))
	case a.feedErr != nil:
		return st.Failing.Render(sanitize.Line("✗ feed stopped: "+a.feedErr.Error(), w))
	case a.notableView() != "":
		return st.Strong.Render(sanitize.Line(a.notableView(), w))
	case len(a.snap.Problems) > 0:
		p := a.snap.Problems[0]
		text := "⚠ " + p.Source + ": " + p.Error
		if n := len(a.snap.Problems) - 1; n > 0 {
			text += fmt.Sprintf(" (+%d more)", n)
		}
		return st.Degraded.Render(sanitize.Line(text, w))
	case a.snap.Connection.State != "" && a.snap.Connection.State != feed.StateConnected:
		return st.Degraded.Render(sanitize.Line("showing the last data seen; NATS reconnects on its own", w))
	}
	return ""
}

func (a *app) helpView() string {
	h := a.help
	h.ShowAll = true
	groups := helpKeys{k: &a.keys, screen: a.screens[a.active].Keys(), readOnly: a.ctl == nil}.FullHelp()
	// Two columns of groups fit 80 columns; four do not. The time travel
	// keys are the third column of the second row.
	body := h.FullHelpView(groups[:2]) + "\n\n" + h.FullHelpView(groups[2:]) +
		"\n" + a.st.Muted.Render("rewound: screens show the past, faults and load change the live system")
	title := a.st.Section.Render(a.screens[a.active].Title()+" keys") + a.st.Muted.Render("   ? or esc closes")
	return a.st.Box.Render(title + "\n\n" + body)
}
