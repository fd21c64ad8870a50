package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
)

// scenarioRun is what the Scenarios screen knows of one run: built from
// its events only, so a view of fixed events is fixed.
type scenarioRun struct {
	id     int
	sc     *scenario.Scenario
	cancel context.CancelFunc
	// cancelling is set once the user cancelled; the runner is restoring
	// the load and clearing faults until the run is done.
	cancelling bool

	// phase indexes sc.Phases, -1 before the first and in the final part.
	phase int
	final bool
	// steps is the timeline; base maps a phase index (or -1 for the final
	// part) to its first step there.
	steps      []timelineStep
	base       map[int]int
	settle     int // the final settle's step
	start, now time.Time

	result *scenario.Result
	err    error

	// runID names the run on the system; local is set for a run this
	// screen started (its events come from the runner, not the stream).
	runID string
	local bool
	// waiting is set while the run waits for the instructor.
	waiting bool
	// question is the phase whose question was asked last, -1 for none;
	// answers are this dashboard's, tally the live counts, revealed the
	// counts at the reveal; checks are the outcomes so far.
	question int
	answers  map[int]int
	tally    map[int]contract.Tally
	revealed map[int]contract.Tally
	checks   []scenario.Check
}

// openQuestion is the phase whose question takes answers, -1 for none.
func (r *scenarioRun) openQuestion() int {
	if _, done := r.revealed[r.question]; done || r.result != nil {
		return -1
	}
	return r.question
}

// shownQuestion is the question on view: the last asked, revealed or not.
func (r *scenarioRun) shownQuestion() int { return r.question }

// timelineStep is one line of the timeline: a phase heading or a step.
type timelineStep struct {
	heading  string
	what     string
	state    stepState
	observed string
	err      string
}

type stepState uint8

const (
	stepPending stepState = iota
	stepRunning
	stepPassed
	stepFailed
)

// mark tells a step's state without colour: · to come, … running,
// ✓ passed, ✗ failed.
func (s stepState) mark() string {
	switch s {
	case stepRunning:
		return "…"
	case stepPassed:
		return "✓"
	case stepFailed:
		return "✗"
	}
	return "·"
}

func newScenarioRun(id int, sc *scenario.Scenario, cancel context.CancelFunc) *scenarioRun {
	return &scenarioRun{id: id, sc: sc, cancel: cancel, phase: -1, base: map[int]int{}, settle: -1, local: cancel != nil,
		question: -1, answers: map[int]int{}, tally: map[int]contract.Tally{}, revealed: map[int]contract.Tally{}}
}

// event takes one event of the run.
func (r *scenarioRun) event(e scenario.Event) {
	if r.start.IsZero() {
		r.start = e.Time
	}
	r.now = e.Time
	if e.Run != "" {
		r.runID = e.Run
	}
	switch e.Kind {
	case scenario.Waiting:
		r.waiting = true
		return
	case scenario.TallyChanged:
		if e.Tally != nil {
			r.tally[e.Tally.Phase] = *e.Tally
		}
		return
	case scenario.Revealed:
		if e.Tally != nil {
			r.revealed[e.Tally.Phase] = *e.Tally
		}
		return
	}
	r.waiting = false
	if e.Kind == scenario.StepDone && e.Check != nil {
		r.checks = append(r.checks, *e.Check)
	}
	switch e.Kind {
	case scenario.PhaseStarted:
		if e.Phase < 0 || e.Phase >= len(r.sc.Phases) {
			return
		}
		r.phase = e.Phase
		ph := r.sc.Phases[e.Phase]
		if ph.Question != nil {
			r.question = e.Phase
		}
		r.steps = append(r.steps, timelineStep{heading: ph.Name})
		r.base[e.Phase] = len(r.steps)
		for _, s := range ph.Steps {
			r.steps = append(r.steps, timelineStep{what: s.String()})
		}
	case scenario.FinalStarted:
		r.phase, r.final = -1, true
		r.steps = append(r.steps, timelineStep{heading: "final"}, timelineStep{what: e.What, state: stepRunning})
		r.settle = len(r.steps) - 1
		r.base[-1] = len(r.steps)
		for _, x := range r.sc.Final.Expect {
			r.steps = append(r.steps, timelineStep{what: "expect " + x.String()})
		}
	case scenario.StepStarted, scenario.Progress, scenario.StepDone:
		st := r.step(e)
		if st == nil {
			return
		}
		st.what = e.What
		if e.Check != nil {
			st.observed = e.Check.Observed
		}
		switch {
		case e.Kind != scenario.StepDone:
			st.state = stepRunning
		case e.Err != nil:
			st.state, st.err = stepFailed, e.Err.Error()
		case e.Check != nil && !e.Check.Pass:
			st.state = stepFailed
			if e.Check.Err != nil {
				st.err = e.Check.Err.Error()
			}
		default:
			st.state = stepPassed
		}
	case scenario.ScenarioFinished:
		r.result = e.Result
	}
}

