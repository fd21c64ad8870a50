package scenario

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sagascope/sagascope/demo/contract"
)

// Wire is e as a run publishes it (contract.RunEvent), the seq-th event of
// its run. The scenario travels in full on ScenarioStarted only.
func (e Event) Wire(seq uint64) contract.RunEvent {
	w := contract.RunEvent{
		V: contract.Version, Run: e.Run, Seq: seq, Kind: e.Kind.String(), Time: e.Time, Step: e.StepMode,
		Phase: e.Phase, Index: e.Step, What: e.What, Tally: e.Tally,
	}
	if e.Kind == ScenarioStarted && e.Scenario != nil {
		w.Scenario, _ = json.Marshal(e.Scenario) // plain data: cannot fail
	}
	if e.Check != nil {
		c := wireCheck(*e.Check)
		w.Check = &c
	}
	if e.Err != nil {
		w.Err = e.Err.Error()
	}
	if r := e.Result; r != nil {
		res := &contract.RunResult{Scenario: r.Scenario, Duration: r.Duration, Tallies: r.Tallies}
		for _, c := range r.Checks {
			res.Checks = append(res.Checks, wireCheck(c))
		}
		if r.Err != nil {
			res.Err = r.Err.Error()
		}
		w.Result = res
	}
	return w
}

func wireCheck(c Check) contract.RunCheck {
	e, _ := json.Marshal(c.Expectation)
	w := contract.RunCheck{Expectation: e, Phase: c.Phase, Pass: c.Pass, Observed: c.Observed, After: c.After}
	if c.Err != nil {
		w.Err = c.Err.Error()
	}
	return w
}

// ErrBadRunEvent reports a run event that cannot be followed: an unknown
// kind, a scenario that does not validate, or an event of another run.
var ErrBadRunEvent = errors.New("bad scenario run event")

// DecodeScenario is the scenario a ScenarioStarted event carries, checked
// as a scenario file is.
func DecodeScenario(raw json.RawMessage) (*Scenario, error) {
	if len(raw) == 0 || len(raw) > MaxFileSize {
		return nil, fmt.Errorf("%w: a scenario of %d bytes", ErrBadRunEvent, len(raw))
	}
	var sc Scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil, fmt.Errorf("%w: scenario: %v", ErrBadRunEvent, err)
	}
	if err := sc.validate(); err != nil {
		return nil, fmt.Errorf("%w: scenario: %v", ErrBadRunEvent, err)
	}
	return &sc, nil
}

// FromWire is the Event w carries, of a run of sc (which the run's
// ScenarioStarted event carried; see DecodeScenario).
func FromWire(w contract.RunEvent, sc *Scenario) (Event, error) {
	kind, ok := parseKind(w.Kind)
	if !ok {
		return Event{}, fmt.Errorf("%w: kind %q", ErrBadRunEvent, w.Kind)
	}
	e := Event{Kind: kind, Time: w.Time, Scenario: sc, Run: w.Run, StepMode: w.Step, Phase: w.Phase, Step: w.Index, What: w.What, Tally: w.Tally}
	if e.Phase < -1 || e.Phase >= len(sc.Phases) {
		return Event{}, fmt.Errorf("%w: phase %d of %d", ErrBadRunEvent, e.Phase, len(sc.Phases))
	}
	if t := e.Tally; t != nil && (t.Phase < 0 || t.Phase >= len(sc.Phases) || sc.Phases[t.Phase].Question == nil || len(t.Counts) != len(sc.Phases[t.Phase].Question.Choices)) {
		return Event{}, fmt.Errorf("%w: a tally of phase %d that asks no such question", ErrBadRunEvent, t.Phase)
	}
	if w.Check != nil {
		c := checkFromWire(*w.Check)
		e.Check = &c
	}
	if w.Err != "" {
		e.Err = errors.New(w.Err)
	}
	if r := w.Result; r != nil {
		res := &Result{Scenario: r.Scenario, Duration: r.Duration, Tallies: r.Tallies}
		for _, c := range r.Checks {
			res.Checks = append(res.Checks, checkFromWire(c))
		}
		if r.Err != "" {
			res.Err = errors.New(r.Err)
		}
		e.Result = res
	}
	return e, nil
}

func checkFromWire(w contract.RunCheck) Check {
	c := Check{Phase: w.Phase, Pass: w.Pass, Observed: w.Observed, After: w.After}
	// An expectation that does not decode still shows its observation.
	_ = json.Unmarshal(w.Expectation, &c.Expectation)
	if w.Err != "" {
		c.Err = errors.New(w.Err)
	}
	return c
}
