package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/wait"
)

// A mark is what the server has stored and moved up to one instant: the
// last sequence of every stream, its message counters, and the sagas
// finished.
//
// A stream's last sequence grows by exactly one per message it stores and
// never goes back, so the difference between two marks counts every write
// between them: stream messages and KV writes alike (a KV bucket is the
// stream KV_<bucket>), including a KV update whose older revision the
// bucket's history of 1 removes at once, which a message count (stream
// state Msgs, Jsz) would miss. Publishes the stream drops as duplicates are
// not writes and are not counted.
type mark struct {
	at   time.Time
	cpu  time.Duration     // CPU the process had used, 0 if unknown
	all  time.Duration     // CPU every process had used, 0 if unknown
	seqs map[string]uint64 // stream -> last sequence
	msgs uint64            // messages the server received and sent
	// Sagas finished, from the orders stream's per-subject counts: the
	// server's own record, which a subscriber could miss.
	completed, cancelled uint64
}

// finished is every saga that reached a final state.
func (m mark) finished() uint64 { return m.completed + m.cancelled }

// mark reads the server. withSagas also counts finished sagas; the orders
// stream must exist then.
//
// Stream states and message counters come from the server itself (Jsz,
// Varz), not the JetStream API: every API request makes the server store
// an audit advisory in the saga's advisory stream, so a bench polling the
// API would add writes of its own. The one API request left, the
// finished-saga count (per-subject counts are only served by the API), adds
// one advisory per mark: a few per window of thousands of sagas.
func (b *bench) mark(ctx context.Context, withSagas bool) (mark, error) {
	start := time.Now()
	m := mark{seqs: map[string]uint64{}}
	streams, err := b.streams(false)
	if err != nil {
		return m, err
	}
	for _, s := range streams {
		m.seqs[s.Name] = s.State.LastSeq
	}
	v, err := b.srv.Varz(nil)
	if err != nil {
		return m, fmt.Errorf("read server counters: %w", err)
	}
	m.msgs = uint64(v.InMsgs + v.OutMsgs)
	if withSagas {
		if b.orders == nil {
			if b.orders, err = b.js.Stream(ctx, ordersStream); err != nil {
				return m, fmt.Errorf("open stream %s: %w", ordersStream, err)
			}
		}
		info, err := b.orders.Info(ctx, jetstream.WithSubjectFilter(contract.EventSubjects(contract.Orders)))
		if err != nil {
			return m, fmt.Errorf("count finished sagas in %s: %w", ordersStream, err)
		}
		m.completed = info.State.Subjects[contract.Subject(contract.OrderCompleted)]
		m.cancelled = info.State.Subjects[contract.Subject(contract.OrderCancelled)] +
			info.State.Subjects[contract.Subject(contract.OrderCompFailed)]
	}
	// The reads take a millisecond or two; the midpoint is the best single
	// instant for all of them.
	m.at = start.Add(time.Since(start) / 2)
	m.cpu, _ = processCPU()
	m.all, _ = machineCPU()
	return m, nil
}

// Streams the bench reads by name.
var (
	ordersStream    = contract.StreamName(contract.Orders)
	telemetryStream = contract.TelemetryStream
)

// streams reads every stream's state, and its consumers' with consumers.
func (b *bench) streams(consumers bool) ([]server.StreamDetail, error) {
	info, err := b.srv.Jsz(&server.JSzOptions{Streams: true, Consumer: consumers})
	if err != nil {
		return nil, fmt.Errorf("read server state: %w", err)
	}
	var out []server.StreamDetail
	for _, a := range info.AccountDetails {
		out = append(out, a.Streams...)
	}
	return out, nil
}

// grown reports whether stream's last sequence is past seq.
func (b *bench) grown(stream string, seq uint64) (bool, error) {
	streams, err := b.streams(false)
	if err != nil {
		return false, err
	}
	for _, s := range streams {
		if s.Name == stream {
			return s.State.LastSeq > seq, nil
		}
	}
	return false, fmt.Errorf("stream %s not found", stream)
}

// throughputSince is the writes, time and CPU between prev and m; Done is
// left to the caller.
func (m mark) throughputSince(prev mark) Throughput {
	t := Throughput{Elapsed: m.at.Sub(prev.at), Msgs: m.msgs - prev.msgs}
	t.Writes, _ = m.writesSince(prev)
	if m.cpu > 0 && prev.cpu > 0 {
		t.CPU = m.cpu - prev.cpu
		if m.all > 0 && prev.all > 0 {
			t.OthersCPU = max(0, m.all-prev.all-t.CPU)
		}
	}
	return t
}

// writesSince returns the messages stored since prev, in total and by
// stream. A stream created since prev counts from zero; one deleted since is
// left out.
func (m mark) writesSince(prev mark) (total uint64, byStream map[string]uint64) {
	byStream = map[string]uint64{}
	for name, seq := range m.seqs {
		if n := seq - prev.seqs[name]; n > 0 {
			byStream[name] = n
			total += n
		}
	}
	return total, byStream
}

// sagaQueue reports the saga messages stored but not yet delivered
// (pending) and delivered but not yet acked (in hand), over every durable
// of the saga.
func (b *bench) sagaQueue() (pending, inHand uint64, err error) {
	pending, inHand, _, err = b.sagaQueueBy()
	return pending, inHand, err
}

// sagaQueueBy is sagaQueue with the durables that hold messages named, as
// "stream/durable pending+in hand".
func (b *bench) sagaQueueBy() (pending, inHand uint64, busy []string, err error) {
	durables := map[[2]string]bool{}
	for _, c := range topology.Consumers(b.topo) {
		durables[[2]string{c.Stream, c.Config.Durable}] = true
	}
	streams, err := b.streams(true)
	if err != nil {
		return 0, 0, nil, err
	}
	found := 0
	for _, s := range streams {
		for _, c := range s.Consumer {
			if durables[[2]string{s.Name, c.Name}] {
				found++
				pending += c.NumPending
				inHand += uint64(c.NumAckPending)
				if c.NumPending > 0 || c.NumAckPending > 0 {
					busy = append(busy, fmt.Sprintf("%s/%s %d+%d", s.Name, c.Name, c.NumPending, c.NumAckPending))
				}
			}
		}
	}
	if found != len(durables) {
		return 0, 0, nil, fmt.Errorf("found %d of the saga's %d durable consumers", found, len(durables))
	}
	return pending, inHand, busy, nil
}

// waitIdle waits until no saga message is pending or in hand, so every saga
// placed so far has finished.
func (b *bench) waitIdle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pending, inHand, busy, err := b.sagaQueueBy()
		if err != nil {
			return err
		}
		if pending == 0 && inHand == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for the saga to go idle: %d messages pending, %d in hand after %s (%s): %w",
				pending, inHand, timeout, strings.Join(busy, ", "), errIncomplete)
		}
		if err := wait.For(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
