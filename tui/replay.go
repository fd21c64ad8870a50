package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/recording"
	"github.com/sagascope/sagascope/tui/timeline"
)

// replaySpeeds are the speeds f cycles through.
var replaySpeeds = []int{1, 4, 16}

// replay is how a replay plays: playing or not, at which speed. Playing
// is one step of a second per tick, a tick every second divided by the
// speed.
type replay struct {
	src     *replaySource
	playing bool
	speed   int
	// tick numbers the ticks, so a tick from before a pause or a speed
	// change is dropped.
	tick int
	// stepping is a tick's seek not answered yet: ticks skip their step
	// until it is, so a seek slower than a tick at 16× is not superseded
	// by the next (and dropped) forever.
	stepping bool
}

// playTickMsg is a replay's clock.
type playTickMsg struct{ tick int }

// startReplay makes the dashboard a replay of src: it starts at the
// recording's first frame, playing at 1×.
func (a *app) startReplay(src *replaySource) {
	t := &a.travel
	t.hist, t.replay = src, &replay{src: src, playing: true, speed: 1}
	t.mode, t.at = travelPaused, src.r.Start()
	k := &a.keys
	k.Speed.SetEnabled(true)
	k.Pause.SetHelp("p", "play / pause")
	k.Live.SetHelp("L", "to the end")
}

// replayInit shows the first frame and starts the clock; nil for a live
// dashboard.
func (a *app) replayInit() tea.Cmd {
	t := &a.travel
	if t.replay == nil {
		return nil
	}
	return tea.Batch(a.replaySeek(t.at), a.playCmd())
}

// replaySeek shows the frame at at.
func (a *app) replaySeek(at time.Time) tea.Cmd {
	t := &a.travel
	t.seek++
	return seekCmd(a.ctx, t.hist, t.seek, func(h timeSource) (timeline.Frame, bool, error) {
		f, err := h.Seek(at)
		return f, false, err
	})
}

func (a *app) playCmd() tea.Cmd {
	rp := a.travel.replay
	rp.tick++
	id := rp.tick
	return tea.Tick(time.Second/time.Duration(rp.speed), func(time.Time) tea.Msg { return playTickMsg{tick: id} })
}

// playTick steps a playing replay a second on.
func (a *app) playTick(msg playTickMsg) tea.Cmd {
	rp := a.travel.replay
	if rp == nil || !rp.playing || msg.tick != rp.tick {
		return nil
	}
	if rp.stepping {
		return a.playCmd()
	}
	rp.stepping = true
	return tea.Batch(a.step(time.Second), a.playCmd())
}

// replayKey handles the keys a replay gives another meaning: p plays and
// pauses, f changes the speed, L goes to the end.
func (a *app) replayKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	k, rp := &a.keys, a.travel.replay
	switch {
	case key.Matches(msg, k.Pause):
		rp.playing = !rp.playing
		if !rp.playing {
			rp.tick++ // the tick in flight is dropped
			return nil, true
		}
		return a.playCmd(), true
	case key.Matches(msg, k.Speed):
		for i, s := range replaySpeeds {
			if s == rp.speed {
				rp.speed = replaySpeeds[(i+1)%len(replaySpeeds)]
				break
			}
		}
		if rp.playing {
			return tea.Batch(a.playCmd(), a.setFlash(roleMuted, fmt.Sprintf("playing at %d×", rp.speed))), true
		}
		return a.setFlash(roleMuted, fmt.Sprintf("will play at %d×", rp.speed)), true
	case key.Matches(msg, k.Live):
		return a.replaySeek(rp.src.r.End()), true
	}
	return nil, false
}

// replayEnded stops a replay that played to its last frame.
func (a *app) replayEnded() tea.Cmd {
	rp := a.travel.replay
	rp.playing = false
	rp.tick++
	return a.setFlash(roleMuted, "end of the recording (p plays from here, , and < step back)")
}

// replayView is the header's marker of a replay: "REPLAY ▶ 4× · 2m05s of
// 20m14s".
func (a *app) replayView() string {
	t := &a.travel
	rp := t.replay
	state := "❚❚"
	if rp.playing {
		state = fmt.Sprintf("▶ %d×", rp.speed)
	}
	r := rp.src.r
	return a.st.Degraded.Render(fmt.Sprintf("REPLAY %s · %s · %s of %s", state, t.at.Format(time.TimeOnly),
		recording.FormatDuration(t.at.Sub(r.Start())), recording.FormatDuration(r.Duration())))
}

// errReplay answers every control key of a replay.
var errReplay = errors.New("this is a replay: nothing is sent to a system")

// replayControl is the controller of a replay: nothing to control.
type replayControl struct{}

func (replayControl) SetFault(context.Context, contract.Fault) ([]contract.Fault, error) {
	return nil, errReplay
}
func (replayControl) ClearFault(context.Context, contract.Service, contract.FaultKind) ([]contract.Fault, error) {
	return nil, errReplay
}
func (replayControl) Faults(context.Context) ([]contract.Fault, error) { return nil, errReplay }
func (replayControl) Reset(context.Context) error                      { return errReplay }
func (replayControl) SetLoad(context.Context, contract.LoadRequest) (contract.LoadSetting, error) {
	return contract.LoadSetting{}, errReplay
}
func (replayControl) Load(context.Context) (contract.LoadSetting, error) {
	return contract.LoadSetting{}, errReplay
}

// Replay shows the recording r in the dashboard, playing from its start,
// until the user quits (q) or ctx ends. No server is needed; keys that
// would change a system say this is a replay. It does not close r.
// Options other than Title, NoColor, FrameRate, Input and Output are
// ignored.
func Replay(ctx context.Context, r *recording.Reader, opts Options) error {
	if f := r.Meta().FrameFormat; f != FrameFormat && f != frameFormatV1 {
		return fmt.Errorf("replay: the recording's frames are %q; this sagascope plays %q", f, FrameFormat)
	}
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	rend := lipgloss.NewRenderer(out)
	if opts.NoColor || os.Getenv("NO_COLOR") != "" {
		rend.SetColorProfile(termenv.Ascii)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var p *tea.Program
	scen := scenarioConfig{runs: &runGuard{}, send: func(msg tea.Msg) { p.Send(msg) }}
	m := newApp(appConfig{ctx: pctx, title: opts.Title, styles: NewStyles(rend), ctl: replayControl{}, scenarios: scen, replay: newReplaySource(r)})
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen(), tea.WithOutput(out), tea.WithFPS(30)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	p = tea.NewProgram(m, popts...)
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil
	}
	return err
}
