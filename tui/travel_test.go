package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/internal/same"
	"github.com/sagascope/sagascope/tui/timeline"
	"github.com/sagascope/sagascope/tui/timeline/timelinetest"
)

// gatewayFailsAt is when, in the rewind fixture, the payment gateway went
// down: its breaker opened and the fault was set.
var gatewayFailsAt = ago(100 * time.Second)

// sharedHistory is historyOf, built once: a History is safe for
// concurrent use and these tests only read it.
var sharedHistory = sync.OnceValue(func() *timeline.History { return historyOf() })

// historyOf is three minutes of the fixture, a frame a second up to
// fixtureTime: the payment gateway healthy until gatewayFailsAt, the
// fixture from then on, and a scenario phase (with a hostile name)
// starting then.
func historyOf() *timeline.History {
	h := timeline.NewHistory(timeline.Options{})
	rewindFixture(h.AddSnapshot, h.AddRun)
	if st := h.Stats(); st.Err != nil || st.Frames != 181 {
		panic(fmt.Sprintf("the rewind fixture's history: %+v", st))
	}
	return h
}

// rewindFixture sends the rewind fixture to add and run: three minutes
// of snapshots, a second apart up to fixtureTime, the payment gateway
// healthy until gatewayFailsAt and the fixture from then on, and a
// scenario phase (with a hostile name) starting then.
func rewindFixture(add func(feed.Snapshot), run func(contract.RunEvent)) {
	for d := 180 * time.Second; d >= 0; d -= time.Second {
		s := fixtureSnapshot()
		s.Time, s.Polled = ago(d), ago(d)
		s.Sagas.Placed -= uint64(d / time.Second * 20)
		if s.Time.Before(gatewayFailsAt) {
			s.Faults = s.Faults[:1]
			s.Services[1].Faults = nil
			s.Services[1].Breakers[0].State, s.Services[1].Breakers[0].Remaining = contract.BreakerClosed, 0
		}
		if s.Time.Equal(gatewayFailsAt) {
			run(contract.RunEvent{Kind: contract.RunPhase, What: "gateway \x1b[2Jdown"})
		}
		add(s)
	}
}

// rewindApp is the dashboard with historyOf's history, live at
// fixtureTime.
func rewindApp(t *testing.T, width, height int) *app {
	t.Helper()
	a := newApp(appConfig{ctx: t.Context(), title: "embedded demo on nats://127.0.0.1:4222", styles: plainStyles(), ctl: &fakeControl{}, history: sharedHistory()})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	a.Update(snapshotMsg{fixtureSnapshot()})
	return a
}

// header is the first line of the view.
func header(a *app) string { return strings.SplitN(a.View(), "\n", 2)[0] }

func TestPauseFreezesTheScreenWhileSnapshotsArrive(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			a := testApp(t, sz.w, sz.h, fixtureSnapshot(), &fakeControl{})
			press(a, "p")
			frozen := a.View()
			later := fixtureSnapshot()
			later.Time = fixtureTime.Add(42 * time.Second)
			later.Sagas = feed.SagaTotals{Known: true, Placed: 99_999}
			a.Update(snapshotMsg{later})
			view := a.View()
			if body := func(v string) string { return v[strings.IndexByte(v, '\n'):] }; body(view) != body(frozen) {
				t.Fatalf("a snapshot that arrived while paused is on screen:\n%s", view)
			}
			checkFits(t, view, sz.w, sz.h)
			golden(t, fmt.Sprintf("paused_overview_%dx%d", sz.w, sz.h), view)
			press(a, "p")
			if h := header(a); strings.Contains(h, "PAUSED") || !strings.Contains(h, "11:51:39") {
				t.Fatalf("p again did not return to live: %q", h)
			}
		})
	}
}

// The dashboard rewound to the notable frame before live: the gateway
// going down. The header says where and how far behind live, the status
// line what happened, the overview shows the breaker as it was.
func TestRewoundToTheGatewayGoingDownGolden(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			a := rewindApp(t, sz.w, sz.h)
			deliver(t, a, "[") // the phase and the breaker, at gatewayFailsAt
			deliver(t, a, ",")
			deliver(t, a, "]")
			view := a.View()
			checkFits(t, view, sz.w, sz.h)
			wants := []string{"REWOUND to 11:49:17 · 1m40s behind live", "breaker payment/gateway open", "fault payment dependency_down set"}
			if sz.w >= 160 {
				wants = append(wants, "phase started: gateway down")
			}
			for _, want := range wants {
				if !strings.Contains(view, want) {
					t.Errorf("rewound view lacks %q", want)
				}
			}
			golden(t, fmt.Sprintf("rewound_overview_%dx%d", sz.w, sz.h), view)
		})
	}
}

