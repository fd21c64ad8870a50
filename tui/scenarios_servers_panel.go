package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui/feed"
)

// The servers panel of a run: the connection the dashboard has, and on a
// cluster each server with what a node's death changes for the stream the
// scenario is about: who leads it, which copies lag, which server is gone.

// serversPanel draws the servers panel in width cells.
func (s *scenarios) serversPanel(width int, roomy bool) (first string, more []string) {
	st, snap := s.st, &s.snap
	c := snap.Connection
	r := roleHealthy
	if c.State != feed.StateConnected {
		r = roleFailing
	}
	first = st.paint(r, "● "+clean(c.State, 14))
	if c.Server != "" {
		first += " " + st.Strong.Render(clean(c.Server, max(1, width/3)))
	}
	first += st.Muted.Render(fmt.Sprintf(" · %s", plural(int(c.Reconnects), "reconnect", "reconnects")))
	name := panelStream(s.run.sc)
	stream := findStream(snap.Streams, name)
	if len(snap.Servers) < 2 {
		// One server is the connection: only the streams' copies are news.
		if roomy {
			if d := streamReplicas(snap.Streams); d != "" {
				more = append(more, st.Muted.Render(clean(d, width)))
			}
		}
		return first, more
	}
	if !roomy {
		// A laptop's column: every server on one line, marked.
		parts := make([]string, 0, len(snap.Servers))
		for _, sv := range snap.Servers {
			parts = append(parts, s.serverMark(sv, stream, 12, ""))
		}
		return first, []string{strings.Join(parts, "  ")}
	}
	// A projector's: a line a server, and what they hold.
	for _, sv := range snap.Servers {
		line := s.serverMark(sv, stream, max(8, width/3), " ")
		var notes []string
		if stream != nil && stream.Cluster != nil && stream.Cluster.Leader == sv.Name && !sv.Offline {
			notes = append(notes, "leads "+name)
		}
		if sv.MetaLeader {
			notes = append(notes, "meta leader")
		}
		notes = append(notes, fmt.Sprintf("%d/%d streams led", sv.Leads, sv.Streams))
		more = append(more, line+st.Muted.Render(clean(" · "+strings.Join(notes, " · "), max(1, width-lipgloss.Width(line)))))
	}
	if d := streamReplicas(snap.Streams); d != "" {
		more = append(more, st.Muted.Render(clean(d, width)))
	}
	return first, more
}

// serverMark is a server's name in at most nameW cells, marked by what
// it is to stream (nil when unknown): ✗ offline, ★ its leader, its lag
// when its copy is behind, ● otherwise; gap parts the mark and the name
// ("" where three servers share 35 cells).
func (s *scenarios) serverMark(sv feed.Server, stream *feed.Stream, nameW int, gap string) string {
	st := s.st
	name := clean(sv.Name, nameW)
	if sv.Offline {
		return st.Failing.Render("✗" + gap + name + " offline")
	}
	if stream == nil || stream.Cluster == nil {
		return st.Healthy.Render("●" + gap + name)
	}
	c := stream.Cluster
	if c.Leader == sv.Name {
		return st.Healthy.Render("★"+gap) + st.Strong.Render(name)
	}
	i := slices.IndexFunc(c.Replicas, func(r feed.Replica) bool { return r.Name == sv.Name })
	switch {
	case i < 0:
		return st.Muted.Render("●" + gap + name)
	case !c.Replicas[i].Current || c.Replicas[i].Lag > 0:
		return st.Degraded.Render("●" + gap + name + " lag " + count(c.Replicas[i].Lag))
	}
	return st.Healthy.Render("●" + gap + name)
}

// panelStream is the stream a run's servers panel follows: the one its
// steps name (a node stopped for leading it, a leader expected to move),
// else the orders stream, where every saga begins.
func panelStream(sc *scenario.Scenario) string {
	for _, p := range sc.Phases {
		for _, step := range p.Steps {
			if n := step.StopNode; n != nil && n.LeaderOf != "" {
				return n.LeaderOf
			}
			if e := step.Expect; e != nil && e.Stream != "" {
				return e.Stream
			}
		}
	}
	return contract.StreamName(contract.Orders)
}

// findStream is the snapshot's stream name, nil when absent.
func findStream(streams []feed.Stream, name string) *feed.Stream {
	for i := range streams {
		if streams[i].Name == name {
			return &streams[i]
		}
	}
	return nil
}
