package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream list on the API path, and the leaders and replicas in it.

// listStreams lists every stream, sorted by name, with one paged request
// ($JS.API.STREAM.LIST, 256 a page), and pays its pages from the budget.
// It asks the API directly because the jetstream package drops the
// answer's "missing": the streams whose leader did not answer, which are
// listed as the last poll saw them, without a leader (see missingStream).
func (f *Feed) listStreams(ctx context.Context, p *poller) ([]*jetstream.StreamInfo, error) {
	infos := []*jetstream.StreamInfo{}
	var missing []string
	pages := 0
	defer func() {
		p.requests += uint64(pages)
		p.budget.spend(max(1, pages))
	}()
	for {
		req, _ := json.Marshal(struct {
			Offset int `json:"offset"`
		}{len(infos) + len(missing)})
		msg, err := f.nc.RequestWithContext(ctx, f.apiPrefix+"STREAM.LIST", req)
		pages++
		if err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		var page struct {
			Total   int                     `json:"total"`
			Streams []*jetstream.StreamInfo `json:"streams"`
			Missing []string                `json:"missing"`
			Error   *jetstream.APIError     `json:"error"`
		}
		if err := json.Unmarshal(msg.Data, &page); err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		if page.Error != nil {
			return nil, fmt.Errorf("list streams: %w", page.Error)
		}
		for _, info := range page.Streams {
			if info == nil || info.Config.Name == "" {
				continue
			}
			if info.Cluster == nil {
				// A server outside a cluster gives none: it leads its
				// own streams, and it is the one that answered.
				info.Cluster = &jetstream.ClusterInfo{Leader: f.nc.ConnectedServerName()}
			}
			infos = append(infos, info)
		}
		missing = append(missing, page.Missing...)
		if len(page.Streams)+len(page.Missing) == 0 || len(infos)+len(missing) >= page.Total {
			break
		}
	}
	for _, name := range missing {
		if name != "" && !slices.ContainsFunc(infos, func(i *jetstream.StreamInfo) bool { return i.Config.Name == name }) {
			infos = append(infos, p.missingStream(name))
		}
	}
	slices.SortFunc(infos, func(a, b *jetstream.StreamInfo) int { return cmp.Compare(a.Config.Name, b.Config.Name) })
	return infos, nil
}

// missingStream is the info of a stream the list names as missing: as
// the last poll saw it, with no leader, its last leader among its
// replicas, not current. Never seen before, it is a name without
// numbers.
func (p *poller) missingStream(name string) *jetstream.StreamInfo {
	prev, seen := p.streams[name]
	info := &jetstream.StreamInfo{Config: jetstream.StreamConfig{Name: name}, Cluster: &jetstream.ClusterInfo{}}
	if !seen {
		return info
	}
	info.Config.Description, info.Config.Subjects, info.Config.Replicas = prev.Description, prev.Subjects, prev.Replicas
	if prev.Storage == jetstream.MemoryStorage.String() {
		info.Config.Storage = jetstream.MemoryStorage
	}
	info.State = jetstream.StreamState{Msgs: prev.Messages, Bytes: prev.Bytes, FirstSeq: prev.FirstSeq, LastSeq: prev.LastSeq, LastTime: prev.LastTime, Consumers: prev.Consumers}
	info.TimeStamp = prev.TimeStamp
	if l := p.listed[name]; l != nil {
		info.Created = l.created // its consumer list stands
	}
	if c := prev.Cluster; c != nil {
		info.Cluster.Name = c.Name
		if c.Leader != "" {
			info.Cluster.Replicas = append(info.Cluster.Replicas, &jetstream.PeerInfo{Name: c.Leader})
		}
		for _, r := range c.Replicas {
			info.Cluster.Replicas = append(info.Cluster.Replicas, &jetstream.PeerInfo{Name: r.Name, Current: r.Current, Lag: r.Lag, Offline: r.Offline, Active: r.Active})
		}
	}
	return info
}

// showStreams shows a fresh stream list, with its leaders and replicas
// and the servers they make, before the consumers are listed: on a
// cluster losing a node the consumer lists may wait for the request
// timeout, and the Servers screen should not. The poll's result replaces
// it (the same streams, with their consumers). It does so only when the
// leader or a replica's state of a stream already shown changed (a new
// stream waits for its consumers, so a first picture is never one
// without them): the stream list is sorted and
// filtered again for each new slice, which on a large system is most of
// a frame. It runs on the API path only, where no statistics are read
// meanwhile (p.servers is the poll goroutine's).
func (f *Feed) showStreams(p *poller, infos []*jetstream.StreamInfo) {
	streams := make([]Stream, len(infos))
	moved := false
	for i, info := range infos {
		prev, seen := p.streams[info.Config.Name]
		streams[i] = streamFrom(info, prev)
		moved = moved || seen && !sameMembers(prev.Cluster, streams[i].Cluster)
	}
	if moved {
		f.st.showStreams(streams, p.servers.servers(f.opts.Now(), streams, f.nc))
	}
}

// sameMembers reports whether two readings of a stream's cluster have the
// same leader and the same replicas, online or not.
func sameMembers(a, b *StreamCluster) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Leader == b.Leader && slices.EqualFunc(a.Replicas, b.Replicas, func(x, y Replica) bool {
		return x.Name == y.Name && x.Offline == y.Offline
	})
}
