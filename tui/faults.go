package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/tui/feed"
)

// faults is the fault injection screen: a form to choose a service, a
// fault kind and its parameters, and the list of faults in force, each
// clearable. Parameters step through ladders of sensible values with ←/→,
// so a workshop never types a duration.
type faults struct {
	ctx  context.Context
	ctl  controller
	st   *Styles
	keys *KeyMap
	snap feed.Snapshot

	service int // index in contract.Services
	kind    int // index in kindsFor(service)
	params  map[string]int
	cursor  int

	// reply is the fault list of the last control answer; it is shown
	// instead of the status feed's for replyFresh, until every instance
	// has reported the change.
	reply      []contract.Fault
	replyAt    time.Time
	controlErr error

	width, height int
}

// replyFresh is how long a control answer is trusted over the status feed:
// instances report about twice a second.
const replyFresh = 2 * time.Second

// ladder is the values a parameter steps through.
type ladder struct {
	name   string
	values []time.Duration // durations, or fractions ×1e9 for probabilities and multipliers
	def    int
	uses   func(contract.FaultKindInfo) bool
	show   func(time.Duration) string
}

func frac(f float64) time.Duration { return time.Duration(f * 1e9) }

var faultLadders = []ladder{
	{name: "probability", values: []time.Duration{frac(0.05), frac(0.1), frac(0.2), frac(0.3), frac(0.5), frac(0.75), frac(1)}, def: 3,
		uses: func(i contract.FaultKindInfo) bool { return i.Probability },
		show: func(v time.Duration) string { return fmt.Sprintf("%.0f%%", float64(v)/1e7) }},
	{name: "latency", values: []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}, def: 4,
		uses: func(i contract.FaultKindInfo) bool { return i.Latency }, show: dur},
	{name: "jitter", values: []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}, def: 0,
		uses: func(i contract.FaultKindInfo) bool { return i.Latency }, show: dur},
	{name: "multiplier", values: []time.Duration{frac(2), frac(5), frac(10), frac(20), frac(50), frac(100)}, def: 2,
		uses: func(i contract.FaultKindInfo) bool { return i.Multiplier },
		show: func(v time.Duration) string { return fmt.Sprintf("×%g", float64(v)/1e9) }},
	{name: "restart after", values: []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}, def: 1,
		uses: func(i contract.FaultKindInfo) bool { return i.Restart }, show: dur},
	{name: "duration", values: []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute}, def: 3,
		uses: func(contract.FaultKindInfo) bool { return true },
		show: func(v time.Duration) string {
			if v == 0 {
				return "until cleared"
			}
			return dur(v)
		}},
}

func newFaults(ctx context.Context, st *Styles, k *KeyMap, ctl controller) *faults {
	f := &faults{ctx: ctx, ctl: ctl, st: st, keys: k, params: map[string]int{}}
	f.service = slices.Index(contract.Services, contract.Payment)
	f.kind = slices.IndexFunc(f.kinds(), func(i contract.FaultKindInfo) bool { return i.Kind == contract.FaultDependencyDown })
	for _, l := range faultLadders {
		f.params[l.name] = l.def
	}
	return f
}

func (f *faults) Title() string    { return "Faults" }
func (f *faults) SetSize(w, h int) { f.width, f.height = w, h }
func (f *faults) Capturing() bool  { return false }
func (f *faults) Back() bool       { return false }
func (f *faults) Keys() []key.Binding {
	return []key.Binding{f.keys.Left, f.keys.Right, f.keys.Apply, f.keys.ClearFault, f.keys.ResetAll, f.keys.Burst}
}

// Focus asks the control API for the faults in force: it also tells
// whether faults can be injected from here at all.
func (f *faults) Focus() tea.Cmd {
	if f.ctl == nil {
		return nil
	}
	return listFaultsCmd(f.ctx, f.ctl)
}

