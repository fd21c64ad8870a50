package tui

import (
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// A stream's new leader is reported twice: by the server, as a
// stream_leader_elected advisory naming the new leader, and by the feed,
// as a leader_changed event naming the old one too. When a node dies that
// is every stream it led, twice, and the pair reads as two events where
// there was one. The feed's says more (from whom), so it stays, and the
// advisory it repeats is folded into it. An advisory the feed did not see
// (a leader that moved and came back between two polls) stays, and so do
// the consumers' elections, which the feed does not report.

// stream_leader_elected is the server's advisory of a stream's election.
const kindStreamLeaderElected = "stream_leader_elected"

// leaderFoldWindow is how far apart the two reports of one election may
// be. The feed dates its event at the server's own LeaderSince when the
// stream info carries it (the same instant as the advisory), else at the
// poll that saw the new leader: one RefreshEvery (1s by default) later at
// most, and a slow poll a few seconds.
const leaderFoldWindow = 5 * time.Second

// foldLeaderAdvisories is advs without the stream_leader_elected
// advisories that a leader_changed event of the same stream, to the same
// leader, at about the same time repeats. It returns advs itself when
// nothing folds.
func foldLeaderAdvisories(advs []*feed.Advisory) []*feed.Advisory {
	type election struct{ stream, leader string }
	changes := map[election][]time.Time{}
	for _, a := range advs {
		if a.Kind == feed.KindLeaderChanged && a.Stream != "" && a.Leader != "" {
			k := election{a.Stream, a.Leader}
			changes[k] = append(changes[k], a.Time)
		}
	}
	repeated := func(a *feed.Advisory) bool {
		if a.Kind != kindStreamLeaderElected || a.Leader == "" {
			return false
		}
		for _, t := range changes[election{a.Stream, a.Leader}] {
			if d := t.Sub(a.Time).Abs(); d <= leaderFoldWindow {
				return true
			}
		}
		return false
	}
	if len(changes) == 0 {
		return advs
	}
	out := make([]*feed.Advisory, 0, len(advs))
	for _, a := range advs {
		if !repeated(a) {
			out = append(out, a)
		}
	}
	return out
}
