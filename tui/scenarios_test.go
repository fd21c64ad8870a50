package tui

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
)

// scenarioApp is testApp with a scenario target, on the Scenarios screen.
func scenarioApp(t *testing.T, width, height int, target scenario.Target) *app {
	t.Helper()
	a := newApp(appConfig{ctx: t.Context(), title: "embedded demo on nats://127.0.0.1:4222", styles: plainStyles(), ctl: &fakeControl{},
		scenarios: scenarioConfig{target: target}})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	a.Update(snapshotMsg{fixtureSnapshot()})
	press(a, "9")
	return a
}

// gatewayEvents are the events of a gateway-down run: up to the breaker
// opening and a cancelled-sagas count still waiting when partial, else to
// a finish where one expectation failed.
func gatewayEvents(t *testing.T, finished bool) []scenario.Event {
	t.Helper()
	sc, err := scenario.Lookup("gateway-down")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return fixtureTime.Add(time.Duration(s) * time.Second) }
	check := func(phase, step int, pass bool, observed string) *scenario.Check {
		return &scenario.Check{Expectation: *sc.Phases[phase].Steps[step].Expect, Phase: sc.Phases[phase].Name, Pass: pass, Observed: observed}
	}
	what := func(phase, step int) string { return sc.Phases[phase].Steps[step].String() }
	evs := []scenario.Event{
		{Kind: scenario.ScenarioStarted, Time: at(0), Phase: -1},
		{Kind: scenario.PhaseStarted, Time: at(0), Phase: 0},
		{Kind: scenario.StepDone, Time: at(0), Phase: 0, Step: 0, What: what(0, 0)},
		{Kind: scenario.StepDone, Time: at(4), Phase: 0, Step: 1, What: what(0, 1), Check: check(0, 1, true, "14")},
		{Kind: scenario.StepDone, Time: at(4), Phase: 0, Step: 2, What: what(0, 2), Check: check(0, 2, true, "closed")},
		{Kind: scenario.PhaseStarted, Time: at(4), Phase: 1},
		{Kind: scenario.StepDone, Time: at(4), Phase: 1, Step: 0, What: what(1, 0)},
		{Kind: scenario.StepDone, Time: at(6), Phase: 1, Step: 1, What: what(1, 1), Check: check(1, 1, true, "open")},
		{Kind: scenario.StepDone, Time: at(7), Phase: 1, Step: 2, What: what(1, 2), Check: check(1, 2, true, "3")},
		{Kind: scenario.StepStarted, Time: at(7), Phase: 1, Step: 3, What: what(1, 3)},
		{Kind: scenario.Progress, Time: at(9), Phase: 1, Step: 3, What: what(1, 3), Check: check(1, 3, false, "6")},
	}
	if !finished {
		return evs
	}
	failed := check(1, 3, false, "8")
	failed.Err = errors.New("read SAGA_ORDERS: \x1b[31mtimeout") // a hostile error text is drawn clean
	settle := scenario.Check{Phase: "final", Pass: true, Observed: "settled"}
	final := scenario.Check{Expectation: sc.Final.Expect[0], Phase: "final", Pass: true, Observed: "OK"}
	evs = append(evs,
		scenario.Event{Kind: scenario.StepDone, Time: at(27), Phase: 1, Step: 3, What: what(1, 3), Check: failed},
		scenario.Event{Kind: scenario.FinalStarted, Time: at(50), Phase: -1, What: "stop the load, clear every fault, and let every saga finish"},
		scenario.Event{Kind: scenario.StepDone, Time: at(53), Phase: -1, Step: -1, What: "every saga finished", Check: &settle},
		scenario.Event{Kind: scenario.StepStarted, Time: at(53), Phase: -1, Step: 0, What: "expect " + sc.Final.Expect[0].String()},
		scenario.Event{Kind: scenario.StepDone, Time: at(55), Phase: -1, Step: 0, What: "expect " + sc.Final.Expect[0].String(), Check: &final},
	)
	res := &scenario.Result{Scenario: sc.Name, Checks: []scenario.Check{*failed, settle, final}, Duration: 55 * time.Second}
	return append(evs, scenario.Event{Kind: scenario.ScenarioFinished, Time: at(55), Phase: -1, Result: res})
}

