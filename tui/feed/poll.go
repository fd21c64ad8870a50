package feed

import (
	"cmp"
	"context"
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
}

// poller keeps what the next poll compares against. Only the poll
// goroutine touches it.
type poller struct {
	mu        sync.Mutex                  // guards handles: consumer lists run concurrently
	handles   map[string]jetstream.Stream // opened once per stream
	streams   map[string]Stream
	consumers map[string]consumerSample
	lag       map[string]*ring[float64]
	orders    struct {
		subjects map[string]uint64
		ts       time.Time
	}
}

// poll polls every RefreshEvery until ctx ends.
func (f *Feed) poll(ctx context.Context) {
	p := &poller{handles: map[string]jetstream.Stream{}, lag: map[string]*ring[float64]{}}
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

// pollOnce lists streams (paged, one request per 256 streams), then the
// consumers of each stream that has any (one paged request per stream,
// never one per consumer), then the subject counts of the orders stream.
func (f *Feed) pollOnce(ctx context.Context, p *poller) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()

	var infos []*jetstream.StreamInfo
	lister := f.js.ListStreams(ctx)
	for info := range lister.Info() {
		infos = append(infos, info)
	}
	if err := lister.Err(); err != nil {
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			f.st.problem(SourceStreams, fmt.Errorf("list streams: %w", err), f.opts.Now())
		}
		return
	}
	f.st.problem(SourceStreams, nil, f.opts.Now())
	slices.SortFunc(infos, func(a, b *jetstream.StreamInfo) int { return cmp.Compare(a.Config.Name, b.Config.Name) })

	var mu sync.Mutex
	perStream := make([][]*jetstream.ConsumerInfo, len(infos))
	var listErr error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for i, info := range infos {
		if info.State.Consumers == 0 {
			continue
		}
		g.Go(func() error {
			cis, err := f.listConsumers(gctx, p, info.Config.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				listErr = errors.Join(listErr, err)
			}
			perStream[i] = cis
			return nil
		})
	}
	_ = g.Wait()
	f.st.problem(SourceConsumers, listErr, f.opts.Now())

	res := pollResult{command: map[contract.Service]int{}}
	streams := make(map[string]Stream, len(infos))
	consumers := map[string]consumerSample{}
	for i, info := range infos {
		s := streamFrom(info, p.streams[info.Config.Name])
		streams[s.Name] = s
		res.streams = append(res.streams, s)
		if info.TimeStamp.After(res.polled) {
			res.polled = info.TimeStamp
		}
		cis := perStream[i]
		slices.SortFunc(cis, func(a, b *jetstream.ConsumerInfo) int { return cmp.Compare(a.Name, b.Name) })
		for _, ci := range cis {
			c := consumerFrom(ci, info.State.Msgs)
			key := c.Stream + "/" + c.Name
			if prev, ok := p.consumers[key]; ok {
				c.DeliveredRate, c.AckedRate = consumerRates(prev, ci)
			}
			c.LagTrend = p.trend(key, float64(c.Pending))
			res.consumers = append(res.consumers, c)
			consumers[key] = consumerSample{ts: ci.TimeStamp, delivered: ci.Delivered.Consumer, ackFloor: ci.AckFloor.Consumer}
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
	p.streams, p.consumers = streams, consumers

	totals, totalsOK := f.sagaTotals(ctx, p)
	f.st.recordPoll(res, totals, totalsOK)
}

// listConsumers lists the consumers of one stream with one paged request.
func (f *Feed) listConsumers(ctx context.Context, p *poller, stream string) ([]*jetstream.ConsumerInfo, error) {
	h, err := f.handle(ctx, p, stream)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.ConsumerInfo
	l := h.ListConsumers(ctx)
	for ci := range l.Info() {
		out = append(out, ci)
	}
	if err := l.Err(); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			p.mu.Lock()
			delete(p.handles, stream) // deleted since it was listed
			p.mu.Unlock()
		}
		return out, fmt.Errorf("list consumers of %s: %w", stream, err)
	}
	return out, nil
}

// handle opens a stream once (jetstream needs a handle to list its
// consumers, and opening one costs an info request) and keeps it.
func (f *Feed) handle(ctx context.Context, p *poller, stream string) (jetstream.Stream, error) {
	p.mu.Lock()
	h := p.handles[stream]
	p.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := f.js.Stream(ctx, stream)
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
		TimeStamp:   info.TimeStamp,
	}
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
