package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// diagnosedSnapshot is the fixture with the diagnoses its faults would
// bring, worst first as the feed orders them; the names and the reasons
// carry escape sequences and control bytes, as anyone who can create a
// consumer or publish a dead letter can make them.
func diagnosedSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	hostile := "nightly\x1b[31m-export"
	s.Diagnoses = []feed.Diagnosis{
		{Severity: feed.LevelCritical, About: "consumer LEGACY › " + hostile, Rule: feed.RuleNobodyPulling, Screen: feed.ScreenConsumers,
			Stream: "LEGACY", Consumer: hostile, Since: ago(40 * time.Second),
			Finding:  "nobody is pulling from LEGACY › " + hostile + ": its unprocessed messages grow, no client has a pull request waiting and nothing was delivered for 40s\x1b]0;pwned\x07 — the application that reads it is down or stuck",
			Evidence: "unprocessed 24,000 → 25,000 in 40s; waiting pulls 0;\r\nlast delivery 3m ago"},
		{Severity: feed.LevelCritical, About: "service payment", Rule: feed.RuleBreakerOpen, Screen: feed.ScreenFaults, Since: ago(18 * time.Second),
			Finding:  "payment's gateway breaker is open: calls to its dependency, the gateway, kept failing, so payment refuses them at once instead of waiting on it, and the sagas that need it are cancelled",
			Evidence: "breaker gateway not closed for 18s (now open); 5 failures, 1,200 calls refused; probes again in 3.2s; fault dependency_down injected on payment"},
		{Severity: feed.LevelWarn, About: "consumer SAGA_INVENTORY › inventory", Rule: feed.RuleConsumerSaturated, Screen: feed.ScreenConsumers,
			Stream: "SAGA_INVENTORY", Consumer: "inventory", Since: ago(14 * time.Second),
			Finding:  "SAGA_INVENTORY › inventory is saturated: every message it may leave unacknowledged is out (max_ack_pending 64), so the server delivers no more until acks come back",
			Evidence: "ack pending 64/64 for 14s; unprocessed 900 → 1,234 (+23.9/s); delivered 20.00/s, acked 12.00/s"},
		{Severity: feed.LevelWarn, About: "stream LEGACY", Rule: feed.RuleReplicaLagging, Screen: feed.ScreenServers, Stream: "LEGACY", Since: ago(12 * time.Second),
			Finding:  "replica n2 of stream LEGACY is behind its leader n1 and not catching up: a slow disk or network on n2, or a replica recovering",
			Evidence: "4,000 operations behind for 12s, last active 2s ago"},
		{Severity: feed.LevelWarn, About: "dead letters", Rule: feed.RuleDeadLetters, Screen: feed.ScreenEvents, Since: ago(9 * time.Second),
			Finding:  "dead letters are rising: 5 messages were given up on; most (4 of 5) say \"\x07\x08bad\x1b[2J payload\"",
			Evidence: "12 → 17 messages in SAGA_DLQ in 30s"},
	}
	return s
}

// The Overview's panel shows the worst diagnoses with their evidence, d
// lists them all and moving shows one in full; every hostile byte is
// drawn clean.
func TestDiagnosesGolden(t *testing.T) {
	tests := []struct {
		name string
		keys []string
	}{
		{name: "overview_diagnosed"},
		{name: "diagnoses_list", keys: []string{"d"}},
		{name: "diagnoses_list_second", keys: []string{"d", "down"}},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				a := testApp(t, sz.w, sz.h, diagnosedSnapshot(), &fakeControl{})
				press(a, tt.keys...)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				if strings.ContainsAny(view, "\x1b\x07\x08\r") {
					t.Errorf("a control byte reached the screen: %q", view)
				}
				if sz.w > 80 && !strings.Contains(view, "nightly-export") {
					t.Errorf("the hostile consumer should be named, cleaned:\n%s", view)
				}
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// Enter on a diagnosis shows the screen it names with its stream or
// consumer under the cursor; esc comes back to the list.
func TestEnterOnADiagnosisGoesToItsScreen(t *testing.T) {
	tests := []struct {
		name   string
		downs  int
		screen string
		// selected is in the row under the cursor, "" for a screen
		// without one.
		selected string
		flash    string
	}{
		{name: "a consumer's diagnosis selects the consumer", downs: 2, screen: "Consumers", selected: "SAGA_INVENTORY › inventory"},
		{name: "a hostile consumer's diagnosis finds it by its raw name", downs: 0, screen: "Consumers", selected: "LEGACY › nightly-export"},
		{name: "a service's diagnosis shows the faults", downs: 1, screen: "Faults"},
		{name: "a replica's diagnosis shows the servers", downs: 3, screen: "Servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, 160, 48, diagnosedSnapshot(), &fakeControl{})
			press(a, "d")
			for range tt.downs {
				press(a, "down")
			}
			deliver(t, a, "enter")
			if got := a.screens[a.active].Title(); got != tt.screen {
				t.Fatalf("enter showed %s, want %s", got, tt.screen)
			}
			view := a.View()
			if tt.selected != "" && !selectedRowHas(view, tt.selected) {
				t.Errorf("the row under the cursor should be %q:\n%s", tt.selected, view)
			}
			if tt.flash != "" && !strings.Contains(view, tt.flash) {
				t.Errorf("the status line should say %q:\n%s", tt.flash, view)
			}
			if tt.screen != "Overview" {
				press(a, "esc")
				if v := a.View(); !strings.Contains(v, "DIAGNOSES  5 of 5") {
					t.Errorf("esc should come back to the list of diagnoses:\n%s", v)
				}
			}
		})
	}
}

// selectedRowHas reports whether the line with the cursor holds text.
func selectedRowHas(view, text string) bool {
	for _, l := range strings.Split(view, "\n") {
		if strings.HasPrefix(l, "▸") && strings.Contains(l, text) {
			return true
		}
	}
	return false
}
