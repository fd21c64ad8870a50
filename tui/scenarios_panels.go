package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui/feed"
)

// The presenter panels of a run: the parts of the system its scenario
// names (scenario.Panel) drawn from the snapshot the screen already has,
// beside the narrative, so the room looks where the story is. Each panel
// is one line, and on a tall screen (a projector) a line or two more of
// detail: trends, counts, and what a limit means.

// panelsRoomy is the body height from which panels show their detail.
const panelsRoomy = 30

// panelLabelW bounds the label column of the panels, so they align.
const panelLabelW = 21

// panelLines are the run's panels as lines of at most width cells: a
// heading and each panel; none when its scenario names none.
func (s *scenarios) panelLines(width int, roomy bool) []string {
	panels := s.run.sc.Panels
	if len(panels) == 0 {
		return nil
	}
	st := s.st
	out := []string{st.Section.Render(clean("WATCH", width))}
	labelW := 0
	for _, p := range panels {
		labelW = max(labelW, len(panelLabel(p)))
	}
	labelW = min(labelW, panelLabelW, max(8, width/3))
	cut := func(line string) string { return ansi.Truncate(line, width, "…") }
	for _, p := range panels {
		first, more := s.panel(p, width-labelW-1, roomy)
		out = append(out, cut(st.Muted.Render(fit(clean(panelLabel(p), labelW), labelW))+" "+first))
		for _, m := range more {
			out = append(out, cut(strings.Repeat(" ", labelW+1)+m))
		}
	}
	return out
}

// panelLabel names what a panel shows.
func panelLabel(p scenario.Panel) string {
	name := string(p.Service)
	switch p.Kind {
	case scenario.PanelBreaker:
		return name + " " + p.Breaker
	case scenario.PanelPool:
		return name + " pool"
	case scenario.PanelAckPending:
		return name + " ack pending"
	case scenario.PanelDeadLetters:
		return "dead letters"
	case scenario.PanelServers:
		return "servers"
	}
	return p.Kind
}

// panel draws p in width cells: its line, and its detail when roomy.
func (s *scenarios) panel(p scenario.Panel, width int, roomy bool) (first string, more []string) {
	st, snap := s.st, &s.snap
	detail := func(text string, r role) {
		if roomy && text != "" {
			more = append(more, st.paint(r, clean(text, width)))
		}
	}
	switch p.Kind {
	case scenario.PanelDeadLetters:
		return s.deadLettersLine(width), s.deadLetterReasons(width, roomy)
	case scenario.PanelSagas:
		return s.sagasPanel(width, roomy)
	case scenario.PanelServers:
		return s.serversPanel(width, roomy)
	}
	svc := findService(snap, p.Service)
	if svc == nil || !svc.Reporting() {
		return st.Failing.Render("not reporting"), nil
	}
	switch p.Kind {
	case scenario.PanelBreaker:
		i := slices.IndexFunc(svc.Breakers, func(b feed.Breaker) bool { return b.Name == p.Breaker })
		if i < 0 {
			return st.Muted.Render("no such breaker reported"), nil
		}
		b := svc.Breakers[i]
		first = st.paint(breakerRole(b.State), strings.ToUpper(string(b.State)))
		if b.State == contract.BreakerOpen {
			left := dur(b.Remaining.Round(100 * time.Millisecond))
			if roomy {
				left += " to a probe"
			}
			first += " " + st.Failing.Render(left)
		}
		if b.Rejected > 0 {
			first += st.Muted.Render(" · " + count(b.Rejected) + " failed fast")
		}
		detail(fmt.Sprintf("last calls: %d ok, %d failed", b.Successes, b.Failures), roleMuted)
	case scenario.PanelPool:
		first = s.meter(svc.Pool.Busy, svc.Pool.Capacity, width, poolRole(svc.Pool))
		c := svc.Command
		if c != nil {
			first += " " + st.paint(levelRole(c.Level), "lag "+count(c.Pending))
		}
		if svc.Pool.Queued > 0 {
			first += st.Muted.Render(fmt.Sprintf(" · %d queued", svc.Pool.Queued))
		}
		if c != nil && roomy && len(c.LagTrend) > 1 {
			more = append(more, st.Muted.Render("lag ")+sparkline(c.LagTrend, max(4, min(40, width-4))))
		}
		if d := svc.Counters.Duplicates; d > 0 {
			detail(count(d)+" duplicate deliveries recognised, not applied again", roleMuted)
		}
	case scenario.PanelAckPending:
		c := svc.Command
		if c == nil {
			return st.Muted.Render("no command consumer found yet"), nil
		}
		atMax := c.MaxAckPending > 0 && c.AckPending >= c.MaxAckPending
		r := roleNone
		if atMax {
			r = roleDegraded
		}
		first = s.meter(c.AckPending, c.MaxAckPending, width, r)
		switch {
		case atMax:
			first += " " + st.Degraded.Render("at its max")
			detail("the server delivers no more until acks come: the rest waits as lag", roleMuted)
		case c.Redelivered > 0:
			detail(count(uint64(c.Redelivered))+" delivered again after an ack wait", roleDegraded)
		default:
			detail("below its max: the server delivers as workers ask", roleMuted)
		}
	}
	return first, more
}

