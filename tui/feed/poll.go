package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
)

// Problem sources.
const (
	SourceStreams     = "streams"
	SourceConsumers   = "consumers"
	SourceSagaTotals  = "saga totals"
	SourceSagas       = "sagas"
	SourceAdvisories  = "advisories"
	SourceDeadLetters = "dead letters"
	SourceServers     = "servers"
)

// listConcurrency bounds the consumer-list requests in flight at once.
const listConcurrency = 8

// pollResult is one poll's streams and consumers. Its slices are never
// modified after the poll that built them, so snapshots share them.
type pollResult struct {
	streams   []Stream
	consumers []Consumer
	// command indexes each service's command consumer in consumers.
	command map[contract.Service]int
	polled  time.Time
	// unlisted counts the streams with consumers whose consumers are not
	// listed yet: until it is 0 the consumers are not all there.
	unlisted  int
	gathering Gathering
	// focused is the history of the consumer on screen, nil for none.
	focused *ConsumerHistory
	// diagnoses are what the rules found at this poll, worst first.
	diagnoses []Diagnosis
	// servers are the servers as of this poll, by name.
	servers []Server
}

// poller keeps what the next poll compares against. Only the poll
// goroutine touches it.
type poller struct {
	mu       sync.Mutex                  // guards handles: consumer lists run concurrently
	handles  map[string]jetstream.Stream // opened once per stream
	budget   *budget
	charts   *charts
	diag     *diagnoser
	listed   map[string]*listing // each stream's last consumer list
	requests uint64              // requests made so far (JetStream API, or JSZ on the system path)
	// infos is the last stream list, made at streamsListed (the
	// budget may list streams less often than it polls).
	infos         []*jetstream.StreamInfo
	streamsListed time.Time
	streams       map[string]Stream
	streamList    []Stream // the last poll's streams, by name
	// leaders is each stream's leader when one was last known, for the
	// leader_changed events.
	leaders   map[string]string
	servers   *serverWatch
	consumers map[string]consumerSample
	lag       map[string]*ring[float64]
	// account is the account the system path reads, once asked of the
	// server.
	account string
	orders  struct {
		subjects map[string]uint64
		ts       time.Time
	}
}

// poll polls every RefreshEvery until ctx ends.
func (f *Feed) poll(ctx context.Context) {
	p := &poller{handles: map[string]jetstream.Stream{}, lag: map[string]*ring[float64]{}, budget: f.budget, listed: map[string]*listing{},
		charts: f.charts, diag: newDiagnoser(), servers: newServerWatch()}
	t := time.NewTicker(f.opts.RefreshEvery)
	defer t.Stop()
	for {
		f.pollOnce(ctx, p)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consumerSample is what a consumer's rates are measured from.
type consumerSample struct {
	ts                  time.Time
	delivered, ackFloor uint64
}

// streamPage is how many streams one STREAM.LIST request returns.
const streamPage = 256

// A gatherer reads the streams (sorted by name) and the consumer lists it
// read afresh this poll, by stream name; the poll keeps the older lists
// of the streams it did not read. ok is false when the streams could not
// be read (the problem is recorded): the last picture stands.
type gatherer func(ctx context.Context, p *poller) (infos []*jetstream.StreamInfo, fresh map[string]*listing, ok bool)

// pollOnce gathers streams and consumers (gatherAPI or gatherSystem),
// then reads the subject counts of the orders stream. Streams whose
// consumers were not read again keep their last consumer list, and the
// snapshot says how old it is.
//
// With a system connection the servers' statistics are read meanwhile;
// when the streams cannot be read, the servers are still updated (a
// cluster that lost its meta leader lists no stream for a while, and
// that is when the servers matter most).
func (f *Feed) pollOnce(ctx context.Context, p *poller) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	statsDone := make(chan struct{})
	var meta *Advisory
	if f.opts.System != nil {
		// p.servers is this goroutine's until statsDone. The ping is not
		// a JetStream request: Gathering.Requests does not count it.
		go func() {
			defer close(statsDone)
			from, to, changed, err := f.readStats(ctx, p.servers)
			if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
				f.st.problem(SourceServers, err, f.opts.Now())
			}
			if changed {
				meta = leaderEvent("", from, to, f.opts.Now())
			}
		}()
	} else {
		close(statsDone)
	}
	infos, fresh, ok := f.gather(ctx, p)
	<-statsDone
	if meta != nil {
		f.st.recordAdvisory(meta)
	}
	if !ok {
		f.st.setServers(p.servers.servers(f.opts.Now(), p.streamList, f.nc))
		return
	}
	f.recordGathered(ctx, p, infos, fresh)
}

