package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui/feed"
)

// panelSnapshot is the fixture with what the panels make a point of: an
// inventory consumer at its max ack pending, duplicates recognised,
// reconnects, and hostile text where the server's data reaches a panel
// (a dead letter's reason, the server's name, a breaker's name).
func panelSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	s.Connection.Server = "nats-b\x1b[2J"
	s.Connection.Reconnects = 2
	services := append([]feed.Service(nil), s.Services...)
	for i := range services {
		svc := &services[i]
		switch svc.Name {
		case contract.Inventory:
			c := *svc.Command
			c.AckPending, c.MaxAckPending, c.Redelivered = 48, 48, 7
			svc.Command = &c
			svc.Counters.Duplicates = 31
		case contract.Payment:
			svc.Breakers = append(append([]feed.Breaker(nil), svc.Breakers...), feed.Breaker{Name: "gate\x1b[31mway", State: contract.BreakerClosed})
		}
	}
	s.Services = services
	dls := append([]*feed.DeadLetter(nil), s.DeadLetters...)
	hostile := *dls[0]
	hostile.Seq, hostile.Reason = 18, "malformed message: \x1b]0;pwned\x07\x1b[2Jnot JSON"
	s.DeadLetters = append([]*feed.DeadLetter{&hostile}, dls...)
	s.Servers = []feed.Server{{Name: s.Connection.Server, Streams: len(s.Streams), Leads: len(s.Streams)}}
	return s
}

// clusterPanelSnapshot is panelSnapshot on the three-node cluster just
// after the leader of SAGA_ORDERS died (clusterSnapshot), connected to
// the node with the hostile name.
func clusterPanelSnapshot() feed.Snapshot {
	s, c := panelSnapshot(), clusterSnapshot()
	s.Servers, s.Streams = c.Servers, c.Streams
	s.Connection.Server = c.Servers[2].Name
	return s
}

// runningEvents are a followed run of the named scenario in its observe
// phase, as the run stream carries it.
func runningEvents(t *testing.T, name string) []contract.RunEvent {
	t.Helper()
	sc, err := scenario.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	evs := []scenario.Event{
		{Kind: scenario.ScenarioStarted, Time: fixtureTime, Phase: -1},
		{Kind: scenario.PhaseStarted, Time: fixtureTime, Phase: 0},
		{Kind: scenario.PhaseStarted, Time: fixtureTime.Add(12e9), Phase: 1},
	}
	var out []contract.RunEvent
	for i, e := range evs {
		e.Scenario, e.Run = sc, "r1"
		out = append(out, e.Wire(uint64(i+1)))
	}
	return out
}

// The presenter panels beside the narrative, from a laptop to a
// projector: each scenario's own, drawn from the snapshot, hostile text
// drawn clean, and more detail where the screen is tall. On a cluster the
// servers panel marks the dead node, the new leader of the stream the
// scenario kills the leader of, and the copy that lags.
func TestPresenterPanelsGolden(t *testing.T) {
	for _, name := range []string{"slow-database", "poison-messages", "server-restart", "cluster-node-down", "duplicate-deliveries"} {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", name, sz.w, sz.h), func(t *testing.T) {
				a := newApp(appConfig{ctx: t.Context(), title: "tls://10.0.0.5:4222", styles: plainStyles(), scenarios: scenarioConfig{name: "ada"}})
				a.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
				snap := panelSnapshot()
				if name == "cluster-node-down" {
					snap = clusterPanelSnapshot()
				}
				a.Update(snapshotMsg{snap})
				press(a, "9")
				for _, e := range runningEvents(t, name) {
					a.Update(runEventMsg{e})
				}
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("presenter_%s_%dx%d", name, sz.w, sz.h), view)
			})
		}
	}
}
