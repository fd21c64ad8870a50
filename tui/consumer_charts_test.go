package tui

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/sagascope/sagascope/tui/feed"
)

// fixtureHistory is two minutes of a consumer falling behind: deliveries
// at 20/s, acks slowing from 20/s to 12/s, so what it has not delivered
// climbs and ack pending reaches its limit of 64 halfway.
func fixtureHistory(stream, name string) *feed.ConsumerHistory {
	n := feed.ConsumerHistoryLen
	h := &feed.ConsumerHistory{Stream: stream, Name: name}
	for i := range n {
		f := float64(i) / float64(n-1)
		h.Times = append(h.Times, fixtureTime.Add(time.Duration(i-n+1)*time.Second))
		h.Delivered = append(h.Delivered, 20+2*math.Sin(float64(i)/6))
		h.Acked = append(h.Acked, 20-8*f+math.Sin(float64(i)/4))
		h.Unprocessed = append(h.Unprocessed, 1234*f*f)
		h.AckPending = append(h.AckPending, min(64, 128*f))
		h.MaxAckPending = append(h.MaxAckPending, 64)
	}
	return h
}

// chartedSnapshot is the fixture with the inventory consumer's history
// focused, and a diagnosis about it.
func chartedSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	s.Focused = fixtureHistory("SAGA_INVENTORY", "inventory")
	s.Diagnoses = []feed.Diagnosis{{
		Severity: feed.LevelWarn, About: "consumer SAGA_INVENTORY › inventory", Rule: feed.RuleConsumerSaturated,
		Screen: feed.ScreenConsumers, Stream: "SAGA_INVENTORY", Consumer: "inventory", Since: ago(14 * time.Second),
		Finding:  "SAGA_INVENTORY › inventory is saturated: every message it may leave unacknowledged is out (max_ack_pending 64), so the server delivers no more until acks come back",
		Evidence: "ack pending 64/64 for 14s; unprocessed 900 → 1,234 (+23.9/s); delivered 20.00/s, acked 12.00/s",
	}}
	return s
}

// Enter on a consumer charts it over time beside its details; esc
// returns to the table.
func TestConsumerChartsGolden(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			a := testApp(t, sz.w, sz.h, chartedSnapshot(), &fakeControl{})
			press(a, "3", "down", "enter")
			view := a.View()
			checkFits(t, view, sz.w, sz.h)
			golden(t, fmt.Sprintf("consumer_charts_%dx%d", sz.w, sz.h), view)
			for _, want := range []string{"DELIVERED/S", "ACKED/S", "UNPROCESSED", "ACK PENDING", "-1m", "64"} {
				if !strings.Contains(view, want) {
					t.Errorf("the charts lack %q", want)
				}
			}
			press(a, "esc")
			if v := a.View(); !strings.Contains(v, "STREAM › CONSUMER") {
				t.Errorf("esc should return to the table:\n%s", v)
			}
		})
	}
}

// A consumer whose name carries an escape sequence is charted under its
// name drawn clean (the fixture's first row).
func TestConsumerChartsOfAHostileNameGolden(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			s := fixtureSnapshot()
			s.Focused = fixtureHistory("LEGACY", "nightly\x1b[31m-export")
			a := testApp(t, sz.w, sz.h, s, &fakeControl{})
			press(a, "3", "enter")
			view := a.View()
			checkFits(t, view, sz.w, sz.h)
			if strings.Contains(view, "\x1b") || !strings.Contains(view, "LEGACY › nightly-export") {
				t.Errorf("the hostile name should be drawn clean:\n%q", view)
			}
			golden(t, fmt.Sprintf("consumer_charts_hostile_%dx%d", sz.w, sz.h), view)
		})
	}
}

// Until the feed sends the consumer's history, the charts say they wait
// for it, and a consumer with a hostile name is drawn clean.
func TestConsumerChartsWaitForTheHistory(t *testing.T) {
	a := testApp(t, 80, 24, fixtureSnapshot(), &fakeControl{})
	press(a, "3", "enter") // LEGACY › nightly\x1b[31m-export
	view := a.View()
	checkFits(t, view, 80, 24)
	if !strings.Contains(view, "nightly-export") || strings.Contains(view, "\x1b") {
		t.Errorf("the consumer's name should be drawn clean:\n%q", view)
	}
	if !strings.Contains(view, "collecting samples") {
		t.Errorf("without history the charts should say they wait for it:\n%s", view)
	}
}

