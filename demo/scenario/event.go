package scenario

import "time"

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
)

func (k EventKind) String() string {
	switch k {
	case ScenarioStarted:
		return "scenario started"
	case PhaseStarted:
		return "phase started"
	case StepStarted:
		return "step started"
	case Progress:
		return "progress"
	case StepDone:
		return "step done"
	case FinalStarted:
		return "final started"
	case ScenarioFinished:
		return "scenario finished"
	}
	return "unknown event"
}

// Event is one moment of a run, for a printer or a dashboard screen to
// show. Fields that do not apply to the Kind are zero. Events share the
// Scenario value with the run; treat it as read-only.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Scenario *Scenario
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
