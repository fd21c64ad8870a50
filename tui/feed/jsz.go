package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/natsext"
)

// The system path reads the account's streams and consumers from the
// servers' monitoring report, the way nats-surveyor does: one request per
// refresh, answered by every server (a ping), each reporting its replicas
// of the account's streams with their consumers. It costs each server one
// report, whatever the number of streams, and spends no JetStream API
// budget.
//
// Every replica is asked for, not only the stream leaders
// (stream_leader_only): a consumer's pending count is kept by the
// consumer's leader alone (a follower reports 0), and a consumer need not
// be led by its stream's leader, so each stream is taken from its leader's
// report and each consumer from its own leader's. A cluster's reports are
// thus about R times a leader-only report. It also keeps a stream without
// a leader in the picture: every replica reports it, none as leader.
const (
	// jszSubject asks every server for its JetStream report
	// (server.JSzOptions in, a server.ServerAPIResponse holding a
	// server.JSInfo out). Only the system account may send it.
	jszSubject = "$SYS.REQ.SERVER.PING.JSZ"
	// userInfoSubject tells any user which account it is in: every
	// account imports it from the system account.
	userInfoSubject = "$SYS.REQ.USER.INFO"
)

// jszStall is how long after a reply the report counts as complete when
// not every JetStream server of the cluster has answered yet (once all
// have, it is complete at once): replies come back within milliseconds of
// each other, a server building a report of thousands of streams takes a
// few hundred, and one still silent after this is not coming.
const jszStall = 500 * time.Millisecond

// Bounds on what the untrusted replies may make the feed hold: a reply is
// decoded and dropped at once, keeping one copy of each stream and
// consumer; one larger than maxJSZReply is refused (a report of ten
// thousand streams with their consumers is some tens of MB), and at most
// maxJSZReplies are read per refresh.
const (
	maxJSZReply   = 64 << 20
	maxJSZReplies = 1024
)

// jszRequest is the part of server.JSzOptions the feed sends.
type jszRequest struct {
	Account  string `json:"account"`
	Streams  bool   `json:"streams"`
	Consumer bool   `json:"consumer"`
	Config   bool   `json:"config"`
}

// jszReply is the part of one server's reply the feed reads: a
// server.ServerAPIResponse with a server.JSInfo as data.
type jszReply struct {
	Server struct {
		Name string    `json:"name"`
		Time time.Time `json:"time"`
	} `json:"server"`
	Data *struct {
		Now      time.Time `json:"now"`
		Disabled bool      `json:"disabled"`
		Meta     *struct {
			Size int `json:"cluster_size"`
		} `json:"meta_cluster"`
		Accounts []struct {
			Name    string      `json:"name"`
			ID      string      `json:"id"`
			Streams []jszStream `json:"stream_detail"`
		} `json:"account_details"`
	} `json:"data"`
	Error *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

// jszStream is a server.StreamDetail.
type jszStream struct {
	Name      string                        `json:"name"`
	Created   time.Time                     `json:"created"`
	Cluster   *jetstream.ClusterInfo        `json:"cluster"`
	Config    *jetstream.StreamConfig       `json:"config"`
	State     jetstream.StreamState         `json:"state"`
	Consumers []*jetstream.ConsumerInfo     `json:"consumer_detail"`
	Mirror    *jetstream.StreamSourceInfo   `json:"mirror"`
	Sources   []*jetstream.StreamSourceInfo `json:"sources"`
}

// reported is one stream as the replies so far report it: each part
// from its leader when a leader's report came.
type reported struct {
	info      *jetstream.StreamInfo
	byLeader  bool // info came from the stream's leader
	consumers map[string]reportedConsumer
}

type reportedConsumer struct {
	ci       *jetstream.ConsumerInfo
	byLeader bool
}

// gatherSystem reads every stream and consumer of the account with one
// JSZ request to all servers (see jszSubject). A reply with an error, or
// no reply naming the account, keeps the last picture; a JetStream server
// that does not answer is recorded as a problem, and the others' replicas
// are shown.
func (f *Feed) gatherSystem(ctx context.Context, p *poller) ([]*jetstream.StreamInfo, map[string]*listing, bool) {
	acc, err := f.systemAccount(ctx, p)
	var streams map[string]*reported
	if err == nil {
		streams, err = f.readJSZ(ctx, p, acc)
	}
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			f.st.problem(SourceStreams, err, f.opts.Now())
		}
		return nil, nil, false
	}
	f.st.problem(SourceConsumers, nil, f.opts.Now())

	read := f.opts.Now()
	infos := make([]*jetstream.StreamInfo, 0, len(streams))
	fresh := make(map[string]*listing, len(streams))
	for name, r := range streams {
		infos = append(infos, r.info)
		cis := make([]*jetstream.ConsumerInfo, 0, len(r.consumers))
		for _, c := range r.consumers {
			cis = append(cis, c.ci)
		}
		fresh[name] = &listing{cis: cis, read: read, lastSeq: r.info.State.LastSeq, consumers: r.info.State.Consumers, created: r.info.Created}
	}
	slices.SortFunc(infos, func(a, b *jetstream.StreamInfo) int { return cmp.Compare(a.Config.Name, b.Config.Name) })
	return infos, fresh, true
}

