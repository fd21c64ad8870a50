// Package feed watches a NATS JetStream system for the dashboard: service
// status, streams and consumers, the servers and where each stream's
// copies are, saga outcomes and latency, recent sagas, advisories and
// dead letters. It turns them into Snapshots at a bounded
// rate, whatever the rate of events.
//
// Everything the feed reads is untrusted text from the server; it is stored
// as it came, and the views sanitize it when they draw it.
package feed

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/statusfeed"
)

// Options configure a Feed. The zero value is usable.
type Options struct {
	// RefreshEvery is how often streams and consumers are polled and the
	// trends take a sample (default 1s).
	RefreshEvery time.Duration
	// FrameEvery bounds how often a snapshot is sent (default 100ms, 10
	// snapshots per second at most). Events in between are coalesced.
	FrameEvery time.Duration
	// StatusTimeout is how long after its last status an instance counts as
	// gone (default 3s; instances report about twice a second).
	StatusTimeout time.Duration
	// RecentSagas bounds the recent sagas kept (default 2,000).
	RecentSagas int
	// RecentEvents bounds the advisories and the dead letters kept, each
	// (default 500).
	RecentEvents int
	// HistoryLen bounds the trend samples kept (default 120).
	HistoryLen int
	// Backfill is how many stored advisory messages are read on attach to
	// show recent ones (default 5,000).
	Backfill int
	// RequestTimeout bounds each JetStream API request (default 5s).
	RequestTimeout time.Duration
	// APIBudget is how many JetStream API requests a second the polls may
	// spend on average (default DefaultAPIBudget; negative: no limit, every
	// stream's consumers listed every refresh). The stream list and the
	// saga totals count against it; when it does not cover every stream's
	// consumers each refresh, the most telling are listed first and the
	// rest show their age (see budget).
	APIBudget float64
	// System, when set, is a connection in the system account (taken the
	// way the nats CLI takes system credentials); the caller owns it.
	// Streams and consumers are then read from the servers' JetStream
	// report, one request per refresh whatever their number
	// (PathSystem), and APIBudget is not spent on them; and every
	// server's statistics are read each refresh (Snapshot.Servers).
	System *nats.Conn
	// Account is the account whose JetStream the System path reads;
	// empty: the account the feed's own connection is in, as the server
	// says ($SYS.REQ.USER.INFO).
	Account string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.RefreshEvery, time.Second)
	def(&o.FrameEvery, 100*time.Millisecond)
	def(&o.StatusTimeout, 3*time.Second)
	def(&o.RequestTimeout, 5*time.Second)
	defInt(&o.RecentSagas, 2000)
	defInt(&o.RecentEvents, 500)
	defInt(&o.HistoryLen, 120)
	defInt(&o.Backfill, 5000)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.APIBudget == 0 {
		o.APIBudget = DefaultAPIBudget
	}
	return o
}

// Feed watches one NATS connection. It does not own the connection. Create
// it with New and start it with Run; its methods are safe for concurrent
// use.
type Feed struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	opts   Options
	st     *state
	budget *budget
	charts *charts
	// apiPrefix is the JetStream API's subject prefix, for the requests
	// the feed makes without the jetstream package.
	apiPrefix string
	// gather reads streams and consumers by path (Gathering.Path).
	gather gatherer
	path   string
}

// New returns a feed reading through nc (and opts.System, when set).
func New(nc *nats.Conn, opts Options) (*Feed, error) {
	opts = opts.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	f := &Feed{nc: nc, js: js, opts: opts, st: newState(opts), budget: newBudget(opts.APIBudget), charts: newCharts(), apiPrefix: jetstream.DefaultAPIPrefix}
	f.gather, f.path = f.gatherAPI, PathAPI
	if opts.System != nil {
		f.gather, f.path = f.gatherSystem, PathSystem
	}
	// The path shows before the first poll succeeds, beside its problem.
	f.st.poll.gathering = Gathering{Path: f.path, Budget: opts.APIBudget}
	return f, nil
}

// Focus names the streams on screen: when the API budget does not cover
// every stream each refresh, their consumers are listed first. It replaces
// the previous focus and is safe to call from any goroutine.
func (f *Feed) Focus(streams ...string) { f.budget.setFocus(streams) }

