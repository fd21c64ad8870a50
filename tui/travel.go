package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/timeline"
)

// travelMode is where in time the dashboard is.
type travelMode uint8

const (
	// travelLive shows each snapshot as it arrives.
	travelLive travelMode = iota
	// travelPaused holds what was on screen when p was pressed.
	travelPaused
	// travelRewound shows a frame of the history.
	travelRewound
)

// travel is the dashboard's place in time. While it is not live, the
// feeds go on: their snapshots go to the history (start wires that) and
// to live here, and the screens are shown the frame at the cursor instead.
// Control keys still act on the system, which is live.
type travel struct {
	// hist is where frames are found: the dashboard's history, or a
	// recording in a replay; nil keeps none.
	hist timeSource
	// replay, in a replay, is how it plays; nil for a live dashboard.
	replay *replay
	mode   travelMode
	// at is the time of what is on screen, by the feed's clock.
	at time.Time
	// live and liveTel are the newest snapshots, held back from the
	// screens while not live.
	live    feed.Snapshot
	liveTel feed.TelemetrySnapshot
	// notable is what happened at the frame on screen.
	notable []timeline.Notable
	// seek numbers the seeks, so a late answer to an older key press is
	// dropped.
	seek int
}

// frameMsg is the answer to a seek: the frame to show, or why there is
// none.
type frameMsg struct {
	seek  int
	frame timeline.Frame
	err   error
	// live says the seek went past the newest frame: return to live.
	live bool
}

// holding reports that the screens are not shown what arrives.
func (t *travel) holding() bool { return t.mode != travelLive }

// timeSource is where time travel finds frames: timeline.History for a
// live dashboard, a recording for a replay.
type timeSource interface {
	Seek(t time.Time) (timeline.Frame, error)
	SeekAfter(from, t time.Time) (f timeline.Frame, ok bool, err error)
	PrevNotable(t time.Time) (m timeline.Mark, ok bool)
	NextNotable(t time.Time) (m timeline.Mark, ok bool)
}

// seekCmd finds the frame a key asks for, off the Update goroutine: a
// seek decompresses and decodes up to two frames (see timeline.History).
func seekCmd(ctx context.Context, h timeSource, id int, find func(h timeSource) (timeline.Frame, bool, error)) tea.Cmd {
	return func() tea.Msg {
		if ctx.Err() != nil {
			return nil
		}
		f, live, err := find(h)
		return frameMsg{seek: id, frame: f, live: live, err: err}
	}
}

// travelKey handles a time travel key; ok is false for other keys.
func (a *app) travelKey(msg tea.KeyMsg) (cmd tea.Cmd, ok bool) {
	k, t := &a.keys, &a.travel
	if t.replay != nil {
		if cmd, ok := a.replayKey(msg); ok {
			return cmd, true
		}
	}
	switch {
	case key.Matches(msg, k.Pause):
		if t.holding() {
			return a.goLive(), true
		}
		a.pause()
		return nil, true
	case key.Matches(msg, k.Live):
		if !t.holding() {
			return nil, true
		}
		return a.goLive(), true
	case key.Matches(msg, k.StepBack):
		return a.step(-time.Second), true
	case key.Matches(msg, k.StepForward):
		return a.step(time.Second), true
	case key.Matches(msg, k.JumpBack):
		return a.step(-10 * time.Second), true
	case key.Matches(msg, k.JumpForward):
		return a.step(10 * time.Second), true
	case key.Matches(msg, k.PrevNotable), key.Matches(msg, k.NextNotable):
		return a.toNotable(key.Matches(msg, k.NextNotable)), true
	}
	return nil, false
}

// pause freezes what is on screen.
func (a *app) pause() {
	t := &a.travel
	t.mode, t.at, t.notable = travelPaused, a.snap.Time, nil
	t.live, t.liveTel = a.snap, a.tel
}

// goLive shows the newest snapshots again.
func (a *app) goLive() tea.Cmd {
	t := &a.travel
	t.mode, t.notable = travelLive, nil
	t.seek++ // a seek still in flight is answered too late
	a.snap, a.tel = t.live, t.liveTel
	return a.showNow()
}

// showNow hands the screen on view what a.snap and a.tel now are.
func (a *app) showNow() tea.Cmd {
	s := a.screens[a.active]
	cmds := []tea.Cmd{s.Update(snapshotMsg{a.snap})}
	if !a.tel.Time.IsZero() {
		cmds = append(cmds, s.Update(telemetryMsg{a.tel}))
	}
	return tea.Batch(cmds...)
}

