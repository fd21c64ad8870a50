package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var openOrders = []string{"2", "/", "SAGA_ORDERS", "enter", "enter"}
var openSagaBucket = []string{"2", "/", "KV_saga_sagas", "enter", "enter"}

func keys(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// The Messages and KV views opened from the Streams screen, at both sizes,
// hostile subjects, headers, keys and payloads among them.
func TestBrowseViewsGolden(t *testing.T) {
	tests := []struct {
		name string
		keys []string
	}{
		{name: "messages_newest", keys: openOrders},
		{name: "messages_inspect_hostile", keys: keys(openOrders, []string{"enter"})},
		{name: "messages_inspect_invalid_utf8", keys: keys(openOrders, []string{"up", "enter"})},
		{name: "messages_inspect_binary", keys: keys(openOrders, []string{"up", "up", "enter"})},
		{name: "messages_inspect_json", keys: keys(openOrders, []string{"up", "up", "up", "enter"})},
		{name: "messages_by_subject", keys: keys(openOrders, []string{"/", "saga.v1.payment.>", "enter"})},
		{name: "messages_jump_prompt", keys: keys(openOrders, []string{":", "-5m"})},
		{name: "messages_jumped_to_sequence", keys: keys(openOrders, []string{":", "24,700", "enter"})},
		{name: "kv_keys", keys: openSagaBucket},
		{name: "kv_history", keys: keys(openSagaBucket, []string{"down", "down", "down", "enter"})},
		{name: "kv_revision_decoded", keys: keys(openSagaBucket, []string{"down", "down", "down", "enter", "down", "enter"})},
		{name: "kv_hostile_key_revision", keys: keys(openSagaBucket, []string{"down", "enter", "enter"})},
		{name: "kv_keys_filtered", keys: keys(openSagaBucket, []string{"/", "ord-0", "enter"})},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				a := browseApp(t, sz.w, sz.h, fixtureBrowser(t))
				pressSettled(t, a, tt.keys...)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// Scrolling past the window's top reads the page before it, and esc goes
// back from a message to the list, from the list to the streams.
func TestTheMessagesViewPagesBackAndEscReturns(t *testing.T) {
	a := browseApp(t, 80, 24, fixtureBrowser(t))
	pressSettled(t, a, openOrders...)
	m := a.screens[1].(*streams).top().(*messages)
	if got := len(m.msgs); got != 30 {
		t.Fatalf("the first page holds %d messages, want the stream's 30", got)
	}
	// A smaller page: the view reads 100, the stream holds 30. Jump to
	// the middle, then go up past the top.
	pressSettled(t, a, ":", "24710", "enter")
	if m.msgs[0].Seq != 24_710 || m.table.cursor != 0 {
		t.Fatalf("after the jump the window starts at %d, cursor %d", m.msgs[0].Seq, m.table.cursor)
	}
	pressSettled(t, a, "up")
	if m.msgs[0].Seq != 24_693 {
		t.Errorf("up at the top read back to %d, want the first message 24693", m.msgs[0].Seq)
	}
	if i, _ := m.table.index(); m.msgs[i].Seq != 24_709 {
		t.Errorf("the cursor is on %d, want 24709, the one before where it was", m.msgs[i].Seq)
	}
	pressSettled(t, a, "enter", "esc")
	if m.inspecting {
		t.Error("esc should close the message")
	}
	pressSettled(t, a, "esc")
	if a.screens[1].(*streams).top() != nil {
		t.Error("esc should close the messages view")
	}
	if !strings.Contains(a.View(), "STREAMS") {
		t.Errorf("the streams list should be back:\n%s", a.View())
	}
}

func TestAJumpReadsASequenceATimeOrATimeBack(t *testing.T) {
	now := fixtureTime
	for _, tt := range []struct {
		in   string
		seq  uint64
		at   time.Time
		fail bool
	}{
		{in: "1234", seq: 1234},
		{in: "12,345", seq: 12345},
		{in: "0", seq: 1},
		{in: "-5m", at: now.Add(-5 * time.Minute)},
		{in: "90s", at: now.Add(-90 * time.Second)},
		{in: "2026-11-24T11:00:00Z", at: time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)},
		{in: "yesterday", fail: true},
		{in: "-0s", fail: true},
	} {
		seq, at, err := parseJump(tt.in, now)
		if (err != nil) != tt.fail || seq != tt.seq || !at.Equal(tt.at) {
			t.Errorf("parseJump(%q) = %d, %v, %v", tt.in, seq, at, err)
		}
	}
}