// gatherAPI lists streams (paged, one request per 256 streams, as often as
// the budget lets), then the consumers of the streams the budget picks
// (one paged request per stream, never one per consumer).
func (f *Feed) gatherAPI(ctx context.Context, p *poller) ([]*jetstream.StreamInfo, map[string]*listing, bool) {
	pages := max(1, (len(p.infos)+streamPage-1)/streamPage)
	if p.infos == nil || time.Since(p.streamsListed) >= p.budget.streamListEvery(pages, f.opts.RefreshEvery) {
		infos, err := f.listStreams(ctx, p)
		if err != nil {
			if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
				f.st.problem(SourceStreams, err, f.opts.Now())
			}
			return nil, nil, false
		}
		f.st.problem(SourceStreams, nil, f.opts.Now())
		p.infos, p.streamsListed = infos, time.Now()
		f.showStreams(p, infos)
	}
	infos := p.infos

	picked := p.budget.pick(infos, p.listed, f.opts.Now())
	var mu sync.Mutex
	fresh := make(map[string]*listing, len(picked))
	var listErr error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for _, info := range picked {
		g.Go(func() error {
			cis, err := f.listConsumers(gctx, info.Config.Name)
			read := f.opts.Now()
			mu.Lock()
			defer mu.Unlock()
			p.requests++
			if err != nil {
				listErr = errors.Join(listErr, err)
				return nil
			}
			fresh[info.Config.Name] = &listing{cis: cis, read: read, lastSeq: info.State.LastSeq, consumers: info.State.Consumers, created: info.Created}
			return nil
		})
	}
	_ = g.Wait()
	f.st.problem(SourceConsumers, listErr, f.opts.Now())
	return infos, fresh, true
}

// recordGathered builds the poll's result from the streams and the
// consumer lists read afresh, keeping the older lists of the others, and
// records it with the saga totals.
func (f *Feed) recordGathered(ctx context.Context, p *poller, infos []*jetstream.StreamInfo, fresh map[string]*listing) {
	now := f.opts.Now()
	res := pollResult{command: map[contract.Service]int{}}
	streams := make(map[string]Stream, len(infos))
	consumers := map[string]consumerSample{}
	listed := make(map[string]*listing, len(infos))
	leaders := make(map[string]string, len(infos))
	for _, info := range infos {
		s := streamFrom(info, p.streams[info.Config.Name])
		last := p.leaders[s.Name]
		if ev := leaderChange(last, &s, now); ev != nil {
			f.st.recordAdvisory(ev)
		}
		if s.Cluster != nil && s.Cluster.Leader != "" {
			last = s.Cluster.Leader
		}
		leaders[s.Name] = last
		streams[s.Name] = s
		res.streams = append(res.streams, s)
		if info.TimeStamp.After(res.polled) {
			res.polled = info.TimeStamp
		}
		if info.State.Consumers == 0 {
			continue
		}
		l, isFresh := fresh[s.Name]
		if !isFresh {
			if l = p.listed[s.Name]; l == nil || !l.created.Equal(info.Created) {
				res.unlisted++ // never listed yet, or recreated since
				continue
			}
		}
		listed[s.Name] = l
		if isFresh {
			l.built = p.build(l, info, consumers)
		} else {
			for _, c := range l.built { // an old list: rates and trend as they were
				key := c.Stream + "/" + c.Name
				consumers[key] = p.consumers[key]
			}
		}
		for _, c := range l.built {
			c.Age = now.Sub(l.read)
			res.consumers = append(res.consumers, c)
		}
	}
	for i, c := range res.consumers {
		for _, svc := range contract.Services {
			if c.Stream == contract.StreamName(svc) && c.Name == contract.CommandConsumer(svc) {
				res.command[svc] = i
			}
		}
	}
	p.prune(consumers)
	p.streams, p.consumers, p.listed, p.streamList, p.leaders = streams, consumers, listed, res.streams, leaders
	res.servers = p.servers.servers(now, res.streams, f.nc)
	if stream, name, ok := p.charts.focused(); ok {
		res.focused = p.charts.history(stream, name)
	}

	totals, totalsOK := f.sagaTotals(ctx, p)
	res.gathering = Gathering{Path: f.path, Budget: f.opts.APIBudget, Requests: p.requests, Unlisted: res.unlisted}
	for _, l := range listed {
		if res.gathering.Oldest.IsZero() || l.read.Before(res.gathering.Oldest) {
			res.gathering.Oldest = l.read
		}
	}
	res.diagnoses = f.diagnose(ctx, p, &res, infos, fresh, totals, totalsOK, now)
	f.st.recordPoll(res, totals, totalsOK)
}