// The Scenarios screen: the catalogue against an attached system (the
// scenarios that stop processes are marked), a run in progress, and a run
// that finished with a failed expectation.
func TestScenariosGolden(t *testing.T) {
	attached := scenario.Attached{Dial: func(ctx context.Context, name string) (*nats.Conn, error) {
		return connect.Dial(ctx, connect.Options{Servers: "nats://127.0.0.1:4222"}, name)
	}}
	tests := []struct {
		name   string
		target scenario.Target
		keys   []string
		events func(t *testing.T) []scenario.Event
	}{
		{name: "scenarios_catalogue", target: attached, keys: []string{"down", "down", "down", "down", "down"}},
		{name: "scenarios_no_target", keys: []string{"enter"}},
		{name: "scenarios_confirm", target: attached, keys: []string{"down", "down", "down", "down", "down", "enter"}},
		{name: "scenarios_running", target: attached, keys: []string{"down", "enter", "y"},
			events: func(t *testing.T) []scenario.Event { return gatewayEvents(t, false) }},
		{name: "scenarios_finished_failed", target: attached, keys: []string{"down", "enter", "y"},
			events: func(t *testing.T) []scenario.Event { return gatewayEvents(t, true) }},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				a := scenarioApp(t, sz.w, sz.h, tt.target)
				press(a, tt.keys...)
				if tt.events != nil {
					for _, e := range tt.events(t) {
						a.Update(scenarioEventMsg{run: 1, e: e})
					}
				}
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// workshopEvents are a gateway-down run in step mode as the run stream
// carries it: started, the first phase waiting with its question, and
// then, when to is later, the answers counted, revealed and the run done.
func workshopEvents(t *testing.T, to string) []contract.RunEvent {
	t.Helper()
	sc, err := scenario.Lookup("gateway-down")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return fixtureTime.Add(time.Duration(s) * time.Second) }
	tally := &contract.Tally{Phase: 0, Counts: []int{3, 5, 1}}
	evs := []scenario.Event{
		{Kind: scenario.ScenarioStarted, Time: at(0), Phase: -1},
		{Kind: scenario.PhaseStarted, Time: at(0), Phase: 0},
		{Kind: scenario.Waiting, Time: at(0), Phase: 0},
	}
	if to == "tally" || to == "debrief" {
		evs = append(evs, scenario.Event{Kind: scenario.TallyChanged, Time: at(10), Phase: 0, Tally: tally})
	}
	if to == "debrief" {
		lag := scenario.Check{Expectation: *sc.Phases[1].Steps[4].Expect, Phase: "observe", Pass: true, Observed: "2"}
		evs = append(evs,
			scenario.Event{Kind: scenario.StepDone, Time: at(30), Phase: 1, Step: 4, Check: &lag},
			scenario.Event{Kind: scenario.Revealed, Time: at(40), Phase: 0, Tally: tally},
			scenario.Event{Kind: scenario.ScenarioFinished, Time: at(60), Phase: -1,
				Result: &scenario.Result{Scenario: sc.Name, Checks: []scenario.Check{lag}, Duration: time.Minute, Tallies: []contract.Tally{*tally}}})
	}
	var out []contract.RunEvent
	for i, e := range evs {
		e.Scenario, e.Run, e.StepMode = sc, "run\x1b[2J1", true // a hostile run id is only a key
		out = append(out, e.Wire(uint64(i+1)))
	}
	return out
}

// A workshop on the Scenarios screen: an attendee's read-only dashboard
// follows a run started elsewhere (waiting for the instructor), answers
// its question; the instructor sees the live tally; after the reveal and
// the end, the debrief puts the right answer beside what the system did.
func TestWorkshopGolden(t *testing.T) {
	tests := []struct {
		name       string
		instructor bool
		to         string
		keys       []string
	}{
		{name: "workshop_follow", to: "follow"},
		{name: "workshop_question", to: "follow", keys: []string{"a", "b"}},
		{name: "workshop_tally", instructor: true, to: "tally"},
		{name: "workshop_debrief", to: "debrief"},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				var ctl controller
				if tt.instructor {
					ctl = &fakeControl{}
				}
				a := newApp(appConfig{ctx: t.Context(), title: "tls://10.0.0.5:4222", styles: plainStyles(), ctl: ctl,
					scenarios: scenarioConfig{name: "ada", instructor: tt.instructor}})
				a.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
				a.Update(snapshotMsg{fixtureSnapshot()})
				press(a, "9")
				for _, e := range workshopEvents(t, tt.to) {
					a.Update(runEventMsg{e})
				}
				press(a, tt.keys...)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}
