package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// clusterSnapshot is the fixture on a three-node cluster read through the
// system account, just after node s1 died: it was SAGA_ORDERS' leader,
// s2 leads it now, and s1 is offline among its replicas. The third node's
// name carries escape and control bytes, which must be drawn clean.
func clusterSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	hostile := "s3\x1b[31m\x07evil"
	s.Servers = []feed.Server{
		{Name: "s1", Version: "2.15.2", Cluster: "sagascope", Stats: true, Connections: 9, CPU: 12.5, Cores: 8, Mem: 96 << 20, Offline: true, Streams: 9, Seen: ago(4 * time.Second)},
		{Name: "s2", Version: "2.15.2", Cluster: "sagascope", Stats: true, Connections: 14, CPU: 31.2, Cores: 8, Mem: 120 << 20, MetaLeader: true, Streams: 9, Leads: 6, Seen: fixtureTime},
		{Name: hostile, Version: "2.15.2\x1b[2J", Cluster: "sagascope", Stats: true, Connections: 7, CPU: 8.4, Cores: 8, Mem: 88 << 20, Streams: 9, Leads: 3, Seen: fixtureTime},
	}
	streams := make([]feed.Stream, len(s.Streams))
	copy(streams, s.Streams)
	for i := range streams {
		st := &streams[i]
		st.Replicas = 3
		leader, other := "s2", hostile
		if i%3 == 2 {
			leader, other = hostile, "s2"
		}
		st.Cluster = &feed.StreamCluster{Name: "sagascope", Leader: leader, LeaderSince: ago(3 * time.Minute), Replicas: []feed.Replica{
			{Name: "s1", Offline: true, Active: 4200 * time.Millisecond},
			{Name: other, Current: true, Active: 120 * time.Millisecond},
		}}
		if st.Name == "SAGA_ORDERS" {
			st.Cluster.LeaderSince = ago(2 * time.Second)
			st.Cluster.Replicas[1].Current, st.Cluster.Replicas[1].Lag = false, 42
		}
	}
	s.Streams = streams
	return s
}

// derivedSnapshot is a cluster watched without the system account: the
// servers are the streams' leaders and replicas, with no statistics, and
// one stream has no leader.
func derivedSnapshot() feed.Snapshot {
	s := clusterSnapshot()
	for i := range s.Servers {
		sv := &s.Servers[i]
		*sv = feed.Server{Name: sv.Name, Cluster: sv.Cluster, Offline: sv.Offline, Streams: sv.Streams, Leads: sv.Leads}
	}
	s.Servers[1].Version = "2.15.2" // the one the dashboard is connected to
	for i := range s.Streams {
		if st := &s.Streams[i]; st.Name == "LEGACY" {
			c := *st.Cluster
			c.Replicas = append([]feed.Replica{{Name: c.Leader, Current: false, Active: 300 * time.Millisecond}}, c.Replicas...)
			c.Leader, c.LeaderSince = "", time.Time{}
			st.Cluster, st.Unavailable = &c, true
		}
	}
	return s
}

// singleSnapshot is the fixture on the embedded server alone: it leads
// every stream, which have no replicas.
func singleSnapshot() feed.Snapshot {
	s := fixtureSnapshot()
	s.Servers = []feed.Server{{Name: "sagascope", Version: "2.15.2", Streams: len(s.Streams), Leads: len(s.Streams)}}
	streams := make([]feed.Stream, len(s.Streams))
	copy(streams, s.Streams)
	for i := range streams {
		streams[i].Cluster = &feed.StreamCluster{Leader: "sagascope", Replicas: []feed.Replica{}}
	}
	s.Streams = streams
	return s
}

// The Servers screen is the tenth, on key 0: each server with its figures
// and state, then the leader and replicas of the streams on the server
// under the cursor, or of every stream.
func TestServersGolden(t *testing.T) {
	tests := []struct {
		name string
		snap func() feed.Snapshot
		keys []string
	}{
		{name: "servers_node_down", snap: clusterSnapshot, keys: []string{"0"}},
		{name: "servers_hostile_selected", snap: clusterSnapshot, keys: []string{"0", "down", "down"}},
		{name: "servers_every_stream", snap: clusterSnapshot, keys: []string{"0", "down", "a"}},
		{name: "servers_without_system_account", snap: derivedSnapshot, keys: []string{"0", "a"}},
		{name: "servers_single", snap: singleSnapshot, keys: []string{"0"}},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				a := testApp(t, sz.w, sz.h, tt.snap(), &fakeControl{})
				press(a, tt.keys...)
				if got := a.screens[a.active].Title(); got != "Servers" {
					t.Fatalf("key 0 shows %s, want Servers", got)
				}
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				if strings.ContainsAny(view, "\x1b\x07") {
					t.Errorf("the view carries escape or control bytes: %q", view)
				}
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// The tenth tab is labelled 0, the key that reaches it.
func TestTheTenthTabIsLabelledZero(t *testing.T) {
	a := testApp(t, 160, 48, fixtureSnapshot(), &fakeControl{})
	if tabs := a.tabsView(); !strings.Contains(tabs, "0 Servers") || strings.Contains(tabs, "10 ") {
		t.Errorf("tabs %q; want the tenth labelled 0", tabs)
	}
}
