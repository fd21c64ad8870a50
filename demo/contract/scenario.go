package contract

import (
	"encoding/json"
	"time"
)

// Scenario runs in the contract: a run publishes its events so every
// dashboard attached to the system, observers' included, follows it (issue
// 15). Events are stored in ScenarioRunStream, so a dashboard that attaches
// during a run catches up from the run's start event; attendees answer a
// phase's question on ScenarioAnswerSubject, the one subject an observer
// may publish to; the instructor paces a run in step mode and reveals
// answers with the control subjects, which only the operator may use.
const (
	// ScenarioRunStream stores every run's events (see
	// ScenarioRunSubjects), bounded by age and count: a workshop day's runs.
	ScenarioRunStream = "SCENARIO_RUNS"
	// ScenarioRunPrefix starts the subjects of runs' events.
	ScenarioRunPrefix = Prefix + ".scenario.runs"
	// ScenarioRunSubjects are the subjects ScenarioRunStream stores.
	ScenarioRunSubjects = ScenarioRunPrefix + ".>"
	// ScenarioStartSubject carries the first event of every run (its
	// scenario in full), so the start of the newest run is one direct get
	// by last subject away.
	ScenarioStartSubject = ScenarioRunPrefix + ".start"
	// ScenarioEventSubject carries every later event of every run.
	ScenarioEventSubject = ScenarioRunPrefix + ".event"

	// ScenarioAnswerSubject takes attendees' Answers (core NATS, not
	// stored). Observers may publish here and nowhere else, and may not
	// subscribe: an attendee does not see the others' answers before the
	// reveal.
	ScenarioAnswerSubject = Prefix + ".scenario.answers"

	// ScenarioNextSubject moves a run in step mode on to its next phase
	// (RunControlRequest -> RunControlReply). Under ControlPrefix, so an
	// observer may neither send it nor listen to it.
	ScenarioNextSubject = ControlPrefix + ".scenario.next"
	// ScenarioRevealSubject reveals the answer of the question open
	// (RunControlRequest -> RunControlReply).
	ScenarioRevealSubject = ControlPrefix + ".scenario.reveal"
	// ScenarioTallySubject carries the live Tally of the question open,
	// about once a second while answers come (core NATS). Under
	// ControlPrefix: the instructor sees it live, attendees on the reveal.
	ScenarioTallySubject = ControlPrefix + ".scenario.tally"
)

// Bounds of ScenarioRunStream and of answers.
const (
	ScenarioRunMaxAge  = 12 * time.Hour
	ScenarioRunMaxMsgs = 50_000
	ScenarioRunMaxSize = 64 << 20
	// MaxAnswerSize bounds an Answer message; a larger one is dropped
	// unread.
	MaxAnswerSize = 512
	// MaxAnswerName bounds an attendee's name, in characters.
	MaxAnswerName = 32
)

// Run event kinds, as RunEvent.Kind names them. They are the
// demo/scenario.EventKind values, in words.
const (
	RunStarted  = "scenario started"
	RunPhase    = "phase started"
	RunStep     = "step started"
	RunProgress = "progress"
	RunStepDone = "step done"
	RunFinal    = "final started"
	RunFinished = "scenario finished"
	// RunWaiting: a run in step mode stopped at a phase boundary (Phase is
	// the phase to come, -1 for the final part) until the instructor
	// moves on.
	RunWaiting = "waiting"
	// RunRevealed: the instructor revealed the answer of Phase's question;
	// Tally is the final count.
	RunRevealed = "revealed"
	// RunTally: the live count of Phase's question, on ScenarioTallySubject
	// only.
	RunTally = "tally"
)

// RunEvent is one event of a scenario run on the wire.
type RunEvent struct {
	V int `json:"v"`
	// Run identifies the run; Seq numbers its events from 1, in order.
	Run  string    `json:"run"`
	Seq  uint64    `json:"seq"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Step reports that the run stops at each phase boundary (step mode).
	Step bool `json:"step,omitempty"`
	// Scenario is the scenario in full (demo/scenario.Scenario as JSON),
	// on RunStarted only.
	Scenario json.RawMessage `json:"scenario,omitempty"`
	Phase    int             `json:"phase"`
	Index    int             `json:"index"`
	What     string          `json:"what,omitempty"`
	Check    *RunCheck       `json:"check,omitempty"`
	Err      string          `json:"err,omitempty"`
	Tally    *Tally          `json:"tally,omitempty"`
	Result   *RunResult      `json:"result,omitempty"`
}

// RunCheck is one expectation's outcome or reading. Expectation is the
// demo/scenario.Expectation as JSON.
type RunCheck struct {
	Expectation json.RawMessage `json:"expectation"`
	Phase       string          `json:"phase"`
	Pass        bool            `json:"pass"`
	Observed    string          `json:"observed"`
	After       time.Duration   `json:"after"`
	Err         string          `json:"err,omitempty"`
}

// RunResult is what a run found, on RunFinished.
type RunResult struct {
	Scenario string        `json:"scenario"`
	Checks   []RunCheck    `json:"checks"`
	Err      string        `json:"err,omitempty"`
	Duration time.Duration `json:"duration"`
	// Tallies are every question's final count, in phase order.
	Tallies []Tally `json:"tallies,omitempty"`
}

// Tally counts the answers to one question: Counts[i] attendees chose
// choice i, each counted once (their last answer).
type Tally struct {
	Phase  int   `json:"phase"`
	Counts []int `json:"counts"`
}

// Total is the number of attendees who answered.
func (t Tally) Total() int {
	n := 0
	for _, c := range t.Counts {
		n += c
	}
	return n
}

// Answer is one attendee's answer to the question of a phase of a run.
type Answer struct {
	V     int    `json:"v"`
	Run   string `json:"run"`
	Phase int    `json:"phase"`
	// Choice indexes the question's choices, from 0.
	Choice int `json:"choice"`
	// Name is who answers (sagascope tui --name); the collector cleans it
	// and cuts it to MaxAnswerName.
	Name string `json:"name"`
}

// RunControlRequest names the run a control request is for; "" is
// whichever run is waiting (next) or has a question open (reveal).
type RunControlRequest struct {
	V   int    `json:"v"`
	Run string `json:"run,omitempty"`
}

// RunControlReply answers a control request: the run and the phase it
// moved to or revealed, or why nothing happened.
type RunControlReply struct {
	V     int    `json:"v"`
	Run   string `json:"run,omitempty"`
	Phase int    `json:"phase"`
	Error string `json:"error,omitempty"`
}
