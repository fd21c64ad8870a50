package system_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// A run in step mode, as a room sees it: it waits at every phase boundary
// until the instructor's next request, and the wait counts against no
// deadline; its events are stored in SCENARIO_RUNS from the start event on;
// attendees' answers are counted once each (the last), excess and junk
// dropped; the reveal carries the tally; the debrief has it all.
func TestAStepModeRunWaitsForTheInstructorAndCountsTheRoomsAnswers(t *testing.T) {
	sc, err := scenario.Parse("workshop.yaml", []byte(systemtest.StepScenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	lab, err := system.StartLab(ctx, system.LabOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			t.Errorf("close the lab: %v", err)
		}
	}()
	nc := natstest.Connect(t, lab.URLs())
	ctl := control.NewClient(nc)

	events := make(chan scenario.Event, 1000)
	debrief := &scenario.Debrief{}
	opt := scenario.Options{Scale: 0.25, Patience: 3, Step: true, OnEvent: func(e scenario.Event) {
		debrief.Event(e)
		events <- e
	}}
	type outcome struct {
		res scenario.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := scenario.Run(ctx, sc, lab, opt)
		done <- outcome{res, err}
	}()
	waitFor := func(what string, ok func(scenario.Event) bool) scenario.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if ok(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s", what)
			}
		}
	}
	waiting := func(phase int) func(scenario.Event) bool {
		return func(e scenario.Event) bool { return e.Kind == scenario.Waiting && e.Phase == phase }
	}

	first := waitFor("wait before the first phase", waiting(0))
	answer := func(name string, choice int) {
		t.Helper()
		if err := ctl.Answer(ctx, contract.Answer{Run: first.Run, Phase: 0, Choice: choice, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	answer("ada", 0)
	answer("ada", 1) // a change of mind: the last counts
	answer("grace", 1)
	answer("linus\x1b[31m", 2)
	answer("eve", 7) // no such choice
	for range 10 {
		answer("mallory", 0) // beyond the rate limit after the first few
	}
	_ = nc.Publish(contract.ScenarioAnswerSubject, []byte(strings.Repeat("x", contract.MaxAnswerSize+1)))
	tally := waitFor("a live tally", func(e scenario.Event) bool {
		return e.Kind == scenario.TallyChanged && e.Tally.Total() == 4
	})
	if got := tally.Tally.Counts; got[0] != 1 || got[1] != 2 || got[2] != 1 {
		t.Errorf("tally %v, want [1 2 1]: one answer per attendee, the last", got)
	}

	const hold = 3 * time.Second
	time.Sleep(hold) // the instructor talks
	if _, err := ctl.ScenarioNext(ctx, ""); err != nil {
		t.Fatalf("next: %v", err)
	}
	check := waitFor("the first expectation", func(e scenario.Event) bool { return e.Kind == scenario.StepDone && e.Check != nil })
	if !check.Check.Pass || check.Check.After >= hold {
		t.Errorf("check %+v: its deadline must start with its step, after the wait", check.Check)
	}
	waitFor("wait before the second phase", waiting(1))
	if rep, err := ctl.ScenarioReveal(ctx, first.Run); err != nil || rep.Phase != 0 {
		t.Fatalf("reveal: %+v, %v", rep, err)
	}
	if e := waitFor("the reveal", func(e scenario.Event) bool { return e.Kind == scenario.Revealed }); e.Tally.Total() != 4 {
		t.Errorf("revealed tally %v", e.Tally)
	}
	if _, err := ctl.ScenarioNext(ctx, ""); err != nil {
		t.Fatalf("next: %v", err)
	}
	waitFor("wait before the final part", waiting(-1))
	if _, err := ctl.ScenarioNext(ctx, ""); err != nil {
		t.Fatalf("next: %v", err)
	}
	out := <-done
	if out.err != nil || !out.res.Pass() {
		t.Fatalf("run: %+v, %v", out.res, out.err)
	}
	if _, err := ctl.ScenarioNext(ctx, ""); err == nil {
		t.Error("a next with no run waiting succeeded")
	}

	// A dashboard that attaches now finds the run from its start event.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, start, w := systemtest.LastRunStart(ctx, t, js)
	if w.Run != first.Run || w.Seq != 1 || !w.Step {
		t.Fatalf("start event %+v", w)
	}
	if _, err := scenario.DecodeScenario(w.Scenario); err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	if n := last - start.Sequence + 1; n < 10 {
		t.Errorf("the stream holds %d events of the run", n)
	}

	var md strings.Builder
	if err := debrief.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# workshop: a short story told in step mode", "**PASS**", "| introduce | instances at least 4 within 2s | yes |",
		"### introduce: How many instances report running?", "| b) four (right) | 2 |", "Right: b) four. one per service", "waited for the instructor"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the debrief lacks %q:\n%s", want, md.String())
		}
	}
}
