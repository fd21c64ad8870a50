package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// sagas lists the most recently started sagas with the state of each step;
// enter shows one saga in full, and t (or enter again) opens its trace.
type sagas struct {
	st   *Styles
	keys *KeyMap
	snap feed.Snapshot
	list *list[*feed.Saga]
	// counts are the recent sagas by status, counted once a snapshot.
	counts map[contract.SagaStatus]int
	// open is the id of the saga being inspected, "" for none.
	open   string
	width  int
	height int
}

func newSagas(st *Styles, k *KeyMap) *sagas {
	s := &sagas{st: st, keys: k, counts: map[contract.SagaStatus]int{}}
	s.list = newList(st, listSpec[*feed.Saga]{
		cols: []column{
			{title: "SAGA", width: 10, flex: true},
			{title: "STATUS", width: 12},
			{title: "CHARGE", width: 10},
			{title: "RESERVE", width: 10},
			{title: "SCHEDULE", width: 10},
			{title: "AGE", width: 4, right: true, prio: 2},
			{title: "TOOK", width: 6, right: true},
			{title: "REASON", width: 10, flex: true, prio: 1},
		},
		empty: "no saga seen yet",
		key:   func(sg *feed.Saga) string { return sg.ID },
		tail:  true,
		match: func(f *filter, sg *feed.Saga) bool {
			return f.matches(sg.ID, string(sg.Status), sg.Reason, sg.Order.Customer, sg.Order.SKU)
		},
		row: s.row,
	}, nil)
	return s
}

func (s *sagas) Title() string { return "Sagas" }

func (s *sagas) SetSize(w, h int) {
	s.width, s.height = w, h
	s.list.setSize(w, h-3)
}

func (s *sagas) Keys() []key.Binding {
	return []key.Binding{s.keys.Inspect, s.keys.Trace, s.keys.Filter}
}

func (s *sagas) Capturing() bool { return s.list.typing() }

func (s *sagas) Back() bool {
	if s.open != "" {
		s.open = ""
		return true
	}
	return s.list.back()
}

func (s *sagas) Focus() tea.Cmd { return nil }

func (s *sagas) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		s.snap = msg.snap
		s.list.set(s.snap.Recent)
		clear(s.counts)
		for _, sg := range s.snap.Recent {
			s.counts[sg.Status]++
		}
	case tea.KeyMsg:
		switch {
		case s.list.typing():
		case key.Matches(msg, s.keys.Filter):
			s.open = ""
		case key.Matches(msg, s.keys.Trace), key.Matches(msg, s.keys.Inspect) && s.open != "":
			if id := s.current(); id != "" {
				return func() tea.Msg { return openTraceMsg{SagaID: id} }
			}
			return nil
		case key.Matches(msg, s.keys.Inspect):
			if sg, ok := s.list.selected(); ok {
				s.open = sg.ID
			}
			return nil
		case s.open != "":
			return nil // the inspector has no keys of its own
		}
		cmd, _ := s.list.update(msg, s.keys)
		return cmd
	}
	return nil
}

// current is the saga being inspected, else the one selected, else "".
func (s *sagas) current() string {
	if s.open != "" {
		return s.open
	}
	if sg, ok := s.list.selected(); ok {
		return sg.ID
	}
	return ""
}

// stepText marks a step's state so it reads without colour:
// ✓ done, … sent, ✗ rejected, ↺ undoing/undone (compensation), ⚠ the
// compensation failed.
func stepText(s contract.StepState) string {
	switch s {
	case "":
		return "·"
	case contract.StepDone:
		return "✓ done"
	case contract.StepPending:
		return "… sent"
	case contract.StepRejected:
		return "✗ rejected"
	case contract.StepCompensating:
		return "↺ undoing"
	case contract.StepCompensated:
		return "↺ undone"
	case contract.StepFailed:
		return "⚠ failed"
	}
	return string(s)
}

func statusText(st contract.SagaStatus) string {
	if st == contract.SagaCompensationFailed {
		return "PARKED"
	}
	return string(st)
}