// systemAccount is the account to read: Options.Account, or the one the
// feed's own connection is in, asked of the server once.
func (f *Feed) systemAccount(ctx context.Context, p *poller) (string, error) {
	if f.opts.Account != "" {
		return f.opts.Account, nil
	}
	if p.account != "" {
		return p.account, nil
	}
	msg, err := f.nc.RequestWithContext(ctx, userInfoSubject, nil)
	p.requests++
	if err != nil {
		return "", fmt.Errorf("ask the server which account this connection is in (%s): %w", userInfoSubject, err)
	}
	var reply struct {
		Data struct {
			Account string `json:"account"`
		} `json:"data"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	switch err := json.Unmarshal(msg.Data, &reply); {
	case err != nil:
		return "", fmt.Errorf("ask the server which account this connection is in: %w", err)
	case reply.Error != nil:
		return "", fmt.Errorf("ask the server which account this connection is in: %s", reply.Error.Description)
	case reply.Data.Account == "":
		return "", errors.New("the server did not say which account this connection is in: name it (Options.Account)")
	}
	p.account = reply.Data.Account
	return p.account, nil
}

// readJSZ sends the JSZ request for acc and collects the replies: every
// stream of the account once, by name.
func (f *Feed) readJSZ(ctx context.Context, p *poller, acc string) (map[string]*reported, error) {
	req, _ := json.Marshal(jszRequest{Account: acc, Streams: true, Consumer: true, Config: true})
	replies, err := natsext.RequestMany(ctx, f.opts.System, jszSubject, req, natsext.RequestManyStall(jszStall))
	p.requests++
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", jszSubject, err)
	}
	streams := map[string]*reported{}
	var (
		replied, answered, clusterSize, named int
		problems                              []string // one line in all
	)
	for msg, err := range replies {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("no server answers %s on the system connection: is it a system account user? (%w)", jszSubject, err)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("read %s replies: %v", jszSubject, err))
			break
		}
		if replied++; replied > maxJSZReplies {
			break
		}
		if len(msg.Data) > maxJSZReply {
			problems = append(problems, fmt.Sprintf("a %s reply of %d bytes is over the %d the feed reads", jszSubject, len(msg.Data), maxJSZReply))
			continue
		}
		var r jszReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			problems = append(problems, fmt.Sprintf("decode a %s reply: %v", jszSubject, err))
			continue
		}
		switch {
		case r.Error != nil:
			problems = append(problems, fmt.Sprintf("server %q could not report JetStream: %s (%d)", r.Server.Name, r.Error.Description, r.Error.Code))
			continue
		case r.Data == nil || r.Data.Disabled:
			continue // a server without JetStream
		}
		answered++
		if m := r.Data.Meta; m != nil {
			clusterSize = max(clusterSize, m.Size)
		}
		named += addReported(streams, &r, acc, f.opts.Now())
		// Every JetStream server has answered: nothing more is coming
		// that the picture needs (servers without JetStream may still).
		if answered >= max(1, clusterSize) {
			break
		}
	}
	switch {
	case problems != nil:
		return nil, errors.New(strings.Join(problems, "; "))
	case answered == 0:
		return nil, fmt.Errorf("no JetStream server answered %s within %s", jszSubject, f.opts.RequestTimeout)
	case named == 0:
		return nil, fmt.Errorf("no server reports JetStream for account %q: is the name right, and JetStream enabled for it?", acc)
	}
	if answered < clusterSize {
		f.st.problem(SourceStreams, fmt.Errorf("%d of %d JetStream servers answered %s: streams only the others hold are missing, and consumers they lead may show 0 pending", answered, clusterSize, jszSubject), f.opts.Now())
	} else {
		f.st.problem(SourceStreams, nil, f.opts.Now())
	}
	return streams, nil
}

// addReported adds the replicas of acc's streams and consumers that one
// reply reports to streams, keeping the copy from each one's leader, and
// returns how many account entries named acc (0: the server does not know
// it). A part without cluster info (a standalone server's consumer) is
// led by the server that reports it.
func addReported(streams map[string]*reported, r *jszReply, acc string, now time.Time) (named int) {
	ts := r.Data.Now
	if ts.IsZero() {
		ts = r.Server.Time
	}
	if ts.IsZero() {
		ts = now
	}
	leads := func(c *jetstream.ClusterInfo) bool { return c == nil || c.Leader == r.Server.Name }
	for _, a := range r.Data.Accounts {
		if a.ID != acc && a.Name != acc {
			continue
		}
		named++
		for i := range a.Streams {
			sd := &a.Streams[i]
			if sd.Name == "" {
				continue
			}
			st := streams[sd.Name]
			if st == nil {
				st = &reported{consumers: map[string]reportedConsumer{}}
				streams[sd.Name] = st
			}
			if st.info == nil || !st.byLeader && leads(sd.Cluster) {
				st.info, st.byLeader = streamInfoFrom(sd, ts), leads(sd.Cluster)
				if st.info.Cluster == nil { // a standalone server leads its own
					st.info.Cluster = &jetstream.ClusterInfo{Leader: r.Server.Name}
				}
			}
			for _, ci := range sd.Consumers {
				if ci == nil || ci.Name == "" {
					continue
				}
				if c, seen := st.consumers[ci.Name]; seen && (c.byLeader || !leads(ci.Cluster)) {
					continue
				}
				ci.Stream = sd.Name
				st.consumers[ci.Name] = reportedConsumer{ci: ci, byLeader: leads(ci.Cluster)}
			}
		}
	}
	return named
}

// streamInfoFrom is the stream info a stream detail carries, as of ts.
func streamInfoFrom(sd *jszStream, ts time.Time) *jetstream.StreamInfo {
	info := &jetstream.StreamInfo{
		Created:   sd.Created,
		State:     sd.State,
		Cluster:   sd.Cluster,
		Mirror:    sd.Mirror,
		Sources:   sd.Sources,
		TimeStamp: ts,
	}
	if sd.Config != nil {
		info.Config = *sd.Config
	}
	info.Config.Name = sd.Name
	return info
}