// kinds are the fault kinds that apply to the chosen service.
func (f *faults) kinds() []contract.FaultKindInfo {
	svc := contract.Services[f.service]
	var out []contract.FaultKindInfo
	for _, k := range contract.FaultKinds {
		if k.Services == nil || slices.Contains(k.Services, svc) {
			out = append(out, k)
		}
	}
	return out
}

func (f *faults) kindInfo() contract.FaultKindInfo {
	ks := f.kinds()
	return ks[min(f.kind, len(ks)-1)]
}

// fields are the form's rows: service, kind, then the ladders the kind
// uses.
func (f *faults) fields() []string {
	out := []string{"service", "fault"}
	info := f.kindInfo()
	for _, l := range faultLadders {
		if l.uses(info) {
			out = append(out, l.name)
		}
	}
	return out
}

// shown are the faults to list: the last answer while it is fresh, else
// what the instances report.
func (f *faults) shown() []contract.Fault {
	list := f.snap.Faults
	if !f.replyAt.IsZero() && f.snap.Time.Sub(f.replyAt) < replyFresh {
		list = f.reply
	}
	out := make([]contract.Fault, 0, len(list))
	for _, x := range list {
		if f.snap.Time.IsZero() || x.Active(f.snap.Time) {
			out = append(out, x)
		}
	}
	return out
}

func (f *faults) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		f.snap = msg.snap
	case faultsMsg:
		f.controlErr = msg.err
		if msg.err == nil {
			f.reply, f.replyAt = msg.faults, msg.at
		}
	case tea.KeyMsg:
		return f.key(msg)
	}
	return nil
}

func (f *faults) key(msg tea.KeyMsg) tea.Cmd {
	fields := f.fields()
	active := f.shown()
	rows := len(fields) + len(active)
	k := f.keys
	switch {
	case key.Matches(msg, k.Up):
		f.cursor = max(0, f.cursor-1)
	case key.Matches(msg, k.Down):
		f.cursor = min(rows-1, f.cursor+1)
	case key.Matches(msg, k.Left):
		f.step(fields, -1)
	case key.Matches(msg, k.Right):
		f.step(fields, +1)
	case key.Matches(msg, k.Apply):
		if f.ctl == nil {
			return nil
		}
		return setFaultCmd(f.ctx, f.ctl, f.fault())
	case key.Matches(msg, k.ClearFault):
		if i := f.cursor - len(fields); i >= 0 && i < len(active) && f.ctl != nil {
			return clearFaultCmd(f.ctx, f.ctl, active[i].Service, active[i].Kind)
		}
	case key.Matches(msg, k.ResetAll):
		if f.ctl != nil {
			return resetFaultsCmd(f.ctx, f.ctl)
		}
	}
	return nil
}

// step changes the field under the cursor.
func (f *faults) step(fields []string, delta int) {
	if f.cursor >= len(fields) {
		return
	}
	wrap := func(v, n int) int { return ((v % n) + n) % n }
	switch name := fields[f.cursor]; name {
	case "service":
		cur := f.kindInfo().Kind
		f.service = wrap(f.service+delta, len(contract.Services))
		// Keep the kind if the new service has it.
		f.kind = max(0, slices.IndexFunc(f.kinds(), func(i contract.FaultKindInfo) bool { return i.Kind == cur }))
	case "fault":
		f.kind = wrap(f.kind+delta, len(f.kinds()))
	default:
		for _, l := range faultLadders {
			if l.name == name {
				f.params[name] = min(max(0, f.params[name]+delta), len(l.values)-1)
			}
		}
	}
}

func (f *faults) value(name string) time.Duration {
	for _, l := range faultLadders {
		if l.name == name {
			return l.values[f.params[name]]
		}
	}
	return 0
}