// step is the timeline line of a step event, nil if it has none.
func (r *scenarioRun) step(e scenario.Event) *timelineStep {
	i := -1
	switch {
	case r.final && e.Step < 0:
		i = r.settle
	case r.final:
		if b, ok := r.base[-1]; ok {
			i = b + e.Step
		}
	default:
		if b, ok := r.base[e.Phase]; ok && e.Phase == r.phase {
			i = b + e.Step
		}
	}
	if i < 0 || i >= len(r.steps) || r.steps[i].heading != "" {
		return nil
	}
	return &r.steps[i]
}

// done ends the run with what Run returned.
func (r *scenarioRun) done(res scenario.Result, err error) {
	if r.result == nil {
		r.result = &res
	}
	r.err = err
	for i := range r.steps {
		if r.steps[i].state == stepRunning {
			r.steps[i].state = stepFailed // cut short
		}
	}
}

// runView is the run: a headline, the narrative on the left, the timeline
// on the right, and a live line of the services at the bottom.
func (s *scenarios) runView() string {
	st, w := s.st, s.width
	live := s.liveLines()
	bodyH := max(1, s.height-2-len(live))
	leftW := max(24, w*2/5)
	rightW := max(10, w-leftW-3)

	left := s.storyLines(leftW)
	right := s.rightLines(rightW, bodyH)
	var b strings.Builder
	b.WriteString(fit(s.headline(), w) + "\n")
	sep := st.Muted.Render(" │ ")
	for i := range bodyH {
		l, rt := "", ""
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			rt = right[i]
		}
		b.WriteString(l + strings.Repeat(" ", max(0, leftW-lipgloss.Width(l))) + sep + rt + "\n")
	}
	b.WriteString(st.Muted.Render(strings.Repeat("─", w)))
	for _, l := range live {
		b.WriteString("\n" + l)
	}
	return b.String()
}

// rightLines are the right column in height lines at most: the
// presenter panels on top, then the timeline's last lines, which follow
// the step running. The timeline keeps at least a few lines: on a short
// screen the panels give way.
func (s *scenarios) rightLines(width, height int) []string {
	const timelineMin = 6
	panels := s.panelLines(width, height >= panelsRoomy)
	if len(panels) > 0 && height-len(panels)-1 >= timelineMin {
		panels = append(panels, "")
	} else {
		panels = nil
	}
	right := s.timelineLines(width)
	if room := height - len(panels); len(right) > room {
		right = right[len(right)-room:]
		// A step cut off at the top leaves no wrapped half of it.
		for len(right) > 0 && strings.HasPrefix(right[0], "  ") {
			right = right[1:]
		}
	}
	return append(panels, right...)
}

// headline says which scenario, how far, and how it ended.
func (s *scenarios) headline() string {
	r, st := s.run, s.st
	name := clean(r.sc.Name, 40)
	elapsed := ""
	if !r.start.IsZero() {
		elapsed = "  " + st.Muted.Render(dur(r.now.Sub(r.start).Round(time.Second)))
	}
	switch {
	case r.err != nil:
		return st.Failing.Render("✗ "+name+" could not run") + elapsed
	case r.result != nil && r.cancelling:
		return st.Degraded.Render("■ "+name+" cancelled") + elapsed + st.Muted.Render("  faults cleared, load restored · esc for the catalogue")
	case r.result != nil && r.result.Pass():
		return st.Healthy.Render(fmt.Sprintf("✓ %s PASS", name)) + st.Muted.Render(fmt.Sprintf("  %d of %d expectations held", len(r.result.Checks), len(r.result.Checks))) + elapsed + st.Muted.Render(" · esc for the catalogue")
	case r.result != nil:
		n := len(r.result.Checks)
		return st.Failing.Render(fmt.Sprintf("✗ %s FAIL", name)) + st.Muted.Render(fmt.Sprintf("  %d of %d expectations held", n-r.result.Failed(), n)) + elapsed + st.Muted.Render(" · esc for the catalogue")
	case r.cancelling:
		return st.Degraded.Render("… cancelling "+name) + st.Muted.Render(": clearing its faults and restoring the load")
	}
	head := st.Accent.Render("▶ "+name) + "  " + st.Muted.Render(clean(r.sc.Teaches, 40)) + elapsed
	if r.waiting {
		head += "  " + s.waitingLine()
	}
	if r.local {
		head += st.Muted.Render("  · x cancels")
	}
	return head
}