// step moves the cursor by d: back from live pauses first; forward past
// the newest frame returns to live.
func (a *app) step(d time.Duration) tea.Cmd {
	t := &a.travel
	if t.hist == nil {
		return a.setFlash(roleMuted, "this dashboard keeps no history (--history 0)")
	}
	if !t.holding() {
		if d > 0 {
			return a.setFlash(roleMuted, "already live")
		}
		a.pause()
	}
	from, target := t.at, t.at.Add(d)
	t.seek++
	return seekCmd(a.ctx, t.hist, t.seek, func(h timeSource) (timeline.Frame, bool, error) {
		if d > 0 {
			f, ok, err := h.SeekAfter(from, target)
			return f, !ok, err
		}
		f, err := h.Seek(target)
		return f, false, err
	})
}

// toNotable moves to the previous or next notable frame.
func (a *app) toNotable(next bool) tea.Cmd {
	t := &a.travel
	if t.hist == nil {
		return a.setFlash(roleMuted, "this dashboard keeps no history (--history 0)")
	}
	from := t.at
	if !t.holding() {
		if next {
			return a.setFlash(roleMuted, "already live: no later event")
		}
		from = a.snap.Time
	}
	var m timeline.Mark
	var ok bool
	if next {
		m, ok = t.hist.NextNotable(from)
	} else {
		m, ok = t.hist.PrevNotable(from)
	}
	if !ok {
		which := "earlier"
		if next {
			which = "later"
		}
		return a.setFlash(roleMuted, fmt.Sprintf("no %s event in the history (L returns to live)", which))
	}
	if !t.holding() {
		a.pause()
	}
	t.seek++
	return seekCmd(a.ctx, t.hist, t.seek, func(h timeSource) (timeline.Frame, bool, error) {
		f, err := h.Seek(m.Time)
		return f, false, err
	})
}

// showFrame takes the answer to a seek.
func (a *app) showFrame(msg frameMsg) tea.Cmd {
	t := &a.travel
	if t.replay != nil && msg.seek == t.seek {
		t.replay.stepping = false
	}
	if msg.seek != t.seek || !t.holding() {
		return nil
	}
	switch {
	case msg.live && t.replay != nil:
		return a.replayEnded()
	case msg.live:
		return a.goLive()
	case errors.Is(msg.err, timeline.ErrEmpty):
		return a.setFlash(roleMuted, "the history is empty until the first snapshot arrives")
	case msg.err != nil:
		return a.setFlash(roleFailing, "✗ "+msg.err.Error())
	}
	f := msg.frame
	if t.mode == travelRewound && f.Time.Equal(t.at) {
		// A step back from the oldest frame lands on it again.
		return a.setFlash(roleMuted, "the history starts here, at "+f.Time.Format(time.TimeOnly))
	}
	t.mode, t.at, t.notable = travelRewound, f.Time, f.Notable
	// The line under the screen is for what happened at this frame now;
	// the outcome of an earlier key is old news.
	a.flash.text = ""
	if f.Snapshot != nil {
		a.snap = *f.Snapshot
	}
	if f.Telemetry != nil {
		a.tel = *f.Telemetry
	}
	if t.replay == nil || len(f.Runs) == 0 {
		return a.showNow()
	}
	// A replay's scenario runs reach the Scenarios screen as a live run's
	// do, in order: the frame's are those since the frame shown before.
	cmds := []tea.Cmd{a.showNow()}
	for _, e := range f.Runs {
		cmds = append(cmds, func() tea.Msg { return runEventMsg{e} })
	}
	return tea.Sequence(cmds...)
}

// travelView is the header's marker of a dashboard not live: "PAUSED ·
// 42s behind live", "REWOUND to 15:04:05 · 3m behind live". It is measured
// between the feed's times, so a view of it is deterministic.
func (a *app) travelView() string {
	t := &a.travel
	if t.replay != nil {
		return a.replayView()
	}
	behind := t.live.Time.Sub(t.at)
	ago := "live"
	if behind >= time.Second {
		ago = behindText(behind) + " behind live"
	}
	if t.mode == travelPaused {
		return a.st.Degraded.Render("PAUSED · " + ago)
	}
	return a.st.Degraded.Render("REWOUND to " + t.at.Format(time.TimeOnly) + " · " + ago)
}

// behindText says d in its largest units: "42s", "3m", "3m20s", "1h2m".
func behindText(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		m, s := int(d.Minutes()), int(d.Seconds())%60
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// notableView is the status line's account of what happened at the frame
// on screen, "" when nothing notable did.
func (a *app) notableView() string {
	if !a.travel.holding() || len(a.travel.notable) == 0 {
		return ""
	}
	var whats []string
	for _, n := range a.travel.notable {
		whats = append(whats, n.What)
	}
	return "◆ " + strings.Join(whats, " · ")
}
