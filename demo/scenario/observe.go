package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/check"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// Observation windows.
const (
	// latencyWindow is how far back latency_ms looks.
	latencyWindow = 5 * time.Second
	// maxTracked bounds the orders latency_ms remembers the placing time
	// of; beyond it new orders are not timed (a burst of a hundred
	// thousand orders must not grow the runner's memory without bound).
	maxTracked = 200_000
)

// observer reads the metrics expectations name: the status feed and order
// events as the dashboard receives them, and consumer and stream state
// from JetStream. It owns its subscriptions; close ends them.
type observer struct {
	js   jetstream.JetStream
	subs []*nats.Subscription
	now  func() time.Time

	// status is the status feed: the statuses of live instances, and
	// the counters of every instance heard from.
	status *statusfeed.Reader

	mu       sync.Mutex
	placed   map[string]time.Time // saga id -> when its order was seen
	finished []finish             // in arrival order, trimmed to latencyWindow
	// stoppedNode is the node the last stop_node stopped, for leader moved.
	stoppedNode string
}

type finish struct {
	at      time.Time
	latency time.Duration
}

func newObserver(nc *nats.Conn, js jetstream.JetStream) (*observer, error) {
	status, err := statusfeed.Follow(nc, statusfeed.Options{})
	if err != nil {
		return nil, err
	}
	o := &observer{js: js, now: time.Now, status: status, placed: map[string]time.Time{}}
	follow := []struct {
		subject string
		handle  nats.MsgHandler
	}{
		{contract.Subject(contract.PlaceOrder), o.onPlaced},
		{contract.EventSubjects(contract.Orders), o.onOutcome},
	}
	for _, f := range follow {
		sub, err := nc.Subscribe(f.subject, f.handle)
		if err != nil {
			o.close()
			return nil, fmt.Errorf("follow %s: %w", f.subject, err)
		}
		// Order events are sampled, not counted: a slow runner drops
		// messages rather than holding the connection.
		_ = sub.SetPendingLimits(64<<10, 64<<20)
		o.subs = append(o.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		o.close()
		return nil, fmt.Errorf("follow the status feed: %w", err)
	}
	return o, nil
}

func (o *observer) close() {
	_ = o.status.Close()
	for _, s := range o.subs {
		_ = s.Unsubscribe()
	}
}

func (o *observer) onPlaced(m *nats.Msg) {
	id := m.Header.Get(contract.SagaHeader)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.placed[id]; id != "" && !seen && len(o.placed) < maxTracked {
		o.placed[id] = o.now()
	}
}

func (o *observer) onOutcome(m *nats.Msg) {
	id := m.Header.Get(contract.SagaHeader)
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	start, ok := o.placed[id]
	if !ok {
		return
	}
	delete(o.placed, id)
	o.finished = append(o.finished, finish{at: now, latency: now.Sub(start)})
	o.trimLocked(now)
}

func (o *observer) trimLocked(now time.Time) {
	i := 0
	for i < len(o.finished) && now.Sub(o.finished[i].at) > latencyWindow {
		i++
	}
	o.finished = o.finished[i:]
}

func (o *observer) medianLatency() (time.Duration, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trimLocked(o.now())
	if len(o.finished) == 0 {
		return 0, 0
	}
	ls := make([]time.Duration, len(o.finished))
	for i, f := range o.finished {
		ls[i] = f.latency
	}
	slices.Sort(ls)
	return ls[len(ls)/2], len(ls)
}

// reading is one raw read of a metric, before any delta or bound.
type reading struct {
	value float64
	limit float64
	text  string // for state, leader and verdict metrics; "" prints value
	pass  bool   // for verdict metrics
}

func number(v float64) reading { return reading{value: v} }

// read reads e's metric now.
func (o *observer) read(ctx context.Context, e Expectation) (reading, error) {
	switch e.Metric {
	case "lag", "ack_pending", "redelivered":
		return o.readConsumer(ctx, e)
	case "pool_busy", "pool_held", "breaker", "instances", "load":
		return o.readStatus(e), nil
	case "processed", "retried", "duplicates", "dead_lettered":
		c := o.status.Totals(e.Service)
		return number(float64(map[string]uint64{
			"processed": c.Processed, "retried": c.Retried, "duplicates": c.Duplicates, "dead_lettered": c.DeadLettered,
		}[e.Metric])), nil
	case "latency_ms":
		median, n := o.medianLatency()
		r := number(float64(median.Milliseconds()))
		r.text = fmt.Sprintf("%d ms (median of %d sagas)", median.Milliseconds(), n)
		return r, nil
	case "sagas_placed", "sagas_completed", "sagas_cancelled", "sagas_parked", "sagas_in_flight":
		return o.readSagas(ctx, e.Metric)
	case "dead_letters":
		return o.readDeadLetters(ctx, e.Contains)
	case "cancelled_with_reason":
		return o.readCancelled(ctx, e.Contains)
	case "compensations_out_of_order":
		return o.readCompensationOrder(ctx)
	case "leader":
		return o.readLeader(ctx, e.Stream)
	case "check":
		return o.readCheck(ctx)
	}
	return reading{}, fmt.Errorf("unknown metric %q", e.Metric)
}

func (o *observer) readStatus(e Expectation) reading {
	statuses := o.status.Latest(e.Service)
	switch e.Metric {
	case "pool_busy":
		var r reading
		for _, s := range statuses {
			r.value += float64(s.Pool.Busy)
			r.limit += float64(s.Pool.Capacity)
		}
		return r
	case "pool_held":
		var r reading
		for _, s := range statuses {
			r.value = max(r.value, float64(s.Pool.Busy+s.Pool.Queued))
			r.limit = max(r.limit, float64(2*s.Pool.Capacity))
		}
		return r
	case "breaker":
		for _, s := range statuses {
			for _, b := range s.Breakers {
				if b.Name == e.Breaker {
					return reading{text: string(b.State)}
				}
			}
		}
		return reading{text: "not reported"}
	case "instances":
		n := 0
		for _, s := range statuses {
			if s.State == contract.StateRunning {
				n++
			}
		}
		return number(float64(n))
	default: // load
		for _, s := range statuses {
			if s.Load != nil {
				return number(s.Load.Effective)
			}
		}
		return reading{text: "no load generator reports"}
	}
}

func (o *observer) readConsumer(ctx context.Context, e Expectation) (reading, error) {
	stream, durable := contract.StreamName(e.Service), contract.CommandConsumer(e.Service)
	cons, err := o.js.Consumer(ctx, stream, durable)
	if err != nil {
		return reading{}, fmt.Errorf("consumer %s: %w", durable, err)
	}
	info := cons.CachedInfo() // fetched by Consumer just now
	switch e.Metric {
	case "lag":
		return number(float64(info.NumPending)), nil
	case "ack_pending":
		return reading{value: float64(info.NumAckPending), limit: float64(info.Config.MaxAckPending)}, nil
	}
	commands, err := o.subjectCounts(ctx, stream, contract.CommandSubjects(e.Service))
	if err != nil {
		return reading{}, err
	}
	var stored uint64
	for _, n := range commands {
		stored += n
	}
	// Every stored command not pending was delivered at least once; the
	// deliveries beyond that are redeliveries.
	redelivered := float64(info.Delivered.Consumer) - (float64(stored) - float64(info.NumPending))
	return number(max(0, redelivered)), nil
}

// subjectCounts returns how many messages of stream each subject matching
// filter holds.
func (o *observer) subjectCounts(ctx context.Context, stream, filter string) (map[string]uint64, error) {
	s, err := o.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("info of stream %s: %w", stream, err)
	}
	return info.State.Subjects, nil
}

