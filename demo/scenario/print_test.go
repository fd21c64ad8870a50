package scenario_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/internal/golden"
	"github.com/sagascope/sagascope/demo/scenario"
)

// The headless transcript shows each phase's narrative, each action, each
// expectation as PASS or FAIL with what was observed, and the verdict.
func TestPrinterWritesATranscriptAPersonCanFollow(t *testing.T) {
	sc, err := scenario.Parse("printed.yaml", []byte(`name: printed
title: A breaker opens and closes
teaches: circuit breaker
phases:
  - name: observe
    narrative: >
      The gateway refuses every call. After five failures the breaker opens,
      and charges fail at once instead of waiting on a dead gateway.
    steps:
      - fault: {service: payment, kind: dependency_down}
      - expect: {metric: breaker, service: payment, breaker: gateway, is: open, within: 5s}
      - stop_service: payment
final:
  expect:
    - metric: check
`))
	if err != nil {
		t.Fatal(err)
	}
	steps := sc.Phases[0].Steps
	var b bytes.Buffer
	p := scenario.Printer{W: &b, Width: 60}
	failedCheck := scenario.Check{Expectation: sc.Final.Expect[0], Phase: "final", Observed: "unreadable", Err: errors.New("no sagascope data found")}
	for _, e := range []scenario.Event{
		{Kind: scenario.ScenarioStarted, Scenario: sc},
		{Kind: scenario.PhaseStarted, Scenario: sc, Phase: 0},
		{Kind: scenario.StepDone, Scenario: sc, What: steps[0].String()},
		{Kind: scenario.Progress, Scenario: sc, What: steps[1].String(), Check: &scenario.Check{Observed: "closed"}},
		{Kind: scenario.StepDone, Scenario: sc, What: steps[1].String(), Check: &scenario.Check{
			Expectation: *steps[1].Expect, Pass: true, Observed: "open", After: 320 * time.Millisecond}},
		{Kind: scenario.StepDone, Scenario: sc, What: steps[2].String(), Err: errors.New("stop payment: not available here")},
		{Kind: scenario.FinalStarted, Scenario: sc, What: "stop the load, clear every fault, and let every saga finish"},
		{Kind: scenario.StepDone, Scenario: sc, Check: &failedCheck},
		{Kind: scenario.ScenarioFinished, Scenario: sc, Result: &scenario.Result{
			Scenario: sc.Name, Duration: 12 * time.Second, Err: errors.New("stop every payment instance: not available here"),
			Checks: []scenario.Check{{Pass: true}, failedCheck},
			NodeLosses: []scenario.NodeLoss{
				{Node: "s1", Flowing: true, FlowingAfter: 5430 * time.Millisecond, Stream: "SAGA_ORDERS", Elected: true, LeaderAfter: 4870 * time.Millisecond},
				{Node: "s2\x1b[2J", Stream: "KV_\x1b[31m"}}}},
	} {
		p.Event(e)
	}
	golden.Check(t, "transcript.golden", b.String())
}
