package tui

import (
	"context"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/systemtest"
)

const headlessScenario = `name: headless
title: a run started from a terminal
teaches: pacing
phases:
  - name: introduce
    narrative: The room predicts.
    question:
      ask: How many services report?
      choices: [none, four]
      answer: 2
    steps:
      - expect: {metric: instances, at_least: 4, within: 2s}
`

// A run started headless (`sagascope scenario run --step`) has no
// dashboard of its own: the instructor's dashboard shows its question and
// counts the room's answers live from the tally subject.
func TestAnInstructorsDashboardCountsTheAnswersOfAHeadlessRun(t *testing.T) {
	sys := systemtest.Start(t, 0)
	d := drive(t, sys.NC, 120, 36)
	sc, err := scenario.Parse("headless.yaml", []byte(headlessScenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := scenario.Run(ctx, sc, sys.System, scenario.Options{Step: true, OnEvent: func(e scenario.Event) {
			if e.Kind == scenario.ScenarioStarted {
				runs <- e.Run
			}
		}})
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	run := <-runs

	// No key pressed: the run takes the screen.
	d.waitView(t, "the headless run's question", "▶ headless", "How many services report?", "0 answered · v reveals")
	for _, a := range []contract.Answer{{Name: "ada", Choice: 1}, {Name: "grace", Choice: 1}, {Name: "linus", Choice: 0}} {
		a.Run = run
		actx, done := context.WithTimeout(t.Context(), systemtest.Quickly)
		err := sys.Ctl.Answer(actx, a)
		done()
		if err != nil {
			t.Fatal(err)
		}
	}
	d.waitViewWithin(t, systemtest.Eventually, "the live tally", "3 answered · v reveals", "a) 1 ", "b) 2 ")
}