// meter is used/capacity as a bar and the figures, in about width cells.
func (s *scenarios) meter(used, capacity, width int, r role) string {
	figures := fmt.Sprintf("%d/%d", used, capacity)
	barW := max(0, min(16, width-len(figures)-16))
	return s.st.bar(used, capacity, barW) + " " + s.st.paint(r, figures)
}

// sagasPanel is the saga outcomes, and on a tall screen their trends.
func (s *scenarios) sagasPanel(width int, roomy bool) (string, []string) {
	st, t := s.st, s.snap.Sagas
	if !t.Known {
		return st.Muted.Render("no orders stream here"), nil
	}
	first := st.Healthy.Render("✓"+count(t.Completed)) + " " + st.paint(nonZero(t.Cancelled, roleDegraded), "✗"+count(t.Cancelled))
	if t.Parked > 0 {
		first += st.Failing.Render(" · " + count(t.Parked) + " parked")
	}
	if roomy {
		first += st.Muted.Render(" · in flight " + count(t.InFlight))
	}
	if t.LatencyP99 > 0 {
		first += st.Muted.Render(" · p99 " + dur(t.LatencyP99))
	}
	if !roomy {
		return first, nil
	}
	var more []string
	h := s.snap.History
	for _, x := range []struct {
		name string
		s    feed.Series
		now  float64
	}{{"completed/s", h.Completed, t.CompletedRate}, {"cancelled/s", h.Cancelled, t.CancelledRate}} {
		lead := fit(x.name, 12)
		tail := " " + rate(x.now)
		more = append(more, st.Muted.Render(lead)+sparkline(x.s, max(4, min(40, width-len(lead)-len(tail))))+st.Muted.Render(tail))
	}
	return first, more
}

// deadLettersLine counts the recent dead letters and names the newest
// one's reason.
func (s *scenarios) deadLettersLine(width int) string {
	st, dls := s.st, s.snap.DeadLetters
	if len(dls) == 0 {
		return st.Muted.Render("none")
	}
	head := st.Failing.Render(plural(len(dls), "recent", "recent"))
	return head + st.Muted.Render(clean(" · newest: "+dls[0].Reason, max(1, width-len(plural(len(dls), "recent", "recent")))))
}

// deadLetterReasons are the two commonest reasons of the recent dead
// letters, with their counts, on a tall screen.
func (s *scenarios) deadLetterReasons(width int, roomy bool) []string {
	if !roomy || len(s.snap.DeadLetters) == 0 {
		return nil
	}
	by := map[string]int{}
	for _, d := range s.snap.DeadLetters {
		by[clean(d.Reason, 80)]++
	}
	reasons := make([]string, 0, len(by))
	for r := range by {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(by[b]-by[a], strings.Compare(a, b)) })
	var out []string
	for _, r := range reasons[:min(2, len(reasons))] {
		out = append(out, s.st.Muted.Render(clean(fmt.Sprintf("%d× %s", by[r], r), width)))
	}
	return out
}

// streamReplicas says how many streams there are and the most replicas
// one has (R3 on a three-node cluster).
func streamReplicas(streams []feed.Stream) string {
	if len(streams) == 0 {
		return ""
	}
	replicas := 0
	for _, x := range streams {
		replicas = max(replicas, x.Replicas)
	}
	return fmt.Sprintf("%s · R%d", plural(len(streams), "stream", "streams"), replicas)
}

// findService is the snapshot's service name, nil when absent.
func findService(snap *feed.Snapshot, name contract.Service) *feed.Service {
	for i := range snap.Services {
		if snap.Services[i].Name == name {
			return &snap.Services[i]
		}
	}
	return nil
}
