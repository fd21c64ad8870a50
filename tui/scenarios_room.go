package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
)

// runEventMsg is one event of a scenario run on the system, from the
// run stream (tui/feed.FollowRuns): how a dashboard follows a run it did
// not start.
type runEventMsg struct{ e contract.RunEvent }

// showRunMsg asks the app to put the Scenarios screen on view: a run
// started elsewhere is going, and an attendee should not have to find it.
type showRunMsg struct{}

// runShowWithin is how recent a run's event must be for the run to take
// the screen: a run found stored on attach that ended long ago does not.
const runShowWithin = time.Minute

// roomMsg is the outcome of a next, reveal or answer request.
type roomMsg struct {
	text string
	err  error
}

// roomTimeout bounds a request to the room.
const roomTimeout = 3 * time.Second

// follow takes an event of a run on the system. A run this screen started
// reaches it by its own events; a run started elsewhere replaces what is
// on view unless a run of this screen is going. The first recent event of
// a run started elsewhere that is still going asks for the screen, once
// per run: leaving it again is the user's choice.
func (s *scenarios) follow(w contract.RunEvent) tea.Cmd {
	s.take(w)
	r := s.run
	if r == nil || r.local || r.runID != w.Run || r.result != nil || s.shown == r.runID || s.now().Sub(w.Time) > runShowWithin {
		return nil
	}
	s.shown = r.runID
	return func() tea.Msg { return showRunMsg{} }
}

func (s *scenarios) take(w contract.RunEvent) {
	if s.run != nil && s.run.runID == w.Run && s.run.local {
		return
	}
	if w.Kind == contract.RunStarted {
		if s.run != nil && s.run.local && s.run.result == nil {
			return
		}
		sc, err := scenario.DecodeScenario(w.Scenario)
		if err != nil {
			return
		}
		s.confirm, s.answering = nil, false
		s.run = newScenarioRun(0, sc, nil)
		s.run.runID = w.Run
	}
	if s.run == nil || s.run.local || s.run.runID != w.Run {
		return
	}
	if e, err := scenario.FromWire(w, s.run.sc); err == nil {
		s.run.event(e)
	}
}

// roomKey handles the keys of a run's room: next and reveal for the
// instructor, a to d for an answer. It reports whether it took the key.
func (s *scenarios) roomKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	r, k := s.run, s.keys
	if s.answering {
		s.answering = false
		q := r.openQuestion()
		str := msg.String()
		if q < 0 || len(str) != 1 {
			return nil, true
		}
		choice := int(str[0] - 'a')
		if choice < 0 || choice >= len(r.sc.Phases[q].Question.Choices) {
			s.note = "choose a to " + scenario.Letter(len(r.sc.Phases[q].Question.Choices)-1)
			return nil, true
		}
		r.answers[q] = choice
		return s.roomCmd(fmt.Sprintf("answered %s", scenario.Letter(choice)), func(ctx context.Context) error {
			return s.room.Answer(ctx, contract.Answer{Run: r.runID, Phase: q, Choice: choice, Name: s.name})
		}), true
	}
	switch {
	case key.Matches(msg, k.Answer) && r.openQuestion() >= 0 && r.result == nil:
		s.answering = true
		return nil, true
	case key.Matches(msg, k.NextPhase) && s.instructor:
		return s.roomCmd("moved on", func(ctx context.Context) error { _, err := s.room.ScenarioNext(ctx, r.runID); return err }), true
	case key.Matches(msg, k.Reveal) && s.instructor:
		return s.roomCmd("revealed", func(ctx context.Context) error { _, err := s.room.ScenarioReveal(ctx, r.runID); return err }), true
	case key.Matches(msg, k.NextPhase, k.Reveal):
		s.note = "read-only dashboard: the instructor paces the run"
		return nil, true
	}
	return nil, false
}

// roomCmd runs a request to the room in a command with a timeout.
func (s *scenarios) roomCmd(done string, do func(context.Context) error) tea.Cmd {
	if s.room == nil {
		return nil
	}
	ctx := s.ctx
	return func() tea.Msg {
		c, cancel := context.WithTimeout(ctx, roomTimeout)
		defer cancel()
		if err := do(c); err != nil {
			return roomMsg{err: err}
		}
		return roomMsg{text: done}
	}
}

// questionLines show the question open: its choices, with the live tally
// for the instructor, and after the reveal the right answer beside what
// the system did.
func (s *scenarios) questionLines(width int) []string {
	r, st := s.run, s.st
	q := r.shownQuestion()
	if q < 0 {
		return nil
	}
	qu := r.sc.Phases[q].Question
	tally, revealed := r.revealed[q]
	if !revealed && s.instructor {
		tally = r.tally[q]
	}
	out := []string{"", st.Section.Render(clean("PREDICT", width))}
	for _, l := range wrapLines(qu.Ask, width) {
		out = append(out, st.Strong.Render(l))
	}
	for i, c := range qu.Choices {
		line := scenario.Letter(i) + ") " + c
		if tally.Counts != nil && i < len(tally.Counts) {
			line = fmt.Sprintf("%s) %-3d %s", scenario.Letter(i), tally.Counts[i], c)
		}
		rl := roleNone
		if revealed && i == qu.Answer-1 {
			line = "✓ " + line
			rl = roleHealthy
		}
		if a, ok := r.answers[q]; ok && a == i {
			line = "▸ " + line // this dashboard's answer, ahead of a cut
		}
		out = append(out, st.paint(rl, clean(line, width)))
	}
	switch {
	case revealed:
		out = append(out, st.Muted.Render(clean(fmt.Sprintf("%d answered · what the system did:", tally.Total()), width)))
		for _, x := range r.evidence(q) {
			out = append(out, clean("  "+x, width))
		}
		if qu.Explain != "" {
			for _, l := range wrapLines(qu.Explain, width) {
				out = append(out, st.Muted.Render(l))
			}
		}
	case s.answering:
		out = append(out, st.Accent.Render(clean("press a to "+scenario.Letter(len(qu.Choices)-1)+" to answer", width)))
	case s.instructor:
		out = append(out, st.Muted.Render(clean(fmt.Sprintf("%d answered · v reveals", tally.Total()), width)))
	default:
		out = append(out, st.Muted.Render(clean("a, then your choice, answers", width)))
	}
	return out
}

// waitingLine says the run waits at a phase boundary.
func (s *scenarios) waitingLine() string {
	if s.instructor {
		return s.st.Degraded.Render("⏸ waiting · n moves on")
	}
	return s.st.Degraded.Render("⏸ waiting for the instructor")
}

// evidence are the observations that answer phase's question, as lines.
func (r *scenarioRun) evidence(phase int) []string {
	var out []string
	for _, c := range scenario.Evidence(r.sc, r.checks, phase) {
		out = append(out, strings.TrimSpace(c.Expectation.String()+": "+c.Observed))
	}
	return out
}