// FocusConsumer names the consumer on screen, "" and "" for none: its
// stream's consumers are listed every refresh whatever the budget, it
// keeps a history even when maxCharted others have one, and from the
// next poll on each snapshot carries its history (Snapshot.Focused). It
// is safe to call from any goroutine.
func (f *Feed) FocusConsumer(stream, name string) {
	f.charts.setFocus(stream, name)
	f.budget.pin(stream)
}

// Run watches the system until ctx ends, calling send with a snapshot
// whenever something changed, at most once per FrameEvery, and at least
// once a second so countdowns move. send is called from one goroutine; it
// may block (the next snapshot then waits). Run returns when every
// goroutine it started has stopped; the only error is a subscription the
// connection refuses at start.
func (f *Feed) Run(ctx context.Context, send func(Snapshot)) error {
	g, ctx := errgroup.WithContext(ctx)
	status, err := f.followStatus()
	if err != nil {
		return err
	}
	defer func() { _ = status.Close() }()

	g.Go(func() error { f.poll(ctx); return nil })
	g.Go(func() error { f.follow(ctx); return nil })
	g.Go(func() error { f.frames(ctx, send); return nil })
	return g.Wait()
}

// Snapshot returns the state now.
func (f *Feed) Snapshot() Snapshot {
	return f.st.snapshot(f.opts.Now(), f.connection())
}

// frames sends a snapshot when the state or the connection changed, at most
// once per FrameEvery.
func (f *Feed) frames(ctx context.Context, send func(Snapshot)) {
	t := time.NewTicker(f.opts.FrameEvery)
	defer t.Stop()
	var last Connection
	var sent time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		conn := f.connection()
		now := f.opts.Now()
		if !f.st.takeChanged() && conn == last && now.Sub(sent) < time.Second {
			continue
		}
		last, sent = conn, now
		send(f.st.snapshot(now, conn))
	}
}

func (f *Feed) connection() Connection {
	c := Connection{
		URL:        f.nc.ConnectedUrlRedacted(),
		Server:     f.nc.ConnectedServerName(),
		Reconnects: f.nc.Stats().Reconnects,
	}
	switch f.nc.Status() {
	case nats.CONNECTED:
		c.State = StateConnected
	case nats.RECONNECTING, nats.DISCONNECTED:
		c.State = StateReconnecting
	case nats.CONNECTING:
		c.State = StateConnecting
	case nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		c.State = StateDraining
	default:
		c.State = StateClosed
	}
	if err := f.nc.LastError(); err != nil {
		c.LastError = err.Error()
	}
	return c
}

// Collect polls the system until it has every stream's consumers (or ctx
// ends), and listens to the status feed long enough to see every live
// instance, then returns the snapshot: what `sagascope
// status --json` prints. It fails when the server's JetStream cannot be read
// at all.
func Collect(ctx context.Context, nc *nats.Conn, opts Options) (Snapshot, error) {
	return CollectFor(ctx, nc, opts, 0)
}

// CollectFor is Collect that goes on watching until at least watch has
// passed since it began: the diagnoses need a condition to hold over a
// window (10 s for a consumer's) before they report it, which a snapshot
// of two polls never sees. watch is by the feed's clock (Options.Now), as
// the windows are; ctx must leave it the time.
func CollectFor(ctx context.Context, nc *nats.Conn, opts Options, watch time.Duration) (Snapshot, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	f, err := New(nc, opts)
	if err != nil {
		return Snapshot{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, func(Snapshot) {}) }()

	// Two polls give rates; statuses arrive twice a second, so by then
	// every live instance has reported. On a system larger than the API
	// budget lists at once it also waits for every stream's consumers, as
	// long as ctx lets it; what is still unlisted then, the snapshot says.
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var waitErr error
wait:
	for f.st.pollCount() < 2 || f.st.unlisted() > 0 || now().Sub(start) < watch {
		select {
		case <-ctx.Done():
			waitErr = ctx.Err()
			break wait
		case err := <-done:
			return Snapshot{}, err
		case <-t.C:
		}
	}
	snap := f.Snapshot()
	cancel()
	if err := <-done; err != nil {
		return Snapshot{}, err
	}
	if snap.Polled.IsZero() {
		cause := waitErr
		for _, p := range snap.Problems {
			cause = errors.Join(cause, errors.New(p.Source+": "+p.Error))
		}
		return snap, errors.Join(errors.New("read JetStream"), cause)
	}
	return snap, nil
}