// storyLines are the left column: the phase's narrative, or the final
// part, or the verdict.
func (s *scenarios) storyLines(width int) []string {
	r, st := s.run, s.st
	var out []string
	title := func(text string) { out = append(out, st.Section.Render(clean(text, width))) }
	para := func(text string, rl role) {
		for _, l := range wrapLines(text, width) {
			out = append(out, st.paint(rl, l))
		}
	}
	switch {
	case r.err != nil:
		title("COULD NOT RUN")
		out = append(out, "")
		para(r.err.Error(), roleFailing)
	case r.result != nil:
		s.verdictLines(width, title, para)
		out = append(out, s.questionLines(width)...)
	case r.phase >= 0:
		ph := r.sc.Phases[r.phase]
		title(fmt.Sprintf("%s (%d of %d)", strings.ToUpper(ph.Name), r.phase+1, len(r.sc.Phases)))
		out = append(out, "")
		para(ph.Narrative, roleNone)
		out = append(out, s.questionLines(width)...)
	case r.final:
		title("FINAL")
		out = append(out, "")
		para("The load stops and every fault is cleared. Once every saga has finished, sagascope check proves nothing was lost or applied twice.", roleNone)
	default:
		title(strings.ToUpper(clean(r.sc.Name, width)))
		out = append(out, "")
		para(r.sc.Title, roleNone)
	}
	if s.note != "" {
		out = append(out, "")
		para(s.note, roleMuted)
	}
	return out
}

// verdictLines say how the run ended: what did not hold, and why it
// stopped early.
func (s *scenarios) verdictLines(width int, title func(string), para func(string, role)) {
	res := s.run.result
	n := len(res.Checks)
	switch {
	case res.Pass():
		title("PASS")
		para(fmt.Sprintf("Every expectation held (%d of %d): the system did what the story says.", n, n), roleHealthy)
		return
	case s.run.cancelling:
		title("CANCELLED")
	default:
		title("FAIL")
	}
	para(fmt.Sprintf("%d of %d expectations held.", n-res.Failed(), n), roleNone)
	for _, c := range res.Checks {
		if !c.Pass {
			para("✗ "+c.Expectation.String()+" (observed "+c.Observed+")", roleFailing)
		}
	}
	if res.Err != nil {
		para("stopped early: "+res.Err.Error(), roleFailing)
	}
}

// timelineLines are the right column: every step so far and the ones
// still to come in this phase, each wrapped to width.
func (s *scenarios) timelineLines(width int) []string {
	st := s.st
	var out []string
	for _, x := range s.run.steps {
		if x.heading != "" {
			out = append(out, st.Section.Render(clean("── "+x.heading, width)))
			continue
		}
		markRole, textRole := runStepRoles(x.state)
		text := x.what
		switch {
		case x.observed != "" && x.state == stepRunning:
			text += " (now " + x.observed + ")"
		case x.observed != "":
			text += " (observed " + x.observed + ")"
		}
		if x.err != "" {
			text += ": " + x.err
		}
		for i, l := range wrapLines(text, width-2) {
			if i == 0 {
				out = append(out, st.paint(markRole, x.state.mark())+" "+st.paint(textRole, l))
			} else {
				out = append(out, "  "+st.paint(textRole, l))
			}
		}
	}
	return out
}

// liveLines are the services as the snapshot has them, packed into at
// most two lines: busy/capacity, lag, breakers.
func (s *scenarios) liveLines() []string {
	st, snap := s.st, &s.snap
	var parts []string
	for i := range snap.Services {
		svc := &snap.Services[i]
		p := st.Strong.Render(string(svc.Name))
		if !svc.Reporting() {
			parts = append(parts, p+" "+st.Failing.Render("down"))
			continue
		}
		busy := fmt.Sprintf("%d/%d", svc.Pool.Busy, svc.Pool.Capacity)
		p += " " + st.paint(poolRole(svc.Pool), busy)
		if c := svc.Command; c != nil {
			p += " " + st.paint(levelRole(c.Level), "lag "+count(c.Pending))
		}
		for _, b := range svc.Breakers {
			p += " " + st.paint(breakerRole(b.State), clean(breakerText(b), 30))
		}
		parts = append(parts, p)
	}
	// The sagas come last: the header has the load, and the services are
	// what a scenario changes.
	if snap.Sagas.Known {
		parts = append(parts, st.Healthy.Render("✓"+count(snap.Sagas.Completed))+" "+st.paint(nonZero(snap.Sagas.Cancelled, roleDegraded), "✗"+count(snap.Sagas.Cancelled)))
	}
	if len(parts) == 0 {
		return []string{st.Muted.Render("waiting for the services to report")}
	}
	var lines []string
	line := ""
	for _, p := range parts {
		if line != "" && lipgloss.Width(line)+3+lipgloss.Width(p) > s.width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += st.Muted.Render(" · ")
		}
		line += p
	}
	lines = append(lines, line)
	if len(lines) > 2 {
		lines = lines[:2]
	}
	return lines
}