// The feed is told the consumer charted when its charts open, the next
// one when the cursor moves, and none when they close or another screen
// comes on view.
func TestTheChartedConsumerIsToldToTheFeed(t *testing.T) {
	var told []string
	a := newApp(appConfig{ctx: t.Context(), styles: plainStyles(), ctl: &fakeControl{},
		focusConsumer: func(stream, name string) { told = append(told, stream+"/"+name) }})
	a.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	a.Update(snapshotMsg{fixtureSnapshot()})
	pressAndRun(a, "3")
	if len(told) != 0 {
		t.Fatalf("the table charts nothing, yet the feed was told %q", told)
	}
	pressAndRun(a, "down", "enter")
	pressAndRun(a, "down")
	pressAndRun(a, "esc")
	pressAndRun(a, "enter", "1")
	want := []string{"SAGA_INVENTORY/inventory", "SAGA_INVENTORY/orders-inventory-events", "/", "SAGA_INVENTORY/orders-inventory-events", "/"}
	if !slices.Equal(told, want) {
		t.Fatalf("the feed was told %q, want %q", told, want)
	}
}

// One frame of a consumer's charts on a large server, at both sizes: a
// snapshot arrives and the dashboard is drawn. After a poll the four
// charts are built by ntcharts afresh; between polls (nine frames in
// ten at the default refresh) the view drawn for the poll is reused.
// Reported as BenchmarkFrame does.
func BenchmarkConsumerChartsFrame(b *testing.B) {
	snap := bigSnapshot()
	first := snap.Consumers[0]
	snap.Focused = fixtureHistory(first.Stream, first.Name)
	for _, sz := range sizes {
		for _, poll := range []bool{true, false} {
			name := fmt.Sprintf("%dx%d between polls", sz.w, sz.h)
			if poll {
				name = fmt.Sprintf("%dx%d after a poll", sz.w, sz.h)
			}
			b.Run(name, func(b *testing.B) {
				a := testApp(b, sz.w, sz.h, snap, &fakeControl{})
				press(a, "3", "enter")
				next := snap
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if poll {
						// A poll's snapshot: new slices, a new history.
						b.StopTimer()
						next.Consumers = slices.Clone(snap.Consumers)
						h := *snap.Focused
						next.Focused = &h
						b.StartTimer()
					}
					a.Update(snapshotMsg{next})
					_ = a.View()
				}
				per := b.Elapsed() / time.Duration(b.N)
				b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/frame")
				b.ReportMetric(100*float64(per)/float64(frameBudget), "budget-%")
			})
		}
	}
}

// With colours, each chart's line is drawn in its role, and its axes
// muted: the runs of cells are styled as ntcharts was told.
func TestChartLinesAreColouredByRole(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	st := NewStyles(r)
	h := fixtureHistory("SAGA_INVENTORY", "inventory")
	view := chart{title: "ACKED/S", times: h.Times, label: rate, floor: 1,
		lines: []chartLine{{name: "acked", values: h.Acked, role: roleHealthy}}}.view(st, 60, 12)
	for name, style := range map[string]lipgloss.Style{"the line": st.Healthy, "the axes": st.Muted} {
		open, _, _ := strings.Cut(style.Render("x"), "x")
		if open == "" || !strings.Contains(view, open) {
			t.Errorf("%s should be drawn in its role (%q):\n%q", name, open, view)
		}
	}
}

// The charts fit every terminal from the smallest the dashboard draws
// in, with a history of any length, and never panic.
func TestConsumerChartsFitEverySize(t *testing.T) {
	for _, n := range []int{0, 2, feed.ConsumerHistoryLen} {
		h := fixtureHistory("SAGA_INVENTORY", "inventory")
		h.Times, h.Delivered, h.Acked = h.Times[:n], h.Delivered[:n], h.Acked[:n]
		h.Unprocessed, h.AckPending, h.MaxAckPending = h.Unprocessed[:n], h.AckPending[:n], h.MaxAckPending[:n]
		s := chartedSnapshot()
		s.Focused = h
		// Either side of each layout's width: one column, 2×2, details
		// at the right.
		for _, w := range []int{40, 59, 60, 80, 119, 120, 200} {
			for _, ht := range []int{10, 15, 24, 48} {
				a := testApp(t, w, ht, s, &fakeControl{})
				press(a, "3", "down", "enter")
				checkFits(t, a.View(), w, ht)
			}
		}
	}
}
