package scenario

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Debrief keeps what a run showed, for the summary after it: each
// expectation with its observed value, the timeline, and the tally of
// each question beside its right answer. Use its Event method as
// Options.OnEvent (beside a Printer); it is safe for concurrent use.
type Debrief struct {
	mu     sync.Mutex
	sc     *Scenario
	run    string
	start  time.Time
	lines  []timelineLine
	result *Result
}

// timelineLine is one moment of the timeline.
type timelineLine struct {
	at      time.Duration
	heading string // a phase, or "final"
	text    string
}

// Event records e.
func (d *Debrief) Event(e Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.Kind == ScenarioStarted {
		d.sc, d.run, d.start, d.lines, d.result = e.Scenario, e.Run, e.Time, nil, nil
	}
	if d.sc == nil {
		return
	}
	add := func(heading, text string) {
		d.lines = append(d.lines, timelineLine{at: e.Time.Sub(d.start), heading: heading, text: text})
	}
	switch e.Kind {
	case PhaseStarted:
		add(d.sc.Phases[e.Phase].Name, "")
	case Waiting:
		add("", "waited for the instructor")
	case FinalStarted:
		add("final", "")
	case Revealed:
		add("", "answer revealed")
	case StepDone:
		switch {
		case e.Check != nil:
			add("", formatCheck(*e.Check))
		case e.Err != nil:
			add("", "FAIL "+e.What+": "+e.Err.Error())
		default:
			add("", e.What)
		}
	case ScenarioFinished:
		d.result = e.Result
	}
}

// WriteMarkdown writes the debrief as Markdown.
func (d *Debrief) WriteMarkdown(w io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sc == nil {
		return fmt.Errorf("write the debrief: no run was recorded")
	}
	var b strings.Builder
	sc := d.sc
	fmt.Fprintf(&b, "# %s: %s\n\n", md(sc.Name), md(sc.Title))
	fmt.Fprintf(&b, "Teaches: %s.\n\n", md(sc.Teaches))
	if r := d.result; r != nil {
		verdict := "PASS"
		if !r.Pass() {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "**%s**: %d of %d expectations held, in %s.\n", verdict, len(r.Checks)-r.Failed(), len(r.Checks), r.Duration.Round(time.Second))
		if r.Err != nil {
			fmt.Fprintf(&b, "Stopped early: %s.\n", md(r.Err.Error()))
		}
		b.WriteString("\n## Expectations\n\n| phase | expectation | held | observed |\n| --- | --- | --- | --- |\n")
		for _, c := range r.Checks {
			held := "yes"
			if !c.Pass {
				held = "**no**"
			}
			obs := c.Observed
			if c.Err != nil {
				obs += "; " + c.Err.Error()
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(c.Phase), cell(c.Expectation.String()), held, cell(obs))
		}
		d.predictions(&b, r)
	} else {
		b.WriteString("The run did not finish.\n")
	}
	b.WriteString("\n## Timeline\n\n")
	for _, l := range d.lines {
		at := l.at.Round(time.Second)
		if l.heading != "" {
			fmt.Fprintf(&b, "- **%s** at %s\n", md(l.heading), at)
			continue
		}
		fmt.Fprintf(&b, "  - %s: %s\n", at, md(l.text))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// predictions writes each question's tally beside its right answer and
// what the system did: the observations of the phase it was asked in and
// those after it, up to the next question.
func (d *Debrief) predictions(b *strings.Builder, r *Result) {
	if len(r.Tallies) == 0 {
		return
	}
	b.WriteString("\n## Predictions\n")
	for _, t := range r.Tallies {
		q := d.sc.Phases[t.Phase].Question
		fmt.Fprintf(b, "\n### %s: %s\n\n%d answered.\n\n| choice | answers |\n| --- | --- |\n", md(d.sc.Phases[t.Phase].Name), md(q.Ask), t.Total())
		for i, c := range q.Choices {
			mark := ""
			if i == q.Answer-1 {
				mark = " (right)"
			}
			fmt.Fprintf(b, "| %s) %s%s | %d |\n", Letter(i), cell(c), mark, t.Counts[i])
		}
		fmt.Fprintf(b, "\nRight: %s) %s.", Letter(q.Answer-1), md(q.Choices[q.Answer-1]))
		if q.Explain != "" {
			fmt.Fprintf(b, " %s", md(q.Explain))
		}
		b.WriteString("\n\nWhat the system did:\n\n")
		for _, c := range Evidence(d.sc, r.Checks, t.Phase) {
			fmt.Fprintf(b, "- %s: observed %s\n", md(c.Expectation.String()), md(c.Observed))
		}
	}
}

// Evidence are the checks that answer phase's question: those of that
// phase and of the phases after it, up to the next phase that asks one.
func Evidence(sc *Scenario, checks []Check, phase int) []Check {
	names := map[string]bool{}
	for i := phase; i < len(sc.Phases); i++ {
		if i > phase && sc.Phases[i].Question != nil {
			break
		}
		names[sc.Phases[i].Name] = true
	}
	var out []Check
	for _, c := range checks {
		if names[c.Phase] {
			out = append(out, c)
		}
	}
	return out
}

// md is text for a Markdown paragraph: one line, no markup of its own.
func md(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	return strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "<", "&lt;", "[", "\\[").Replace(s)
}

// cell is text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(md(s), "|", "\\|") }