// fault is the fault the form describes.
func (f *faults) fault() contract.Fault {
	info := f.kindInfo()
	x := contract.Fault{Service: contract.Services[f.service], Kind: info.Kind, Duration: f.value("duration")}
	if info.Probability {
		x.Probability = float64(f.value("probability")) / 1e9
	}
	if info.Latency {
		x.Latency, x.Jitter = f.value("latency"), f.value("jitter")
	}
	if info.Multiplier {
		x.Multiplier = float64(f.value("multiplier")) / 1e9
	}
	if info.Restart {
		x.RestartAfter = f.value("restart after")
	}
	return x
}

func (f *faults) View() string {
	st := f.st
	fields := f.fields()
	active := f.shown()
	f.cursor = min(f.cursor, len(fields)+len(active)-1)
	var b strings.Builder
	b.WriteString(st.Section.Render("INJECT A FAULT"))
	b.WriteString(st.Muted.Render("  ↑/↓ choose · ←/→ change · enter injects"))
	if msg, r := f.controlView(); msg != "" {
		b.WriteString("\n" + st.paint(r, clean(msg, f.width)))
	}
	info := f.kindInfo()
	for i, name := range fields {
		val := ""
		switch name {
		case "service":
			val = string(contract.Services[f.service])
		case "fault":
			val = string(info.Kind)
		default:
			for _, l := range faultLadders {
				if l.name == name {
					val = l.show(l.values[f.params[name]])
				}
			}
		}
		line := fit(name, 14) + "◂ " + val + " ▸"
		if name == "fault" {
			line += "  " + st.Muted.Render(clean(info.Summary, max(10, f.width-len(val)-24)))
		}
		b.WriteString("\n")
		if i == f.cursor {
			b.WriteString(st.Accent.Render("▸ ") + st.Strong.Render(line))
		} else {
			b.WriteString("  " + line)
		}
	}
	b.WriteString("\n\n")
	b.WriteString(st.Section.Render(fmt.Sprintf("IN FORCE (%d)", len(active))))
	b.WriteString(st.Muted.Render("  x clears the selected fault · R clears every fault"))
	if len(active) == 0 {
		b.WriteString("\n" + st.Muted.Render("  no fault injected"))
	}
	room := f.height - strings.Count(b.String(), "\n") - 3
	for i, x := range active[:min(len(active), max(1, room))] {
		left := "until cleared"
		if !x.Expires.IsZero() {
			left = dur(x.Expires.Sub(f.snap.Time).Round(time.Second)) + " left"
		}
		line := fit(string(x.Service), 10) + " " + fit(string(x.Kind)+" "+faultParams(x), 32) + " " + fit(left, 16) +
			st.Muted.Render("set "+since(f.snap.Time, x.Set)+" ago")
		b.WriteString("\n")
		if len(fields)+i == f.cursor {
			b.WriteString(st.Accent.Render("▸ ") + st.Degraded.Render(line))
		} else {
			b.WriteString("  " + st.Degraded.Render(line))
		}
	}
	b.WriteString("\n\n")
	b.WriteString(f.loadView())
	return b.String()
}

// controlView says when faults cannot be injected from here, and why.
func (f *faults) controlView() (string, role) {
	switch {
	case f.ctl == nil:
		return "read-only dashboard: this login may watch, not inject faults or change the load", roleMuted
	case errors.Is(f.controlErr, control.ErrNoResponders):
		return "no sagascope service answers the control API here: faults cannot be injected", roleDegraded
	case errors.Is(f.controlErr, control.ErrNotPermitted):
		return "this connection may not use the control API: " + f.controlErr.Error(), roleFailing
	case f.controlErr != nil:
		return "control API: " + f.controlErr.Error(), roleFailing
	}
	return "", roleNone
}

func (f *faults) loadView() string {
	st := f.st
	text := st.Section.Render("LOAD  ")
	if l := f.snap.Load; l != nil {
		text += st.Strong.Render(rate(l.Rate)+" orders/s") + st.Muted.Render(fmt.Sprintf(" · %s placed", commas(l.Placed)))
	} else {
		text += st.Muted.Render("no load generator reports")
	}
	return text + st.Muted.Render("  + more · - less · b burst (from any screen)")
}
