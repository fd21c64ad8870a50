package tui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// A node's death as the Events screen hears it: the server's election
// advisory and the feed's leader_changed for the same stream, a second
// apart, are one event; the feed's, which names the old leader, is shown.
func TestALeaderChangeShowsOnceOnTheEventsScreen(t *testing.T) {
	at := fixtureTime
	elected := func(id, stream, leader string, t time.Time) *feed.Advisory {
		return &feed.Advisory{ID: id, Kind: kindStreamLeaderElected, Stream: stream, Leader: leader, Detail: "leader " + leader, Time: t}
	}
	changed := func(stream, from, to string, t time.Time) *feed.Advisory {
		return &feed.Advisory{ID: "lc." + stream, Kind: feed.KindLeaderChanged, Stream: stream, Leader: to, Detail: "leader " + from + " → " + to, Time: t}
	}
	consumer := &feed.Advisory{ID: "c1", Kind: "consumer_leader_elected", Stream: "SAGA_ORDERS", Consumer: "orders", Leader: "s2", Time: at}
	for _, tc := range []struct {
		name string
		advs []*feed.Advisory
		want []string // the IDs shown
	}{
		{"the advisory a leader change repeats is folded into it",
			[]*feed.Advisory{elected("a1", "SAGA_ORDERS", "s2", at), changed("SAGA_ORDERS", "s1", "s2", at.Add(time.Second))},
			[]string{"lc.SAGA_ORDERS"}},
		{"a consumer's election stays: the feed does not report those",
			[]*feed.Advisory{elected("a1", "SAGA_ORDERS", "s2", at), consumer, changed("SAGA_ORDERS", "s1", "s2", at)},
			[]string{"c1", "lc.SAGA_ORDERS"}},
		{"an election the feed did not see stays",
			[]*feed.Advisory{elected("a1", "SAGA_PAYMENT", "s3", at), changed("SAGA_ORDERS", "s1", "s2", at)},
			[]string{"a1", "lc.SAGA_ORDERS"}},
		{"an election of another leader stays",
			[]*feed.Advisory{elected("a1", "SAGA_ORDERS", "s3", at), changed("SAGA_ORDERS", "s1", "s2", at)},
			[]string{"a1", "lc.SAGA_ORDERS"}},
		{"an election long before the change stays",
			[]*feed.Advisory{elected("a1", "SAGA_ORDERS", "s2", at.Add(-time.Minute)), changed("SAGA_ORDERS", "s1", "s2", at)},
			[]string{"a1", "lc.SAGA_ORDERS"}},
		{"without a leader change every advisory stays",
			[]*feed.Advisory{elected("a1", "SAGA_ORDERS", "s2", at), consumer},
			[]string{"a1", "c1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := DefaultKeyMap()
			e := newEvents(plainStyles(), &k)
			e.SetSize(120, 30)
			snap := fixtureSnapshot()
			snap.Advisories = tc.advs
			e.Update(snapshotMsg{snap})
			var got []string
			for _, a := range e.advisories.all {
				got = append(got, a.ID)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("shown %v, want %v", got, tc.want)
			}
			if tab := "ADVISORIES (" + strconv.Itoa(len(tc.want)) + ")"; !strings.Contains(e.View(), tab) {
				t.Errorf("the tab does not count what is shown: want %q in\n%s", tab, e.View())
			}
		})
	}
}