// readSagas counts sagas from the orders stream's subjects: one order
// command and one outcome event per saga, which the stream de-duplicates,
// so the server's per-subject counts are the saga counts without reading
// any saga.
func (o *observer) readSagas(ctx context.Context, metric string) (reading, error) {
	counts, err := o.subjectCounts(ctx, contract.StreamName(contract.Orders), contract.ServiceSubjects(contract.Orders))
	if err != nil {
		return reading{}, err
	}
	n := func(t string) float64 { return float64(counts[contract.Subject(t)]) }
	placed, completed, cancelled, parked := n(contract.PlaceOrder), n(contract.OrderCompleted), n(contract.OrderCancelled), n(contract.OrderCompFailed)
	return number(map[string]float64{
		"sagas_placed": placed, "sagas_completed": completed, "sagas_cancelled": cancelled, "sagas_parked": parked,
		"sagas_in_flight": max(0, placed-completed-cancelled-parked),
	}[metric]), nil
}

func (o *observer) readLeader(ctx context.Context, stream string) (reading, error) {
	s, err := o.js.Stream(ctx, stream)
	if err != nil {
		return reading{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo() // fetched by Stream just now
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return reading{text: "no leader"}, nil
	}
	o.mu.Lock()
	stopped := o.stoppedNode
	o.mu.Unlock()
	return reading{text: info.Cluster.Leader, pass: stopped != "" && info.Cluster.Leader != stopped}, nil
}

// leaderOf is the server name leading stream.
func (o *observer) leaderOf(ctx context.Context, stream string) (string, error) {
	r, err := o.readLeader(ctx, stream)
	if err != nil {
		return "", err
	}
	if r.text == "no leader" {
		return "", fmt.Errorf("stream %s has no leader (is it replicated on a cluster?)", stream)
	}
	return r.text, nil
}

func (o *observer) nodeStopped(name string) {
	o.mu.Lock()
	o.stoppedNode = name
	o.mu.Unlock()
}

func (o *observer) lastStopped() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stoppedNode
}

func (o *observer) readCheck(ctx context.Context) (reading, error) {
	rep, err := check.Run(ctx, o.js, check.Options{})
	if err != nil {
		return reading{}, err
	}
	if rep.OK() {
		total := 0
		var outcomes []string
		for _, st := range []contract.SagaStatus{contract.SagaCompleted, contract.SagaCancelled, contract.SagaCompensationFailed} {
			total += rep.Sagas[st]
			if n := rep.Sagas[st]; n > 0 {
				outcomes = append(outcomes, fmt.Sprintf("%d %s", n, st))
			}
		}
		return reading{pass: true, text: fmt.Sprintf("OK: %d sagas finished (%s), %d in flight, money and stock conserved, %d dead letters",
			total, strings.Join(outcomes, ", "), rep.InFlight(), rep.DeadLetters)}, nil
	}
	text := fmt.Sprintf("FAILED, %d violations", len(rep.Violations))
	for i, v := range rep.Violations {
		if i == 3 {
			text += "; ..."
			break
		}
		text += "; " + v.String()
	}
	return reading{text: text}, nil
}
