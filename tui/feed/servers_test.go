package feed_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// serverNamed is the server called name in s, nil for none.
func serverNamed(s feed.Snapshot, name string) *feed.Server {
	for i := range s.Servers {
		if s.Servers[i].Name == name {
			return &s.Servers[i]
		}
	}
	return nil
}

// streamNamed is the stream called name in s, nil for none.
func streamNamed(s feed.Snapshot, name string) *feed.Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}

// leaderChanges are the leader_changed events of stream in s.
func leaderChanges(s feed.Snapshot, stream string) []string {
	var out []string
	for _, a := range s.Advisories {
		if a.Kind == feed.KindLeaderChanged && a.Stream == stream {
			out = append(out, a.Detail)
		}
	}
	return out
}

// r3Stream makes an R3 stream with a few messages and waits until it has
// a leader and two current replicas.
func r3Stream(t *testing.T, js jetstream.JetStream, name string) string {
	t.Helper()
	var s jetstream.Stream
	systemtest.WaitFor(t, systemtest.Quickly, "an R3 stream", func() error {
		var err error
		s, err = js.CreateOrUpdateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name)}, Replicas: 3})
		return err
	})
	for range 5 {
		if _, err := js.Publish(t.Context(), strings.ToLower(name), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var leader string
	systemtest.WaitFor(t, systemtest.Quickly, "a leader and two current replicas", func() error {
		info, err := s.Info(t.Context())
		if err != nil {
			return err
		}
		if c := info.Cluster; c == nil || c.Leader == "" || len(c.Replicas) != 2 || !c.Replicas[0].Current || !c.Replicas[1].Current {
			return fmt.Errorf("cluster %+v", c)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// When the node leading an R3 stream of a three-node cluster stops, the
// feed shows that server offline, the stream's new leader with the dead
// node among its replicas, offline, and the change as an event. Without
// the system account, the servers are the ones the streams name.
func TestWhenAStreamLeaderDiesTheFeedShowsItOfflineAndTheNewLeader(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	leader := r3Stream(t, natstest.JetStream(t, natstest.Connect(t, c.ClientURLs())), "PAYMENTS")
	dead, watch := -1, -1
	for i, s := range c.Servers() {
		if s.NATS().Name() == leader {
			dead = i
		} else if watch < 0 {
			watch = i
		}
	}
	_, snap := attach(t, natstest.Connect(t, c.Servers()[watch].ClientURL()), feed.Options{})
	systemtest.WaitFor(t, systemtest.Quickly, "three servers and the stream led by "+leader, func() error {
		s := snap()
		st := streamNamed(s, "PAYMENTS")
		switch {
		case len(s.Servers) != 3:
			return fmt.Errorf("servers %+v", s.Servers)
		case st == nil || st.Cluster == nil || st.Cluster.Leader != leader || len(st.Cluster.Replicas) != 2:
			return fmt.Errorf("stream %+v", st)
		}
		return nil
	})
	if s := snap(); serverNamed(s, leader).Leads == 0 || serverNamed(s, leader).Offline || serverNamed(s, leader).Stats {
		t.Errorf("before the stop the leader is %+v; want online, leading, without statistics (no system account)", *serverNamed(s, leader))
	}

	c.Stop(dead)
	systemtest.WaitFor(t, systemtest.Quickly, leader+" offline and a new leader", func() error {
		s := snap()
		st := streamNamed(s, "PAYMENTS")
		switch {
		case st == nil || st.Cluster == nil || st.Cluster.Leader == "" || st.Cluster.Leader == leader || st.Unavailable:
			return fmt.Errorf("stream %+v", st)
		case serverNamed(s, leader) == nil || !serverNamed(s, leader).Offline:
			return fmt.Errorf("servers %+v", s.Servers)
		case !slices.ContainsFunc(st.Cluster.Replicas, func(r feed.Replica) bool { return r.Name == leader && r.Offline }):
			return fmt.Errorf("replicas %+v, want %s offline among them", st.Cluster.Replicas, leader)
		case len(leaderChanges(s, "PAYMENTS")) == 0:
			return fmt.Errorf("no leader change event; advisories %d", len(s.Advisories))
		}
		return nil
	})
	s := snap()
	st := streamNamed(s, "PAYMENTS")
	// One event a change, from one known leader to the next, never
	// through "none" while the election runs.
	if ev := leaderChanges(s, "PAYMENTS"); !strings.HasPrefix(ev[len(ev)-1], "leader "+leader+" → ") ||
		!strings.HasSuffix(ev[0], " → "+st.Cluster.Leader) || slices.ContainsFunc(ev, func(e string) bool { return strings.Contains(e, "none") }) {
		t.Errorf("leader change events %q, newest first; want from %s to %s, none through none", ev, leader, st.Cluster.Leader)
	}
	if st.Cluster.LeaderSince.IsZero() {
		t.Errorf("the new leader %s has no leader_since", st.Cluster.Leader)
	}
	// The replica rule judges the same cluster info, once it has held.
	systemtest.WaitFor(t, systemtest.Quickly, "the offline replica diagnosed", func() error {
		for _, d := range snap().Diagnoses {
			if d.Rule == feed.RuleReplicaOffline && d.Stream == "PAYMENTS" && strings.Contains(d.Finding, "replica "+leader+" ") {
				return nil
			}
		}
		return fmt.Errorf("diagnoses %+v", snap().Diagnoses)
	})
}

// A single server leads every stream of its own, with no replicas, and
// the feed knows its version from its connection.
func TestASingleServerLeadsItsStreamsWithoutReplicas(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	if _, err := natstest.JetStream(t, nc).CreateStream(t.Context(), jetstream.StreamConfig{Name: "ONE", Subjects: []string{"one"}}); err != nil {
		t.Fatal(err)
	}
	_, snap := attach(t, natstest.Connect(t, srv.ClientURL()), feed.Options{})
	systemtest.WaitFor(t, systemtest.Quickly, "the stream", func() error {
		if streamNamed(snap(), "ONE") == nil {
			return fmt.Errorf("streams %v", streamNames(snap()))
		}
		return nil
	})
	s := snap()
	st, name := streamNamed(s, "ONE"), srv.NATS().Name()
	if st.Cluster == nil || st.Cluster.Leader != name || len(st.Cluster.Replicas) != 0 || st.Unavailable {
		t.Errorf("stream cluster %+v, unavailable %v; want led by %s, no replicas", st.Cluster, st.Unavailable, name)
	}
	if len(s.Servers) != 1 || s.Servers[0].Name != name || s.Servers[0].Leads != 1 || s.Servers[0].Offline || s.Servers[0].Version == "" {
		t.Errorf("servers %+v; want %s alone, leading 1 stream, online, with its version", s.Servers, name)
	}
}

// With the system account every server reports its statistics and the
// meta leader is marked; a server that stops answering is offline within
// a few seconds, and the meta leadership moves when it was the leader.
func TestWithTheSystemAccountEveryServerReportsItsStatistics(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*server.Server
	var ls []logins
	for i, p := range ports {
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:-1\ncluster { name: C, listen: 127.0.0.1:%d, routes: [%s] }\n", i, p, strings.Join(routes, ", "))
		srv, l := startAccountsServer(t, conf)
		nodes, ls = append(nodes, srv), append(ls, l)
	}
	js := natstest.JetStream(t, natstest.Connect(t, ls[0].app))
	leader := r3Stream(t, js, "SYSR3")
	meta := -1
	systemtest.WaitFor(t, systemtest.Quickly, "a meta leader", func() error {
		for i, n := range nodes {
			if n.JetStreamIsLeader() {
				meta = i
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	watch := (meta + 1) % 3
	_, snap := attach(t, natstest.Connect(t, ls[watch].app), feed.Options{System: natstest.Connect(t, ls[watch].sys)})
	systemtest.WaitFor(t, systemtest.Quickly, "three servers with statistics, the meta leader marked", func() error {
		s := snap()
		if len(s.Servers) != 3 {
			return fmt.Errorf("servers %+v", s.Servers)
		}
		for _, sv := range s.Servers {
			if !sv.Stats || sv.Mem <= 0 || sv.Cores <= 0 || sv.Version == "" || sv.Cluster != "C" || sv.Offline {
				return fmt.Errorf("server %+v", sv)
			}
			if sv.MetaLeader != (sv.Name == nodes[meta].Name()) {
				return fmt.Errorf("server %s meta leader %v; the meta leader is %s", sv.Name, sv.MetaLeader, nodes[meta].Name())
			}
		}
		if st := streamNamed(s, "SYSR3"); st == nil || st.Cluster == nil || st.Cluster.Leader != leader {
			return fmt.Errorf("stream %+v", st)
		}
		return nil
	})

	gone := nodes[meta].Name()
	nodes[meta].Shutdown()
	systemtest.WaitFor(t, systemtest.Quickly, gone+" offline and another meta leader", func() error {
		s := snap()
		sv := serverNamed(s, gone)
		if sv == nil || !sv.Offline || sv.MetaLeader {
			return fmt.Errorf("servers %+v", s.Servers)
		}
		if !slices.ContainsFunc(s.Servers, func(x feed.Server) bool { return x.MetaLeader && x.Name != gone }) {
			return fmt.Errorf("no new meta leader: %+v", s.Servers)
		}
		return nil
	})
	var metaEvents []string
	for _, a := range snap().Advisories {
		if a.Kind == feed.KindLeaderChanged && a.Stream == "" {
			metaEvents = append(metaEvents, a.Detail)
		}
	}
	if len(metaEvents) == 0 || !strings.HasPrefix(metaEvents[len(metaEvents)-1], "meta leader "+gone+" → ") {
		t.Errorf("meta leader events %q; want one from %s", metaEvents, gone)
	}
}
