package scenario

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Printer writes a run's events for a person reading a terminal or a CI
// log: each phase with its narrative, each action, each expectation as
// PASS or FAIL with what was observed, and a verdict. Progress events are
// not printed: a log is read afterwards. Use its Event method as
// Options.OnEvent. Errors writing to W are ignored, as with fmt.Fprintf to
// a terminal.
type Printer struct {
	W io.Writer
	// Width wraps narratives (0: 78).
	Width int
}

// Event prints e.
func (p Printer) Event(e Event) {
	w := p.W
	switch e.Kind {
	case ScenarioStarted:
		fmt.Fprintf(w, "== %s: %s\n   teaches: %s\n", e.Scenario.Name, e.Scenario.Title, e.Scenario.Teaches)
	case PhaseStarted:
		ph := e.Scenario.Phases[e.Phase]
		fmt.Fprintf(w, "\n-- %s\n", ph.Name)
		p.wrap(ph.Narrative)
		if q := ph.Question; q != nil {
			fmt.Fprintf(w, "   ? %s\n", q.Ask)
			for i, c := range q.Choices {
				fmt.Fprintf(w, "     %s) %s\n", Letter(i), c)
			}
		}
	case StepDone:
		switch {
		case e.Check != nil:
			fmt.Fprintf(w, "   %s\n", formatCheck(*e.Check))
		case e.Err != nil:
			fmt.Fprintf(w, "   FAIL %s: %v\n", e.What, e.Err)
		default:
			fmt.Fprintf(w, "   > %s\n", e.What)
		}
	case FinalStarted:
		fmt.Fprintf(w, "\n-- final: %s\n", e.What)
	case Waiting:
		fmt.Fprintf(w, "   .. waiting for the instructor (sagascope scenario next)\n")
	case Revealed:
		if e.Tally != nil && e.Phase >= 0 {
			q := e.Scenario.Phases[e.Phase].Question
			fmt.Fprintf(w, "   ? %s: %d answered; right: %s) %s\n", q.Ask, e.Tally.Total(), Letter(q.Answer-1), q.Choices[q.Answer-1])
		}
	case ScenarioFinished:
		r := e.Result
		verdict := "PASS"
		if !r.Pass() {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "== %s: %s, %d of %d expectations held, %s\n", r.Scenario, verdict,
			len(r.Checks)-r.Failed(), len(r.Checks), r.Duration.Round(time.Second))
		for _, l := range r.NodeLosses {
			// A server names itself: its name is drawn without control bytes.
			node := CleanName(l.Node)
			if l.Flowing {
				fmt.Fprintf(w, "   sagas flowing again %s after node %s stopped", l.FlowingAfter.Round(100*time.Millisecond), node)
			} else {
				fmt.Fprintf(w, "   sagas not flowing again after node %s stopped", node)
			}
			if l.Elected {
				fmt.Fprintf(w, " (%s had a new leader after %s)", CleanName(l.Stream), l.LeaderAfter.Round(100*time.Millisecond))
			}
			fmt.Fprintln(w)
		}
		if r.Err != nil {
			fmt.Fprintf(w, "   stopped early: %v\n", r.Err)
		}
	}
}

// formatCheck is one line: verdict, sentence, observation.
func formatCheck(c Check) string {
	verdict := "PASS"
	if !c.Pass {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%s %s (observed %s", verdict, c.Expectation, c.Observed)
	if c.Expectation.Within > 0 || c.Expectation.During > 0 {
		s += fmt.Sprintf(" after %s", c.After.Round(100*time.Millisecond))
	}
	if c.Err != nil {
		s += fmt.Sprintf("; %v", c.Err)
	}
	return s + ")"
}

// wrap prints text as indented lines of at most Width characters.
func (p Printer) wrap(text string) {
	width := p.Width
	if width <= 0 {
		width = 78
	}
	const indent = "   "
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			fmt.Fprintln(p.W, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(p.W, line)
	}
}