func (s *sagas) row(sg *feed.Saga) row {
	took := "—"
	if sg.Status.Final() {
		took = dur(sg.Updated.Sub(sg.Started))
	}
	step := func(st contract.Step) cell {
		v := sg.Steps[st]
		return cell{text: stepText(v), role: stepRole(v)}
	}
	return row{cells: []cell{
		{text: clean(sg.ID, 64)},
		{text: statusText(sg.Status), role: sagaRole(sg.Status)},
		step(contract.StepCharge),
		step(contract.StepReserve),
		step(contract.StepSchedule),
		{text: since(s.snap.Time, sg.Started), role: roleMuted},
		{text: took},
		{text: clean(sg.Reason, 120), role: roleMuted},
	}}
}

func (s *sagas) View() string {
	st := s.st
	var b strings.Builder
	counts := s.counts
	inFlight := 0
	for k, n := range counts {
		if !k.Final() {
			inFlight += n
		}
	}
	b.WriteString(st.Section.Render("RECENT SAGAS"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d · ", s.list.len(), len(s.snap.Recent))))
	b.WriteString(st.Strong.Render(fmt.Sprintf("%d in flight", inFlight)) + st.Muted.Render(" · "))
	b.WriteString(st.Healthy.Render(fmt.Sprintf("%d completed", counts[contract.SagaCompleted])) + st.Muted.Render(" · "))
	b.WriteString(st.paint(nonZero(uint64(counts[contract.SagaCancelled]), roleDegraded), fmt.Sprintf("%d cancelled", counts[contract.SagaCancelled])) + st.Muted.Render(" · "))
	b.WriteString(st.paint(nonZero(uint64(counts[contract.SagaCompensationFailed]), roleFailing), fmt.Sprintf("%d parked", counts[contract.SagaCompensationFailed])))
	if f := s.list.filterView(st, s.width-70); f != "" {
		b.WriteString("  " + f)
	}
	b.WriteString("\n")
	if !s.snap.Sources.Sagas && len(s.snap.Recent) == 0 {
		b.WriteString(st.Muted.Render("No " + contract.SagaBucket + " bucket on this server: no sagascope sagas run here."))
		return b.String()
	}
	if s.open != "" {
		if sg, ok := s.list.find(s.open); ok {
			b.WriteString(s.inspect(sg))
			return b.String()
		}
	}
	b.WriteString(s.list.view(st))
	if pad := s.height - 2 - strings.Count(b.String(), "\n"); pad > 0 {
		b.WriteString(strings.Repeat("\n", pad))
	}
	b.WriteString("\n" + st.Muted.Render(clean("✓ done · … awaiting reply · ✗ rejected · ↺ compensated · ⚠ compensation failed", s.width)))
	return b.String()
}

// inspect shows one saga in full.
func (s *sagas) inspect(sg *feed.Saga) string {
	st := s.st
	w := s.width
	var b strings.Builder
	kv := func(k, v string, r role) {
		b.WriteString("\n" + st.Muted.Render(fit(k, 12)) + st.paint(r, clean(v, w-12)))
	}
	b.WriteString(st.Strong.Render("saga "+clean(sg.ID, w-40)) + st.Muted.Render("   enter or t opens its trace · esc back"))
	kv("status", statusText(sg.Status), sagaRole(sg.Status))
	if sg.Reason != "" {
		kv("reason", sg.Reason, roleNone)
	}
	o := sg.Order
	kv("order", fmt.Sprintf("customer %s · sku %s × %d · %s", o.Customer, o.SKU, o.Qty, cents(o.Amount)), roleNone)
	for _, step := range contract.Steps {
		kv(string(step), stepText(sg.Steps[step]), stepRole(sg.Steps[step]))
	}
	kv("started", sg.Started.UTC().Format(time.RFC3339Nano)+" ("+since(s.snap.Time, sg.Started)+" ago)", roleNone)
	kv("updated", sg.Updated.UTC().Format(time.RFC3339Nano), roleNone)
	if sg.Status.Final() {
		kv("took", dur(sg.Updated.Sub(sg.Started)), roleNone)
	}
	if !sg.Deadline.IsZero() {
		kv("deadline", sg.Deadline.UTC().Format(time.RFC3339)+" (step times out and is compensated)", roleNone)
	}
	if sg.Attempt > 0 {
		kv("attempt", fmt.Sprintf("%d (re-sent by the sweeper)", sg.Attempt), roleDegraded)
	}
	kv("revision", fmt.Sprint(sg.Revision), roleMuted)
	return b.String()
}

func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