func TestStepsMoveThroughTheHistoryAndLReturnsToLive(t *testing.T) {
	a := rewindApp(t, 160, 48)
	steps := []struct {
		keys   string
		header string
	}{
		{",", "REWOUND to 11:50:56 · 1s behind live"},
		{"<", "REWOUND to 11:50:46 · 11s behind live"},
		{">", "REWOUND to 11:50:56 · 1s behind live"},
		{".", "REWOUND to 11:50:57 · live"},
	}
	for _, s := range steps {
		deliver(t, a, s.keys)
		if h := header(a); !strings.Contains(h, s.header) {
			t.Fatalf("after %q the header is %q, want %q", s.keys, h, s.header)
		}
	}
	// Live snapshots keep arriving: the frame stays, the distance grows.
	later := fixtureSnapshot()
	later.Time = fixtureTime.Add(5 * time.Second)
	a.Update(snapshotMsg{later})
	if h := header(a); !strings.Contains(h, "REWOUND to 11:50:57 · 5s behind live") {
		t.Fatalf("after a live snapshot the header is %q", h)
	}
	// Past the newest frame is live.
	deliver(t, a, ".")
	if h := header(a); strings.Contains(h, "REWOUND") || !strings.Contains(h, "11:51:02") {
		t.Fatalf("stepping past the newest frame left %q, want live at 11:51:02", h)
	}
	// Back to the start of the history, which holds there; L is live.
	for range 20 {
		deliver(t, a, "<")
	}
	if v := a.View(); !strings.Contains(v, "REWOUND to 11:47:57 · 3m05s behind live") || !strings.Contains(v, "the history starts here, at 11:47:57") {
		t.Fatalf("at the start of the history the view is:\n%s", v)
	}
	press(a, "L")
	if h := header(a); strings.Contains(h, "REWOUND") || !strings.Contains(h, "11:51:02") {
		t.Fatalf("L left %q, want live at 11:51:02", h)
	}
}

// A screen opened while rewound shows the frame, not the live system:
// before the gateway failed, the Faults screen lists one fault.
func TestAScreenOpenedWhileRewoundShowsTheFrame(t *testing.T) {
	a := rewindApp(t, 160, 48)
	for range 12 {
		deliver(t, a, "<")
	}
	press(a, "4")
	if h := header(a); !strings.Contains(h, "REWOUND to 11:48:57") {
		t.Fatalf("the Faults screen's header is %q", h)
	}
	f := a.screens[3].(*faults)
	if len(f.snap.Faults) != 1 || f.snap.Faults[0].Kind != contract.FaultLatency {
		t.Fatalf("faults on screen %+v, want the slow database alone", f.snap.Faults)
	}
	press(a, "L")
	if len(f.snap.Faults) != 2 {
		t.Fatalf("back to live the faults on screen are %+v", f.snap.Faults)
	}
}

func TestWithoutAHistoryStepsSaySo(t *testing.T) {
	a := testApp(t, 80, 24, fixtureSnapshot(), &fakeControl{})
	press(a, ",")
	if !strings.Contains(a.View(), "keeps no history") {
		t.Fatalf("a step without history says:\n%s", a.View())
	}
}

func TestBehindLiveIsSaidInItsLargestUnits(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second: "42s", 3 * time.Minute: "3m", 200 * time.Second: "3m20s", 62 * time.Minute: "1h02m", 1500 * time.Millisecond: "1s",
	} {
		if got := behindText(d); got != want {
			t.Errorf("behindText(%v) = %q, want %q", d, got, want)
		}
	}
}

// The fixtures every golden view is drawn from come back from their frame
// bytes, and from a history, as they were: a rewound screen draws what the
// live one did.
func TestTheFixturesComeBackFromTheirFrames(t *testing.T) {
	snap, tel := fixtureSnapshot(), bigTelemetry()
	timelinetest.RoundTrip(t, timeline.Frame{Time: fixtureTime, Snapshot: &snap, Telemetry: &tel})
	// A frame is made by the first message a second (Options.Every)
	// after the frame before: the snapshot a second later makes the one
	// that holds both.
	h := timeline.NewHistory(timeline.Options{})
	h.AddTelemetry(tel)
	later := snap
	later.Time = fixtureTime.Add(time.Second)
	h.AddSnapshot(later)
	from, err := h.Seek(later.Time)
	if err != nil {
		t.Fatal(err)
	}
	if d := same.Diff(timeline.Frame{Time: later.Time, Snapshot: &later, Telemetry: &tel}, from); d != "" {
		t.Fatalf("frame from the history differs at %s", d)
	}
}
