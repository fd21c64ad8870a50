package tui

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/tui/feed"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) {
	// goleak.VerifyTestMain exits; the end-to-end tests' binary is removed
	// first, by the cleanup it runs before it checks.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if built.dir != "" {
			_ = os.RemoveAll(built.dir)
		}
	}))
}

func sortConsumers(cs []feed.Consumer) {
	slices.SortFunc(cs, func(a, b feed.Consumer) int {
		return cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Name, b.Name))
	})
}

// plainStyles are the styles with NO_COLOR: golden files are readable text.
func plainStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return NewStyles(r)
}

// testApp is the root model at a fixed size showing snap; ctl may be nil.
func testApp(t testing.TB, width, height int, snap feed.Snapshot, ctl controller) *app {
	t.Helper()
	a := newApp(appConfig{ctx: t.Context(), title: "embedded demo on nats://127.0.0.1:4222", styles: plainStyles(), ctl: ctl})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	a.Update(snapshotMsg{snap})
	return a
}

// press sends keys to a, as the program would, and returns the commands.
func press(a *app, keys ...string) []tea.Cmd {
	var cmds []tea.Cmd
	for _, k := range keys {
		_, cmd := a.Update(keyMsg(k))
		cmds = append(cmds, cmd)
	}
	return cmds
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// golden compares got with testdata/golden/name.txt, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("view %s differs from %s (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

// checkFits fails if the view is not exactly the terminal's size.
func checkFits(t *testing.T, view string, width, height int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != height {
		t.Errorf("view has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, w, width, l)
		}
	}
}

var sizes = []struct{ w, h int }{{80, 24}, {160, 48}}

// Every screen, at both sizes, with the fixture of a demo under faults;
// the overview also at the README picture's 120x36, where the wide columns
// must leave the breakers room.
func TestScreensGolden(t *testing.T) {
	names := []string{"overview", "streams", "consumers", "faults", "sagas", "events"}
	for _, sz := range append(sizes, struct{ w, h int }{120, 36}) {
		if sz.w == 120 {
			names = names[:1]
		}
		for i, name := range names {
			t.Run(fmt.Sprintf("%s %dx%d", name, sz.w, sz.h), func(t *testing.T) {
				a := testApp(t, sz.w, sz.h, fixtureSnapshot(), &fakeControl{})
				a.switchTo(i)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", name, sz.w, sz.h), view)
			})
		}
	}
}

// Views after interaction: each case presses keys on a screen and
// compares the result.
func TestInteractionsGolden(t *testing.T) {
	tests := []struct {
		name     string
		snap     func() feed.Snapshot
		keys     []string
		readOnly bool // no controller, as with Options.ReadOnly
		before   func(a *app)
	}{
		{name: "overview_foreign", snap: foreignSnapshot},
		{name: "help_overlay", snap: fixtureSnapshot, keys: []string{"3", "?"}},
		{name: "consumers_filtered_sorted", snap: fixtureSnapshot, keys: []string{"3", "/", "i", "n", "v", "enter", "s"}},
		{name: "streams_sorted_by_messages", snap: fixtureSnapshot, keys: []string{"2", "s"}},
		{name: "sagas_inspect_parked", snap: fixtureSnapshot, keys: []string{"5", "down", "down", "down", "down", "down", "down", "down", "enter"}},
		{name: "sagas_filter_cancelled", snap: fixtureSnapshot, keys: []string{"5", "/", "c", "a", "n", "c"}},
		{name: "events_dead_letters", snap: fixtureSnapshot, keys: []string{"6", "right"}},
		{name: "events_inspect_hostile_dead_letter", snap: fixtureSnapshot, keys: []string{"6", "right", "enter"}},
		{name: "events_inspect_advisory", snap: fixtureSnapshot, keys: []string{"6", "enter"}},
		{name: "events_foreign_dead_letters", snap: foreignSnapshot, keys: []string{"6", "right"}},
		{name: "faults_latency_form", snap: fixtureSnapshot, keys: []string{"4", "right", "down", "left", "left", "down", "right", "down", "right", "right"}},
		{name: "faults_no_responders", snap: fixtureSnapshot, keys: []string{"4"}, before: func(a *app) {
			a.Update(faultsMsg{op: "list faults", quiet: true, err: fmt.Errorf("list faults: %w", control.ErrNoResponders)})
		}},
		{name: "faults_read_only", snap: fixtureSnapshot, keys: []string{"4", "+"}, readOnly: true},
		{name: "help_read_only", snap: fixtureSnapshot, keys: []string{"4", "?"}, readOnly: true},
		{name: "reconnecting", snap: func() feed.Snapshot {
			s := fixtureSnapshot()
			s.Connection.State = feed.StateReconnecting
			return s
		}},
		{name: "overview_partly_stale", snap: staleSnapshot},
		{name: "consumers_partly_stale", snap: staleSnapshot, keys: []string{"3"}},
		{name: "problem_line", snap: func() feed.Snapshot {
			s := foreignSnapshot()
			s.Problems = []feed.Problem{{Source: feed.SourceConsumers, Error: "list consumers of BILLING: nats: \x1b[31mtimeout"}, {Source: feed.SourceStreams, Error: "x"}}
			return s
		}},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				var ctl controller = &fakeControl{}
				if tt.readOnly {
					ctl = nil
				}
				a := testApp(t, sz.w, sz.h, tt.snap(), ctl)
				if tt.before != nil {
					tt.before(a)
				}
				press(a, tt.keys...)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// staleSnapshot is the fixture on a system larger than the API budget
// lists each refresh: two streams' consumers are not listed yet, and two
// rows were read 48 s and 9 s before the poll that shows them.
func staleSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	s.Gathering = feed.Gathering{Path: feed.PathAPI, Budget: 20, Unlisted: 2}
	s.Consumers = slices.Clone(s.Consumers)
	s.Consumers[0].Age, s.Consumers[0].Read = 48*time.Second, fixtureTime.Add(-48*time.Second)
	s.Consumers[2].Age, s.Consumers[2].Read = 9*time.Second, fixtureTime.Add(-9*time.Second)
	return s
}

func TestTooSmallSaysSo(t *testing.T) {
	a := testApp(t, 30, 8, fixtureSnapshot(), nil)
	if v := a.View(); !strings.Contains(v, "needs at least") {
		t.Errorf("a 30x8 terminal should be told it is too small, got:\n%s", v)
	}
}

func TestWaitingForData(t *testing.T) {
	a := newApp(appConfig{ctx: context.Background(), styles: plainStyles()})
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	v := a.View()
	checkFits(t, v, 80, 24)
	if !strings.Contains(v, "waiting for the first data") || !strings.Contains(v, "starting") {
		t.Errorf("before the first snapshot the overview should say it waits:\n%s", v)
	}
}

// Colours are chosen by role: the same state looks the same everywhere.
func TestStatesAreColouredByRole(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	st := NewStyles(r)
	a := newApp(appConfig{ctx: t.Context(), styles: st})
	a.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	a.Update(snapshotMsg{fixtureSnapshot()})
	view := a.View()
	tests := []struct {
		name string
		text string
		role lipgloss.Style
	}{
		{"an open breaker is failing", "gateway OPEN 3.2s", st.Failing},
		{"a half-open breaker is degraded", "carrier HALF-OPEN", st.Degraded},
		{"a connected connection is healthy", "● connected", st.Healthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if want := tt.role.Render(tt.text); !strings.Contains(view, want) {
				t.Errorf("%q is not rendered as %q", tt.text, want)
			}
		})
	}
	if plain := ansi.Strip(view); !strings.Contains(plain, "gateway OPEN 3.2s") {
		t.Errorf("the text of the state must not depend on colour")
	}
}

// Snapshots between two polls share the poll's consumers, and the list is
// not filtered and sorted again for them; a new poll's rows are shown, in
// their order.
func TestTheConsumersScreenSortsEachPollOnce(t *testing.T) {
	s := fixtureSnapshot()
	s.Consumers = slices.Clone(s.Consumers)
	a := testApp(t, 160, 48, s, &fakeControl{})
	press(a, "3", "s") // sorted by unprocessed, the most first
	scr := a.screens[a.active].(*consumersScreen)
	top := func() string { return scr.list.items[0].Stream + "/" + scr.list.items[0].Name }
	before := top()
	// A later frame of the same poll: the feed never changes a poll's
	// slice, so changing it here shows whether the list sorted again.
	last := len(s.Consumers) - 1
	s.Consumers[last].Pending = 9_999_999
	a.Update(snapshotMsg{s})
	if got := top(); got != before {
		t.Fatalf("a frame of the same poll sorted the list again: %s on top, was %s", got, before)
	}
	next := s
	next.Consumers = slices.Clone(s.Consumers)
	a.Update(snapshotMsg{next})
	if got, want := top(), next.Consumers[last].Stream+"/"+next.Consumers[last].Name; got != want {
		t.Fatalf("a new poll: %s on top, want %s with the most unprocessed", got, want)
	}
}

// The feed is told the streams on screen when the Consumers screen comes
// on view, and none when a screen without streams does.
func TestTheStreamsOnScreenAreToldToTheFeed(t *testing.T) {
	var told [][]string
	a := newApp(appConfig{ctx: t.Context(), styles: plainStyles(), ctl: &fakeControl{},
		focus: func(streams ...string) { told = append(told, streams) }})
	a.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	a.Update(snapshotMsg{fixtureSnapshot()})
	pressAndRun(a, "3")
	if len(told) != 1 || !slices.Contains(told[0], "SAGA_PAYMENT") || !slices.Contains(told[0], "LEGACY") {
		t.Fatalf("on the Consumers screen the feed was told %q; want the streams of its rows", told)
	}
	pressAndRun(a, "1")
	if len(told) != 2 || len(told[1]) != 0 {
		t.Fatalf("on the Overview the feed was told %q; want no stream", told)
	}
	pressAndRun(a, "1")
	if len(told) != 2 {
		t.Fatalf("the feed was told again with nothing changed: %q", told)
	}
}

// pressAndRun presses keys on a and runs the commands they return,
// discarding their messages.
func pressAndRun(a *app, keys ...string) {
	for _, c := range press(a, keys...) {
		runAll(c)
	}
}

// runAll runs cmd and the commands a batch holds, discarding messages.
func runAll(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	if batch, ok := cmd().(tea.BatchMsg); ok {
		for _, c := range batch {
			runAll(c)
		}
	}
}
