package systemtest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// StepScenario is a short scenario for tests of step mode: two phases on
// any running demo, the first asking a question (right: b, four), each
// checking that the four services report.
const StepScenario = `name: workshop
title: a short story told in step mode
teaches: pacing
phases:
  - name: introduce
    narrative: The load starts.
    question:
      ask: How many instances report running?
      choices: [none, four, eight]
      answer: 2
      explain: one per service
    steps:
      - load: 5
      - expect: {metric: instances, at_least: 4, within: 2s}
  - name: observe
    narrative: Nothing more happens.
    steps:
      - expect: {metric: instances, at_least: 4, within: 2s}
`

// LastRunStart reads the start event of the newest scenario run stored on
// the system js reaches, with the stream and the message it is in.
func LastRunStart(ctx context.Context, t *testing.T, js jetstream.JetStream) (jetstream.Stream, *jetstream.RawStreamMsg, contract.RunEvent) {
	t.Helper()
	st, err := js.Stream(ctx, contract.ScenarioRunStream)
	if err != nil {
		t.Fatal(err)
	}
	start, err := st.GetLastMsgForSubject(ctx, contract.ScenarioStartSubject)
	if err != nil {
		t.Fatal(err)
	}
	var e contract.RunEvent
	if err := json.Unmarshal(start.Data, &e); err != nil {
		t.Fatalf("the start event of the last run: %v", err)
	}
	return st, start, e
}
