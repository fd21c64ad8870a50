package scenario

import (
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// EventKind says what an Event reports.
type EventKind int

// The events of a run, in the order they come: ScenarioStarted; per phase
// PhaseStarted then, per step, StepStarted, any Progress, and StepDone (an
// expectation's StepDone carries its Check); FinalStarted then one StepDone
// per final check; ScenarioFinished last, always, carrying the Result.
const (
	ScenarioStarted EventKind = iota
	PhaseStarted
	StepStarted
	// Progress is the latest reading of an expectation still waiting
	// (within) or holding (during), about once a second.
	Progress
	StepDone
	FinalStarted
	ScenarioFinished
	// Waiting: in step mode the run stopped at a phase boundary until the
	// instructor moves on; Phase is the phase that started and waits, or
	// -1 before the final part.
	Waiting
	// Revealed: the instructor revealed the answer to Phase's question;
	// Tally is the count it had.
	Revealed
	// TallyChanged is the live count of the answers to Phase's question.
	TallyChanged
)

// String is the kind in words, as contract.RunEvent.Kind names it.
func (k EventKind) String() string {
	switch k {
	case ScenarioStarted:
		return contract.RunStarted
	case PhaseStarted:
		return contract.RunPhase
	case StepStarted:
		return contract.RunStep
	case Progress:
		return contract.RunProgress
	case StepDone:
		return contract.RunStepDone
	case FinalStarted:
		return contract.RunFinal
	case ScenarioFinished:
		return contract.RunFinished
	case Waiting:
		return contract.RunWaiting
	case Revealed:
		return contract.RunRevealed
	case TallyChanged:
		return contract.RunTally
	}
	return "unknown event"
}

// lastKind is the last EventKind, for parseKind.
const lastKind = TallyChanged

// parseKind is the kind String names; ok is false for none.
func parseKind(s string) (EventKind, bool) {
	for k := ScenarioStarted; k <= lastKind; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// Event is one moment of a run, for a printer or a dashboard screen to
// show. Fields that do not apply to the Kind are zero. Events share the
// Scenario value with the run; treat it as read-only.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Scenario *Scenario
	// Run identifies the run, the same in every event of it.
	Run string
	// StepMode reports that the run stops at each phase boundary (set on
	// every event).
	StepMode bool
	// Phase is the index in Scenario.Phases of the phase running, or -1
	// before the first phase and in the final part.
	Phase int
	// Step is the index of the step in its phase (or in Final.Expect),
	// from StepStarted to StepDone.
	Step int
	// What says what the step does, e.g. "inject fault latency on
	// inventory (+500ms)" or "expect inventory lag above 100 within 20s".
	What string
	// Check is the expectation's outcome on StepDone, or its latest
	// reading on Progress; nil for actions.
	Check *Check
	// Err is an action that failed, on StepDone.
	Err error
	// Result is the run's outcome, on ScenarioFinished.
	Result *Result
	// Tally counts the answers to Phase's question, on Revealed and
	// TallyChanged.
	Tally *contract.Tally
}

// Check is the outcome of one expectation.
type Check struct {
	Expectation Expectation
	// Phase is the phase name, or "final".
	Phase string
	Pass  bool
	// Observed is the last reading, for a person: "812", "open", "OK: ...".
	Observed string
	// After is how long the expectation took to hold (within), or how long
	// it was watched.
	After time.Duration
	// Err is the last error reading the metric, when the reading failed.
	Err error
}

// Result is what a run found.
type Result struct {
	Scenario string
	// Checks are every expectation's outcome, in order, including the
	// final settle.
	Checks []Check
	// Err is the action that failed, or why the run stopped early; the
	// run fails when it is set.
	Err      error
	Duration time.Duration
	// Tallies are the final counts of the answers to every question
	// asked, in phase order.
	Tallies []contract.Tally
	// NodeLosses are how long sagas stopped flowing after each stop_node.
	NodeLosses []NodeLoss
}

// Pass reports whether every expectation held and no action failed.
func (r Result) Pass() bool {
	if r.Err != nil {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Failed counts the expectations that did not hold.
func (r Result) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.Pass {
			n++
		}
	}
	return n
}
