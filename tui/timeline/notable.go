package timeline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// DeadLetterBurst is how many dead letters arriving between two frames
// make a notable event: the demo dead-letters a message now and then, a
// fault makes them come by the dozen.
const DeadLetterBurst = 5

// notable says what changed from the frame before (prev, nil for none) to
// now, and which scenario run events mark a phase. The first frame has
// nothing notable: there is nothing to compare it with.
func notable(prev, now *feed.Snapshot, runs []contract.RunEvent) []Notable {
	var out []Notable
	if prev != nil && now != nil {
		out = append(out, breakers(prev, now)...)
		out = append(out, faults(prev, now)...)
		out = append(out, leaders(prev, now)...)
		if n := newDeadLetters(prev, now); n >= DeadLetterBurst {
			out = append(out, Notable{Kind: NotableDeadLetter, What: fmt.Sprintf("%d dead letters", n)})
		}
	}
	for _, e := range runs {
		switch e.Kind {
		case contract.RunStarted, contract.RunPhase, contract.RunFinal, contract.RunFinished:
			what := e.Kind
			if e.What != "" {
				what += ": " + e.What
			}
			out = append(out, Notable{Kind: NotableScenario, What: what})
		}
	}
	return out
}

// breakers are the breakers whose state changed, by service/name.
func breakers(prev, now *feed.Snapshot) []Notable {
	was := map[string]contract.BreakerState{}
	for _, s := range prev.Services {
		for _, b := range s.Breakers {
			was[string(s.Name)+"/"+b.Name] = b.State
		}
	}
	var out []Notable
	for _, s := range now.Services {
		for _, b := range s.Breakers {
			name := string(s.Name) + "/" + b.Name
			if st, ok := was[name]; ok && st != b.State {
				out = append(out, Notable{Kind: NotableBreaker, What: fmt.Sprintf("breaker %s %s", name, b.State)})
			}
		}
	}
	return out
}

// faults are the faults set and cleared, by service and kind.
func faults(prev, now *feed.Snapshot) []Notable {
	key := func(f contract.Fault) string { return string(f.Service) + " " + string(f.Kind) }
	was := make([]string, 0, len(prev.Faults))
	for _, f := range prev.Faults {
		was = append(was, key(f))
	}
	is := make([]string, 0, len(now.Faults))
	for _, f := range now.Faults {
		is = append(is, key(f))
	}
	var out []Notable
	for _, k := range is {
		if !slices.Contains(was, k) {
			out = append(out, Notable{Kind: NotableFault, What: "fault " + k + " set"})
		}
	}
	for _, k := range was {
		if !slices.Contains(is, k) {
			out = append(out, Notable{Kind: NotableFault, What: "fault " + k + " cleared"})
		}
	}
	return out
}

// leaders are the leader elections among the advisories that arrived
// since prev (JetStream's stream_leader_elected and
// consumer_leader_elected).
func leaders(prev, now *feed.Snapshot) []Notable {
	seen := make(map[string]bool, len(prev.Advisories))
	for _, a := range prev.Advisories {
		if a != nil {
			seen[a.ID] = true
		}
	}
	var out []Notable
	for _, a := range now.Advisories {
		if a == nil || seen[a.ID] || !strings.Contains(a.Kind, "leader_elected") {
			continue
		}
		what := "leader elected"
		switch {
		case a.Consumer != "":
			what += " for " + a.Stream + " › " + a.Consumer
		case a.Stream != "":
			what += " for " + a.Stream
		}
		if a.Detail != "" {
			what += ": " + a.Detail
		}
		out = append(out, Notable{Kind: NotableLeader, What: what})
	}
	return out
}

// newDeadLetters counts the dead letters of now newer than prev's newest
// (both newest first, numbered by the stream's sequence).
func newDeadLetters(prev, now *feed.Snapshot) int {
	var top uint64
	if len(prev.DeadLetters) > 0 && prev.DeadLetters[0] != nil {
		top = prev.DeadLetters[0].Seq
	}
	n := 0
	for _, d := range now.DeadLetters {
		if d == nil || d.Seq <= top {
			break
		}
		n++
	}
	return n
}

// Mark is a notable frame: its time and what happened.
type Mark struct {
	Time    time.Time
	Notable []Notable
}

// PrevNotable returns the newest notable frame before t; ok is false
// when there is none.
func (h *History) PrevNotable(t time.Time) (m Mark, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for gi := len(h.groups) - 1; gi >= 0; gi-- {
		fs := h.groups[gi].frames
		for fi := len(fs) - 1; fi >= 0; fi-- {
			if fs[fi].t.Before(t) && len(fs[fi].notable) > 0 {
				return Mark{fs[fi].t, fs[fi].notable}, true
			}
		}
	}
	return Mark{}, false
}

// NextNotable returns the oldest notable frame after t; ok is false when
// there is none.
func (h *History) NextNotable(t time.Time) (m Mark, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.groups {
		for _, f := range g.frames {
			if f.t.After(t) && len(f.notable) > 0 {
				return Mark{f.t, f.notable}, true
			}
		}
	}
	return Mark{}, false
}
