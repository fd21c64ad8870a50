package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/natsext"
)

// Server is one NATS server of the watched system.
//
// With a system account connection (Options.System) every server answers
// a statistics ping once a poll, and the feed knows its version, cluster,
// connections, CPU and memory, and which is the JetStream meta leader.
// Without one, the servers are the ones the streams' cluster info names
// (each stream's leader and replicas) and the one the feed is connected
// to, whose version and cluster its connection knows: the rest is unknown,
// and Stats is false.
type Server struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	// Stats is true when the figures below came from the server's own
	// statistics.
	Stats       bool `json:"stats"`
	Connections int  `json:"connections,omitempty"`
	// CPU is the server process's share of one core, in percent.
	CPU   float64 `json:"cpu,omitempty"`
	Cores int     `json:"cores,omitempty"`
	// Mem is the server process's resident memory, in bytes.
	Mem   int64     `json:"mem,omitempty"`
	Start time.Time `json:"start,omitzero"`
	// Offline is true when the server stopped answering the statistics
	// ping (serverTimeout) or a stream reports its replica there offline.
	Offline bool `json:"offline"`
	// MetaLeader is true for the server leading the JetStream meta
	// group, which places streams and consumers; known only with Stats.
	MetaLeader bool `json:"meta_leader,omitempty"`
	// Streams counts the streams it holds a copy of, Leads the ones it
	// leads.
	Streams int `json:"streams"`
	Leads   int `json:"leads"`
	// Seen is when the feed last heard from it, by the feed's clock; zero
	// without Stats.
	Seen time.Time `json:"seen,omitzero"`
}

const (
	// statszSubject asks every server for its statistics
	// (server.ServerStatsMsg). Only the system account may send it.
	statszSubject = "$SYS.REQ.SERVER.PING.STATSZ"
	// serverTimeout is how long after its last statistics a server counts
	// as offline: it answers every poll (a second by default), so three
	// missed answers.
	serverTimeout = 3 * time.Second
	// statszStall ends the wait for more answers: servers answer within
	// milliseconds of each other (see jszStall).
	statszStall = 300 * time.Millisecond
	// maxServers bounds the servers kept from untrusted replies and names.
	maxServers = 1024
	// forgetServer is how long a server that answers no more, and that no
	// stream names, stays on the list.
	forgetServer = 5 * time.Minute
)

// KindLeaderChanged is the Advisory.Kind of a leader change the feed saw
// between two polls: a stream's (Stream set) or the JetStream meta
// group's (Stream empty). Detail says "s1 → s2".
const KindLeaderChanged = "leader_changed"

// statszReply is the part of a server.ServerStatsMsg the feed reads.
type statszReply struct {
	Server struct {
		Name    string `json:"name"`
		Cluster string `json:"cluster"`
		Version string `json:"ver"`
	} `json:"server"`
	Stats struct {
		Start         time.Time `json:"start"`
		Mem           int64     `json:"mem"`
		Cores         int       `json:"cores"`
		CPU           float64   `json:"cpu"`
		Connections   int       `json:"connections"`
		ActiveServers int       `json:"active_servers"`
		JetStream     *struct {
			Meta *struct {
				Leader   string                `json:"leader"`
				Replicas []*jetstream.PeerInfo `json:"replicas"`
			} `json:"meta"`
		} `json:"jetstream"`
	} `json:"statsz"`
}

// serverWatch is what the poll remembers of the servers. Only the poll
// goroutine touches it.
type serverWatch struct {
	stats map[string]*Server // by name, the last statistics of each
	meta  string             // the meta leader, as the last answers said
	// metaPeers are the meta group's members the answers named, and
	// whether they were reported offline.
	metaPeers map[string]bool
}

func newServerWatch() *serverWatch {
	return &serverWatch{stats: map[string]*Server{}, metaPeers: map[string]bool{}}
}

// readStats pings every server for its statistics through the system
// connection and records the answers. It returns the meta leader change
// it saw, if any, for the events.
func (f *Feed) readStats(ctx context.Context, w *serverWatch) (from, to string, changed bool, err error) {
	replies, err := natsext.RequestMany(ctx, f.opts.System, statszSubject, nil, natsext.RequestManyStall(statszStall))
	if err != nil {
		return "", "", false, fmt.Errorf("request %s: %w", statszSubject, err)
	}
	now := f.opts.Now()
	var (
		meta     string
		expected int
		answered int
	)
	for msg, err := range replies {
		if errors.Is(err, nats.ErrNoResponders) {
			return "", "", false, fmt.Errorf("no server answers %s on the system connection: is it a system account user? (%w)", statszSubject, err)
		}
		if err != nil {
			break
		}
		var r statszReply
		if json.Unmarshal(msg.Data, &r) != nil || r.Server.Name == "" {
			continue
		}
		answered++
		expected = max(expected, r.Stats.ActiveServers)
		s := w.stats[r.Server.Name]
		if s == nil {
			if len(w.stats) >= maxServers {
				continue
			}
			s = &Server{Name: r.Server.Name}
			w.stats[s.Name] = s
		}
		*s = Server{
			Name: r.Server.Name, Version: r.Server.Version, Cluster: r.Server.Cluster, Stats: true,
			Connections: r.Stats.Connections, CPU: r.Stats.CPU, Cores: r.Stats.Cores, Mem: r.Stats.Mem,
			Start: r.Stats.Start, Seen: now,
		}
		if js := r.Stats.JetStream; js != nil && js.Meta != nil {
			// The leader's own word first: a follower may not know yet.
			if js.Meta.Leader != "" && (meta == "" || js.Meta.Leader == r.Server.Name) {
				meta = js.Meta.Leader
			}
			if js.Meta.Leader == r.Server.Name {
				clear(w.metaPeers)
				for _, p := range js.Meta.Replicas {
					if p != nil && p.Name != "" && len(w.metaPeers) < maxServers {
						w.metaPeers[p.Name] = p.Offline
					}
				}
			}
		}
		// Every server of the cluster has answered.
		if expected > 0 && answered >= expected {
			break
		}
	}
	if answered == 0 {
		return "", "", false, fmt.Errorf("no server answered %s within %s", statszSubject, f.opts.RequestTimeout)
	}
	if meta != "" && meta != w.meta {
		from, to, changed = w.meta, meta, w.meta != ""
		w.meta = meta
	}
	return from, to, changed, nil
}

