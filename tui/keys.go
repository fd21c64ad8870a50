package tui

import (
	"slices"

	"github.com/charmbracelet/bubbles/key"
)

// KeyMap is every key binding of the dashboard. The help bar and the `?`
// overlay are built from it, so help cannot drift from behaviour.
type KeyMap struct {
	Quit       key.Binding
	Help       key.Binding
	Screens    key.Binding // 1-9 and 0 (the tenth) jump to a screen; newApp sets its help to the screens there are
	NextScreen key.Binding
	PrevScreen key.Binding
	Back       key.Binding

	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Left     key.Binding
	Right    key.Binding

	Filter  key.Binding
	Sort    key.Binding
	Reverse key.Binding
	Inspect key.Binding
	Trace   key.Binding
	// OpenTrace opens the trace of a log line (enter and t do the same).
	OpenTrace key.Binding
	// Charts opens the charts of the consumer under the cursor.
	Charts key.Binding
	// Diagnoses opens the list of every diagnosis on the Overview; GoTo
	// shows the screen the one under the cursor names.
	Diagnoses key.Binding
	GoTo      key.Binding

	// Browse opens a stream's messages (a KV bucket's keys); Jump,
	// SubjectFilter, Follow and Raw are the keys of those views.
	Browse        key.Binding
	Jump          key.Binding
	SubjectFilter key.Binding
	Follow        key.Binding
	Raw           key.Binding

	Apply      key.Binding
	ClearFault key.Binding
	ResetAll   key.Binding

	LoadUp   key.Binding
	LoadDown key.Binding
	Burst    key.Binding

	RunScenario key.Binding
	Confirm     key.Binding
	CancelRun   key.Binding
	// StepMode, NextPhase, Reveal and Answer pace a run and its questions
	// (a workshop): the first three are the instructor's.
	StepMode  key.Binding
	NextPhase key.Binding
	Reveal    key.Binding
	Answer    key.Binding

	// Time travel (travel.go): pause, step through the history, return to
	// live. The system stays live: control keys still change it.
	Pause       key.Binding
	StepBack    key.Binding
	StepForward key.Binding
	JumpBack    key.Binding
	JumpForward key.Binding
	PrevNotable key.Binding
	NextNotable key.Binding
	Live        key.Binding
	// AllStreams switches the Servers screen's replicas between the
	// selected server's streams and every stream.
	AllStreams key.Binding
	// Speed plays a replay faster; a live dashboard has it disabled.
	Speed key.Binding
}

// DefaultKeyMap returns the dashboard's keys.
func DefaultKeyMap() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Quit:       b("q", "quit", "q", "ctrl+c"),
		Help:       b("?", "help", "?"),
		Screens:    b("1-9", "screens", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0"),
		NextScreen: b("tab", "next screen", "tab"),
		PrevScreen: b("shift+tab", "previous screen", "shift+tab"),
		Back:       b("esc", "back", "esc"),

		Up:       b("↑/k", "up", "up", "k"),
		Down:     b("↓/j", "down", "down", "j"),
		PageUp:   b("pgup", "page up", "pgup", "ctrl+b"),
		PageDown: b("pgdn", "page down", "pgdown", "ctrl+f", " "),
		Top:      b("home/g", "first", "home", "g"),
		Bottom:   b("end/G", "last", "end", "G"),
		Left:     b("←/h", "less / previous", "left", "h"),
		Right:    b("→/l", "more / next", "right", "l"),

		Filter:    b("/", "filter", "/"),
		Sort:      b("s", "sort by next column", "s"),
		Reverse:   b("S", "reverse sort", "S"),
		Inspect:   b("enter", "inspect", "enter"),
		Trace:     b("t", "open the trace", "t"),
		OpenTrace: b("enter/t", "open its trace", "enter", "t"),
		Charts:    b("enter", "charts", "enter"),
		Diagnoses: b("d", "diagnoses", "d"),
		GoTo:      b("enter", "go to its screen", "enter"),

		Browse:        b("enter", "open", "enter"),
		Jump:          b(":", "jump to seq/time", ":"),
		SubjectFilter: b("/", "subject", "/"),
		Follow:        b("F", "follow", "F"),
		Raw:           b("r", "raw messages", "r"),

		Apply:      b("enter", "inject fault", "enter"),
		ClearFault: b("x", "clear selected fault", "x", "delete"),
		ResetAll:   b("R", "clear every fault", "R"),

		LoadUp:   b("+", "more load", "+", "="),
		LoadDown: b("-", "less load", "-", "_"),
		Burst:    b("b", "burst of orders", "b"),

		RunScenario: b("enter", "run scenario", "enter"),
		Confirm:     b("enter/y", "run it", "enter", "y"),
		CancelRun:   b("x/esc", "cancel the run", "x", "esc"),
		StepMode:    b("m", "step mode on/off", "m"),
		NextPhase:   b("n", "next phase", "n"),
		Reveal:      b("v", "reveal the answer", "v"),
		Answer:      b("a", "answer (then a-d)", "a"),

		Pause:       b("p", "pause / resume", "p"),
		StepBack:    b(",", "1s back", ","),
		StepForward: b(".", "1s forward", "."),
		JumpBack:    b("<", "10s back", "<"),
		JumpForward: b(">", "10s forward", ">"),
		PrevNotable: b("[", "previous event", "["),
		NextNotable: b("]", "next event", "]"),
		Live:        b("L", "back to live", "L"),
		AllStreams:  b("a", "all streams / this server's", "a"),
		Speed:       disabled(b("f", "speed 1×/4×/16×", "f")),
	}
}