// build turns a fresh consumer list of the stream info describes into
// rows, with rates since the last list and a lag sample, and records the
// samples the next list measures from in samples.
func (p *poller) build(l *listing, info *jetstream.StreamInfo, samples map[string]consumerSample) []Consumer {
	slices.SortFunc(l.cis, func(a, b *jetstream.ConsumerInfo) int { return cmp.Compare(a.Name, b.Name) })
	out := make([]Consumer, 0, len(l.cis))
	focusStream, focusName, _ := p.charts.focused()
	for _, ci := range l.cis {
		c := consumerFrom(ci, info.State.Msgs)
		c.Read = l.read
		key := c.Stream + "/" + c.Name
		if prev, seen := p.consumers[key]; seen {
			c.DeliveredRate, c.AckedRate = consumerRates(prev, ci)
		}
		c.LagTrend = p.trend(key, float64(c.Pending))
		p.charts.record(&c, c.Stream == focusStream && c.Name == focusName)
		out = append(out, c)
		samples[key] = consumerSample{ts: ci.TimeStamp, delivered: ci.Delivered.Consumer, ackFloor: ci.AckFloor.Consumer}
	}
	return out
}

// listConsumers lists the consumers of one stream with one paged request
// ($JS.API.CONSUMER.LIST, 256 a page). It asks the API directly: a
// jetstream.Stream handle would cost a stream info request per stream
// first, doubling what attaching to a thousand streams costs.
func (f *Feed) listConsumers(ctx context.Context, stream string) ([]*jetstream.ConsumerInfo, error) {
	var out []*jetstream.ConsumerInfo
	for {
		req, _ := json.Marshal(struct {
			Offset int `json:"offset"`
		}{len(out)})
		msg, err := f.nc.RequestWithContext(ctx, f.apiPrefix+"CONSUMER.LIST."+stream, req)
		if err != nil {
			return out, fmt.Errorf("list consumers of %s: %w", stream, err)
		}
		var page struct {
			Total     int                       `json:"total"`
			Consumers []*jetstream.ConsumerInfo `json:"consumers"`
			Error     *jetstream.APIError       `json:"error"`
		}
		if err := json.Unmarshal(msg.Data, &page); err != nil {
			return out, fmt.Errorf("list consumers of %s: %w", stream, err)
		}
		if page.Error != nil {
			return out, fmt.Errorf("list consumers of %s: %w", stream, page.Error)
		}
		out = append(out, page.Consumers...)
		if len(page.Consumers) == 0 || len(out) >= page.Total {
			return out, nil
		}
	}
}

// handle opens a stream once (jetstream needs a handle for an info with a
// subject filter, and opening one costs an info request) and keeps it.
func (f *Feed) handle(ctx context.Context, p *poller, stream string) (jetstream.Stream, error) {
	p.mu.Lock()
	h := p.handles[stream]
	p.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := f.js.Stream(ctx, stream)
	p.requests++
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", stream, err)
	}
	p.mu.Lock()
	p.handles[stream] = h
	p.mu.Unlock()
	return h, nil
}