// servers builds the server list from the statistics, the streams'
// cluster info and the feed's own connection, sorted by name.
func (w *serverWatch) servers(now time.Time, streams []Stream, conn *nats.Conn) []Server {
	byName := map[string]*Server{}
	add := func(name string) *Server {
		s := byName[name]
		if s == nil && len(byName) < maxServers {
			s = &Server{Name: name}
			byName[name] = s
		}
		return s
	}
	for name, st := range w.stats {
		if now.Sub(st.Seen) > forgetServer {
			delete(w.stats, name)
			continue
		}
		s := add(name)
		*s = *st
		s.Offline = now.Sub(st.Seen) > serverTimeout
		s.MetaLeader = name == w.meta && !s.Offline
	}
	for name, offline := range w.metaPeers {
		if s := add(name); s != nil && offline {
			s.Offline = true
		}
	}
	if name := conn.ConnectedServerName(); name != "" && conn.IsConnected() {
		if s := add(name); s != nil && !s.Stats {
			s.Version, s.Cluster = conn.ConnectedServerVersion(), conn.ConnectedClusterName()
		}
	}
	for i := range streams {
		c := streams[i].Cluster
		if c == nil {
			continue
		}
		if c.Leader != "" {
			if s := add(c.Leader); s != nil {
				s.Streams++
				s.Leads++
				if s.Cluster == "" {
					s.Cluster = c.Name
				}
			}
		}
		for _, r := range c.Replicas {
			if r.Name == "" {
				continue
			}
			if s := add(r.Name); s != nil {
				s.Streams++
				s.Offline = s.Offline || r.Offline
				if s.Cluster == "" {
					s.Cluster = c.Name
				}
			}
		}
	}
	out := make([]Server, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Server) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// clusterFrom converts a stream's cluster info; prev is the stream as the
// last poll saw it (zero the first time), for when its leader began.
func clusterFrom(ci *jetstream.ClusterInfo, prev Stream, ts time.Time) *StreamCluster {
	if ci == nil {
		return nil
	}
	c := &StreamCluster{Name: ci.Name, Leader: ci.Leader, Replicas: make([]Replica, 0, len(ci.Replicas))}
	for _, r := range ci.Replicas {
		if r == nil {
			continue
		}
		c.Replicas = append(c.Replicas, Replica{Name: r.Name, Current: r.Current, Lag: r.Lag, Offline: r.Offline, Active: r.Active})
	}
	slices.SortFunc(c.Replicas, func(a, b Replica) int { return cmp.Compare(a.Name, b.Name) })
	switch {
	case ci.LeaderSince != nil:
		c.LeaderSince = *ci.LeaderSince
	case prev.Cluster != nil && prev.Cluster.Leader == c.Leader:
		c.LeaderSince = prev.Cluster.LeaderSince
	case prev.Cluster != nil && c.Leader != "":
		c.LeaderSince = ts // elected since the last poll
	}
	return c
}

// leaderChange is the event of a stream now led by another server than
// last, the leader it had when one was last known; nil when it is the
// same, the stream is new, or it has no leader now. A stream is without a
// leader for a poll or two while one is elected, or reported "missing"
// by a stream list that got no answer from it in time: "s1 → none" and
// "none → s2" would be two events, and the second a guess, so one
// "s1 → s2" is made once the new leader is known, at its election when
// the server says when (LeaderSince).
func leaderChange(last string, cur *Stream, now time.Time) *Advisory {
	c := cur.Cluster
	if c == nil || c.Leader == "" || last == "" || last == c.Leader {
		return nil
	}
	at := now
	if !c.LeaderSince.IsZero() && !c.LeaderSince.After(now) {
		at = c.LeaderSince
	}
	return leaderEvent(cur.Name, last, c.Leader, at)
}

// leaderEvent is a KindLeaderChanged event of stream ("" for the meta
// group), from one leader to another ("" for none).
func leaderEvent(stream, from, to string, now time.Time) *Advisory {
	what := "leader "
	if stream == "" {
		what = "meta leader "
	}
	raw, _ := json.Marshal(struct {
		Type   string    `json:"type"`
		Stream string    `json:"stream,omitempty"`
		From   string    `json:"from"`
		To     string    `json:"to"`
		Time   time.Time `json:"timestamp"`
	}{"sagascope.feed.v1." + KindLeaderChanged, stream, from, to, now})
	return &Advisory{
		Kind: KindLeaderChanged, Type: "sagascope.feed.v1." + KindLeaderChanged,
		ID: KindLeaderChanged + "." + stream + "." + now.Format(time.RFC3339Nano), Time: now, Stream: stream,
		Detail: what + orNone(from) + " → " + orNone(to), Leader: to, Raw: clip(raw),
	}
}
