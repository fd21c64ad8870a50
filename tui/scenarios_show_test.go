package tui

import (
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// followRun sends msg to a and then what its commands return, as the
// program would, but only the messages a screen sends to the app (a
// batch's other commands may wait).
func followRun(a *app, msg tea.Msg) {
	_, cmd := a.Update(msg)
	for _, m := range drain(cmd) {
		if _, ok := m.(showRunMsg); ok {
			a.Update(m)
		}
	}
}

// drain runs cmd and the commands of any batch it returns.
func drain(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, drain(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// A run started elsewhere takes an attendee's screen when it is going,
// once: a run found stored that ended long ago does not, and an attendee
// who leaves the Scenarios screen is not brought back by its next events.
func TestARunStartedElsewhereTakesTheScreenOnceWhileItGoes(t *testing.T) {
	a := newApp(appConfig{ctx: t.Context(), title: "tls://10.0.0.5:4222", styles: plainStyles(), scenarios: scenarioConfig{name: "ada"}})
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	a.Update(snapshotMsg{fixtureSnapshot()})
	onScenarios := func() bool { _, ok := a.screens[a.active].(*scenarios); return ok }

	// The events of a finished run, stamped long ago: stored, not going.
	for _, e := range workshopEvents(t, "debrief") {
		followRun(a, runEventMsg{e})
	}
	if onScenarios() {
		t.Fatal("a run that ended long ago took the screen")
	}

	now := time.Now()
	live := workshopEvents(t, "follow")
	for i := range live {
		live[i].Run, live[i].Time = "live", now
	}
	followRun(a, runEventMsg{live[0]})
	if !onScenarios() {
		t.Fatal("a run that just started did not take the screen")
	}
	press(a, "1")
	for _, e := range live[1:] {
		followRun(a, runEventMsg{e})
	}
	if onScenarios() {
		t.Fatal("the run took the screen back after the attendee left it")
	}
	if s := a.screens[screenIndex(t, a, "Scenarios")].(*scenarios); s.run == nil || s.run.runID != "live" || !s.run.waiting {
		t.Fatalf("the run off view was not followed: %+v", s.run)
	}
}