// sagaTotals reads the per-subject counts of the orders stream: every
// place command and every outcome event is one message, de-duplicated by
// Nats-Msg-Id, so the counts are exact.
func (f *Feed) sagaTotals(ctx context.Context, p *poller) (SagaTotals, bool) {
	name := contract.StreamName(contract.Orders)
	if _, ok := p.streams[name]; !ok {
		f.st.problem(SourceSagaTotals, nil, f.opts.Now())
		return SagaTotals{}, false
	}
	h, err := f.handle(ctx, p, name)
	var info *jetstream.StreamInfo
	if err == nil {
		info, err = h.Info(ctx, jetstream.WithSubjectFilter(contract.ServiceSubjects(contract.Orders)))
		p.requests++
	}
	f.st.problem(SourceSagaTotals, err, f.opts.Now())
	if err != nil {
		return SagaTotals{}, false
	}
	subj := info.State.Subjects
	t := SagaTotals{
		Known:     true,
		Placed:    subj[contract.Subject(contract.PlaceOrder)],
		Completed: subj[contract.Subject(contract.OrderCompleted)],
		Cancelled: subj[contract.Subject(contract.OrderCancelled)],
		Parked:    subj[contract.Subject(contract.OrderCompFailed)],
	}
	t.InFlight = sub0(t.Placed, t.Completed+t.Cancelled+t.Parked)
	if prev := p.orders.subjects; prev != nil {
		if dt := info.TimeStamp.Sub(p.orders.ts).Seconds(); dt > 0 {
			rate := func(typ string) float64 {
				s := contract.Subject(typ)
				return float64(sub0(subj[s], prev[s])) / dt
			}
			t.PlacedRate = rate(contract.PlaceOrder)
			t.CompletedRate = rate(contract.OrderCompleted)
			t.CancelledRate = rate(contract.OrderCancelled)
			t.ParkedRate = rate(contract.OrderCompFailed)
		}
	}
	p.orders.subjects, p.orders.ts = subj, info.TimeStamp
	return t, true
}

// streamFrom converts the server's stream info; prev (zero the first time)
// gives the rate.
func streamFrom(info *jetstream.StreamInfo, prev Stream) Stream {
	s := Stream{
		Name:        info.Config.Name,
		Description: info.Config.Description,
		Subjects:    info.Config.Subjects,
		Messages:    info.State.Msgs,
		Bytes:       info.State.Bytes,
		FirstSeq:    info.State.FirstSeq,
		LastSeq:     info.State.LastSeq,
		LastTime:    info.State.LastTime,
		Consumers:   info.State.Consumers,
		Storage:     info.Config.Storage.String(),
		Replicas:    info.Config.Replicas,
		Cluster:     clusterFrom(info.Cluster, prev, info.TimeStamp),
		TimeStamp:   info.TimeStamp,
	}
	// A stream without a leader neither stores nor delivers; a single
	// server always leads its own.
	s.Unavailable = s.Cluster != nil && s.Cluster.Leader == ""
	if !prev.TimeStamp.IsZero() {
		if dt := s.TimeStamp.Sub(prev.TimeStamp).Seconds(); dt > 0 {
			s.Rate = float64(sub0(s.LastSeq, prev.LastSeq)) / dt
		}
	}
	return s
}

// consumerRates are deliveries and ack-floor moves per second between two
// infos, over the server's timestamps (the client's clock and the request's
// round trip do not enter).
func consumerRates(prev consumerSample, ci *jetstream.ConsumerInfo) (delivered, acked float64) {
	dt := ci.TimeStamp.Sub(prev.ts).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	delivered = float64(sub0(ci.Delivered.Consumer, prev.delivered)) / dt
	acked = float64(sub0(ci.AckFloor.Consumer, prev.ackFloor)) / dt
	return delivered, acked
}

// trend appends a lag sample for key and returns the trend so far.
func (p *poller) trend(key string, v float64) Series {
	r := p.lag[key]
	if r == nil {
		r = newRing[float64](lagTrendLen)
		p.lag[key] = r
	}
	r.push(v)
	return r.oldestFirst()
}

// lagTrendLen is how many polls a consumer's lag trend covers.
const lagTrendLen = 60

// prune forgets consumers that are gone.
func (p *poller) prune(live map[string]consumerSample) {
	p.charts.prune(live)
	for k := range p.lag {
		if _, ok := live[k]; !ok {
			delete(p.lag, k)
		}
	}
}

// recordPoll stores a poll's results and takes a trend sample.
func (s *state) recordPoll(res pollResult, totals SagaTotals, totalsOK bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poll = res
	s.polls++
	p50, p99 := math.NaN(), math.NaN()
	if len(s.latencies) > 0 {
		a, b := percentiles(s.latencies)
		totals.LatencyP50, totals.LatencyP99 = a, b
		p50, p99 = float64(a)/float64(time.Millisecond), float64(b)/float64(time.Millisecond)
		s.latencies = s.latencies[:0]
	}
	if totalsOK {
		s.totals = totals
		s.history.completed.push(totals.CompletedRate)
		s.history.cancelled.push(totals.CancelledRate)
	} else {
		s.totals = SagaTotals{LatencyP50: totals.LatencyP50, LatencyP99: totals.LatencyP99}
	}
	s.history.p50.push(p50)
	s.history.p99.push(p99)
	s.changed = true
}

// sub0 is a-b, or 0 when a counter went back (its consumer was recreated).
func sub0(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