// state is what the feed's goroutines found, guarded by mu.
type state struct {
	opts Options

	mu      sync.Mutex
	changed bool
	// status is the status feed's reader, nil until Run starts it.
	status  *statusfeed.Reader
	poll    pollResult
	polls   int
	totals  SagaTotals
	history struct{ completed, cancelled, p50, p99 *ring[float64] }
	// latencies of sagas completed since the last poll; bounded.
	latencies []time.Duration
	sagas     *sagaRing
	advs      *ring[*Advisory]
	dead      *ring[*DeadLetter]
	sources   Sources
	problems  map[string]Problem

	// Slices built for a snapshot, reused until their source changes.
	recentCache []*Saga
	advCache    []*Advisory
	deadCache   []*DeadLetter
	sagasDirty  bool
	advsDirty   bool
	deadDirty   bool
}

// maxLatencySamples bounds the latencies kept per poll interval: enough
// for a p99 of a few thousand sagas a second.
const maxLatencySamples = 8192

func newState(o Options) *state {
	s := &state{
		opts:     o,
		sagas:    newSagaRing(o.RecentSagas),
		advs:     newRing[*Advisory](o.RecentEvents),
		dead:     newRing[*DeadLetter](o.RecentEvents),
		problems: map[string]Problem{},
	}
	s.history.completed = newRing[float64](o.HistoryLen)
	s.history.cancelled = newRing[float64](o.HistoryLen)
	s.history.p50 = newRing[float64](o.HistoryLen)
	s.history.p99 = newRing[float64](o.HistoryLen)
	return s
}

func (s *state) takeChanged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changed
	s.changed = false
	return c
}

// unlisted is how many streams' consumers the last poll had not listed.
func (s *state) unlisted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll.unlisted
}

func (s *state) pollCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// setServers replaces the servers between polls that read no streams.
func (s *state) setServers(servers []Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poll.servers = servers
	s.changed = true
}

// showStreams replaces the streams and servers ahead of the poll that
// listed them.
func (s *state) showStreams(streams []Stream, servers []Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poll.streams, s.poll.servers = streams, servers
	s.changed = true
}

// problem records (err != nil) or clears (err == nil) a source's problem.
func (s *state) problem(source string, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, had := s.problems[source]
	switch {
	case err == nil && had:
		delete(s.problems, source)
		s.changed = true
	case err != nil:
		if !had {
			p.Since = now
		}
		p.Source, p.Error = source, err.Error()
		s.problems[source] = p
		s.changed = true
	}
}

// snapshot builds a Snapshot. Sections that did not change reuse the
// slices of the previous snapshot.
func (s *state) snapshot(now time.Time, conn Connection) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{
		Time:       now,
		Connection: conn,
		Sagas:      s.totals,
		Polled:     s.poll.polled,
		Streams:    s.poll.streams,
		Consumers:  s.poll.consumers,
		Sources:    s.sources,
		Gathering:  s.poll.gathering,
		Focused:    s.poll.focused,
		Diagnoses:  s.poll.diagnoses,
		Servers:    s.poll.servers,
	}
	if snap.Servers == nil {
		snap.Servers = []Server{}
	}
	if snap.Diagnoses == nil {
		snap.Diagnoses = []Diagnosis{} // JSON shows an empty list, not null
	}
	snap.Services, snap.Load, snap.Faults, snap.Reporting = s.services(now)
	snap.History = History{
		Every:      s.opts.RefreshEvery,
		Completed:  s.history.completed.oldestFirst(),
		Cancelled:  s.history.cancelled.oldestFirst(),
		LatencyP50: s.history.p50.oldestFirst(),
		LatencyP99: s.history.p99.oldestFirst(),
	}
	if s.sagasDirty || s.recentCache == nil {
		s.recentCache = s.sagas.newestFirst()
		s.sagasDirty = false
	}
	if s.advsDirty || s.advCache == nil {
		s.advCache = s.advs.newestFirst()
		s.advsDirty = false
	}
	if s.deadDirty || s.deadCache == nil {
		s.deadCache = s.dead.newestFirst()
		s.deadDirty = false
	}
	snap.Recent, snap.Advisories, snap.DeadLetters = s.recentCache, s.advCache, s.deadCache
	for _, p := range s.problems {
		snap.Problems = append(snap.Problems, p)
	}
	sortProblems(snap.Problems)
	return snap
}