func disabled(b key.Binding) key.Binding {
	b.SetEnabled(false)
	return b
}

// controls are the keys that change the system. A read-only dashboard
// leaves them out of its help; pressed, they say why nothing happens.
func (k *KeyMap) controls() []key.Binding {
	return []key.Binding{k.Apply, k.ClearFault, k.ResetAll, k.LoadUp, k.LoadDown, k.Burst}
}

// travel are the time travel keys, in the order help shows them.
func (k *KeyMap) travel() []key.Binding {
	return []key.Binding{k.Pause, k.Speed, k.StepBack, k.StepForward, k.JumpBack, k.JumpForward, k.PrevNotable, k.NextNotable, k.Live}
}

// helpKeys adapts the bindings of the screen on view to help.KeyMap: the
// screen's own keys first, then the ones that work everywhere.
type helpKeys struct {
	k        *KeyMap
	screen   []key.Binding
	readOnly bool
	// travelling puts the keys that move through the history first in
	// the help bar: the dashboard is paused or rewound.
	travelling bool
	// replaying puts play, speed and the steps first: a recording plays.
	replaying bool
}

func (h helpKeys) ShortHelp() []key.Binding {
	// Help and quit come right after the screen's keys, so a narrow
	// terminal that cuts the bar still shows them.
	var out []key.Binding
	if h.replaying {
		k := h.k
		out = append(out, k.Pause, k.Speed, k.StepBack, k.StepForward, k.PrevNotable, k.NextNotable)
	} else if h.travelling {
		k := h.k
		out = append(out, k.Live, k.StepBack, k.StepForward, k.PrevNotable, k.NextNotable)
	}
	out = append(out, h.screen...)
	return h.shown(append(out, h.k.Help, h.k.Quit, h.k.Screens, h.k.LoadUp, h.k.LoadDown))
}

func (h helpKeys) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		h.shown(h.screen),
		{k.Screens, k.NextScreen, k.PrevScreen, k.Back},
		h.shown([]key.Binding{k.LoadUp, k.LoadDown, k.Burst, k.Help, k.Quit}),
		k.travel(),
	}
}

// shown is bs without the control keys when the dashboard is read-only.
func (h helpKeys) shown(bs []key.Binding) []key.Binding {
	if !h.readOnly {
		return bs
	}
	return slices.DeleteFunc(slices.Clone(bs), func(b key.Binding) bool {
		return slices.ContainsFunc(h.k.controls(), func(c key.Binding) bool {
			return c.Help() == b.Help() && slices.Equal(c.Keys(), b.Keys())
		})
	})
}
