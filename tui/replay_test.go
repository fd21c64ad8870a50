package tui

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/recording"
)

// replayFixture is the rewind fixture (rewindFixture) as a recording made
// by a Recorder, a frame a second. Built once:
// each test reads its own Reader of the bytes.
var replayFixture = sync.OnceValues(func() ([]byte, error) {
	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Meta{FrameFormat: FrameFormat, Title: "gateway down"}, recording.Options{})
	if err != nil {
		return nil, err
	}
	rec := NewRecorder(w, 1)
	rewindFixture(rec.AddSnapshot, rec.AddRun)
	if err := rec.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), w.Close()
})

func replayReader(t *testing.T) *recording.Reader {
	t.Helper()
	b, err := replayFixture()
	if err != nil {
		t.Fatal(err)
	}
	r, err := recording.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// replayApp is the dashboard replaying replayFixture, on its first frame.
func replayApp(t *testing.T, width, height int) *app {
	t.Helper()
	r := replayReader(t)
	a := newApp(appConfig{ctx: t.Context(), title: "replay of gateway.rec (gateway down)", styles: plainStyles(), ctl: replayControl{}, replay: newReplaySource(r)})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	a.Update(a.replaySeek(r.Start())())
	return a
}

// tick plays one tick of the replay, the seek it asks for answered.
func tick(t *testing.T, a *app) {
	t.Helper()
	cmd := a.playTick(playTickMsg{tick: a.travel.replay.tick})
	if cmd == nil {
		t.Fatal("a tick of a playing replay asked for nothing")
	}
	batch, ok := cmd().(tea.BatchMsg)
	if !ok || len(batch) == 0 {
		t.Fatal("a tick is not a seek and the next tick")
	}
	a.Update(batch[0]()) // the seek; the next tick would wait
}

func TestAReplayPlaysFromItsFirstFrameGolden(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			a := replayApp(t, sz.w, sz.h)
			if h := header(a); !strings.Contains(h, "REPLAY ▶ 1× · 11:47:57 · 0s of 3m00s") {
				t.Fatalf("header %q", h)
			}
			tick(t, a)
			tick(t, a)
			view := a.View()
			checkFits(t, view, sz.w, sz.h)
			if !strings.Contains(view, "REPLAY ▶ 1× · 11:47:59 · 2s of 3m00s") || !strings.Contains(view, "p play / pause") {
				t.Fatalf("two ticks on:\n%s", view)
			}
			golden(t, fmt.Sprintf("replay_overview_%dx%d", sz.w, sz.h), view)
		})
	}
}

func TestAReplaysKeysPlayPauseSpeedAndSeek(t *testing.T) {
	a := replayApp(t, 160, 48)
	deliver(t, a, "]") // the gateway going down
	view := a.View()
	for _, want := range []string{"11:49:17 · 1m20s of 3m00s", "breaker payment/gateway open", "phase started: gateway down"} {
		if !strings.Contains(view, want) {
			t.Errorf("at the next event the view lacks %q:\n%s", want, view)
		}
	}
	press(a, "f")
	if h := header(a); !strings.Contains(h, "REPLAY ▶ 4×") {
		t.Fatalf("f did not play at 4×: %q", h)
	}
	press(a, "f", "f")
	if h := header(a); !strings.Contains(h, "REPLAY ▶ 1×") {
		t.Fatalf("f three times did not come back to 1×: %q", h)
	}
	press(a, "p")
	if h := header(a); !strings.Contains(h, "REPLAY ❚❚") {
		t.Fatalf("p did not pause: %q", h)
	}
	if cmd := a.playTick(playTickMsg{tick: a.travel.replay.tick}); cmd != nil {
		t.Fatal("a paused replay still ticks")
	}
	deliver(t, a, "L")
	if h := header(a); !strings.Contains(h, "11:50:57 · 3m00s of 3m00s") {
		t.Fatalf("L did not go to the end: %q", h)
	}
	press(a, "p") // play on at the end: the next tick finds no frame
	tick(t, a)
	if view := a.View(); !strings.Contains(view, "end of the recording") || !strings.Contains(view, "REPLAY ❚❚") {
		t.Fatalf("a tick past the end:\n%s", view)
	}
}

func TestAReplaysControlKeysSayItIsAReplay(t *testing.T) {
	a := replayApp(t, 160, 48)
	cmds := press(a, "+")
	runInto(a, cmds[0])
	if view := a.View(); !strings.Contains(view, "this is a replay: nothing is sent to a system") {
		t.Fatalf("+ in a replay:\n%s", view)
	}
}

// runInto runs cmd and what it batches, handing every message to a.
func runInto(a *app, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			runInto(a, c)
		}
		return
	}
	if msg != nil {
		a.Update(msg)
	}
}

// A frame's run events are those since the frame before, so a replay
// moving on by several frames hands the Scenarios screen those of every
// frame it passed, once.
func TestAReplaysFrameCarriesTheRunEventsOfTheFramesItPassed(t *testing.T) {
	s := newReplaySource(replayReader(t))
	for _, step := range []struct {
		at   time.Duration
		runs int
	}{{-3 * time.Second, 0}, {3 * time.Second, 1}, {4 * time.Second, 0}} {
		f, err := s.Seek(gatewayFailsAt.Add(step.at))
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Runs) != step.runs {
			t.Fatalf("the frame at %v from the gateway down carries %d run events, want %d", step.at, len(f.Runs), step.runs)
		}
	}
}
