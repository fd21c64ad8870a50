package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/wait"
	"github.com/sagascope/sagascope/demo/worker"
)

// The reference is a relay of relayHops hops: hop i consumes subject i,
// publishes to subject i+1 and waits for the PubAck, then acks, as every saga
// step does; a feeder publishes to subject 0 and is told of every chain that
// reaches subject relayHops. Each subject has its own stream, as each saga
// service has, so a chain stores relayHops+1 messages.
const relayHops = 4

func relayStream(i int) string  { return fmt.Sprintf("BENCH_RELAY_%d", i) }
func relaySubject(i int) string { return fmt.Sprintf("bench.relay.%d", i) }
func relayDurable(i int) string { return fmt.Sprintf("hop-%d", i) }

// relayTopology copies the saga's stream and consumer configuration (file
// store, duplicate window, MaxAckPending, AckWait, ack sampling), so the
// relay differs from the saga only in what the application does between
// receiving and acking.
func relayTopology(o topology.Options) ([]jetstream.StreamConfig, []jetstream.ConsumerConfig) {
	var streams []jetstream.StreamConfig
	for i := range relayHops + 1 {
		s := topology.Streams(o)[0]
		s.Name, s.Description, s.Subjects = relayStream(i), "sagascope bench relay", []string{relaySubject(i)}
		streams = append(streams, s)
	}
	var consumers []jetstream.ConsumerConfig
	for i := range relayHops {
		c := topology.Consumers(o)[0].Config
		c.Durable, c.Description, c.FilterSubject = relayDurable(i), "sagascope bench relay hop", relaySubject(i)
		consumers = append(consumers, c)
	}
	return streams, consumers
}

// bestWorkers is the workers a hop of the broker's best relay runs: with
// publishes that do not wait, a few goroutines keep a hop's window full.
const bestWorkers = 4

// relay measures a reference and removes its streams afterwards. With best
// false it is the relay with the saga's settings: Workers workers a hop,
// each publish waiting for its PubAck, a Nats-Msg-Id on every publish. With
// best true it is the broker's best relay on this machine: bestWorkers a
// hop, each publish asynchronous (a window of them in flight), the input
// acked when its output's PubAck arrives, no Nats-Msg-Id. Both ack nothing
// before its output is stored.
func (b *bench) relay(ctx context.Context, best bool) (t Throughput, err error) {
	streams, consumers := relayTopology(b.topo)
	defer func() {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, s := range streams {
			if derr := b.js.DeleteStream(cleanup, s.Name); derr != nil && !errors.Is(derr, jetstream.ErrStreamNotFound) && err == nil {
				err = fmt.Errorf("delete stream %s: %w", s.Name, derr)
			}
		}
	}()
	for _, s := range streams {
		if _, err := b.js.CreateOrUpdateStream(ctx, s); err != nil {
			return t, fmt.Errorf("create stream %s: %w", s.Name, err)
		}
	}
	for i, c := range consumers {
		if _, err := b.js.CreateOrUpdateConsumer(ctx, streams[i].Name, c); err != nil {
			return t, fmt.Errorf("create consumer %s: %w", c.Durable, err)
		}
	}

	var failed atomic.Uint64
	run, stopHops := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(run)
	var conns []*nats.Conn
	defer func() {
		stopHops()
		_ = g.Wait()
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i := range relayHops {
		// One connection per hop, as each saga service has its own.
		nc, err := b.connect(fmt.Sprintf("sagascope bench relay hop %d", i))
		if err != nil {
			return t, err
		}
		conns = append(conns, nc)
		js, err := jetstream.New(nc)
		if err != nil {
			return t, fmt.Errorf("hop %d: jetstream: %w", i, err)
		}
		cons, err := js.Consumer(ctx, streams[i].Name, consumers[i].Durable)
		if err != nil {
			return t, fmt.Errorf("hop %d: bind consumer: %w", i, err)
		}
		if best {
			g.Go(func() error { return hopAsync(gctx, cons, js, relaySubject(i+1), &failed) })
		} else {
			g.Go(func() error { return hop(gctx, cons, js, b.o.Workers, relaySubject(i+1), &failed) })
		}
	}

	payload, err := samplePayload(b.topo.Seed)
	if err != nil {
		return t, err
	}
	f, err := b.startFeeder(ctx, "sagascope bench relay feeder", relaySubject(relayHops), b.o.Backlog, func() (*nats.Msg, error) {
		chain := nuid.Next()
		msg := nats.NewMsg(relaySubject(0))
		msg.Data = payload
		if !best {
			msg.Header.Set(contract.MsgIDHeader, chain+":0")
		}
		msg.Header.Set(contract.SagaHeader, chain)
		return msg, nil
	})
	if err != nil {
		return t, err
	}
	chains := func(m mark) uint64 { return m.seqs[relayStream(relayHops)] }
	m0, m1, err := b.window(ctx, false, relayStream(relayHops), chains)
	ferr := f.stop()
	stopHops()
	gerr := g.Wait()
	if err = errors.Join(err, ferr, gerr); err != nil {
		return t, err
	}
	if n := failed.Load(); n > 0 {
		return t, fmt.Errorf("%d relay publishes failed", n)
	}
	t = m1.throughputSince(m0)
	t.Done = chains(m1) - chains(m0)
	return t, nil
}

// window waits out the warm-up and the measurement window and marks the
// server at either end of the window. done counts the units finished up to
// a mark. The window runs on past its length until at least one unit is
// finished in it (within drainTimeout), so a rate is always measured, even
// on a machine so busy that a short window finishes nothing; while it runs
// on, it watches the growth of stream, where every finished unit stores a
// message, because that costs no API request (see mark).
func (b *bench) window(ctx context.Context, withSagas bool, stream string, done func(mark) uint64) (m0, m1 mark, err error) {
	if err := wait.For(ctx, b.o.Warmup); err != nil {
		return m0, m1, err
	}
	if m0, err = b.mark(ctx, withSagas); err != nil {
		return m0, m1, err
	}
	if err := wait.For(ctx, b.o.Window); err != nil {
		return m0, m1, err
	}
	deadline := time.Now().Add(drainTimeout)
	for {
		grown, err := b.grown(stream, m0.seqs[stream])
		if err != nil {
			return m0, m1, err
		}
		if grown {
			if m1, err = b.mark(ctx, withSagas); err != nil || done(m1) > done(m0) {
				return m0, m1, err
			}
		}
		if time.Now().After(deadline) {
			return m0, m1, fmt.Errorf("nothing finished in %s: %w", time.Since(m0.at).Round(time.Millisecond), errIncomplete)
		}
		if err := wait.For(ctx, 20*time.Millisecond); err != nil {
			return m0, m1, err
		}
	}
}

// pump runs workers over one pull consumer, pulling only what the workers
// can take (as worker.Pool does), and hands each message to handle. It
// returns when ctx ends and the workers have finished what they hold.
func pump(ctx context.Context, cons jetstream.Consumer, workers int, handle func(jetstream.Msg)) error {
	it, err := cons.Messages(worker.PullOptions(workers)...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", cons.CachedInfo().Name, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	work := make(chan jetstream.Msg, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for msg := range work {
				handle(msg)
			}
		})
	}
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			break
		}
		if err != nil {
			continue
		}
		work <- msg
	}
	close(work)
	wg.Wait()
	return nil
}

// hop is one relay hop with the saga's settings: each worker publishes,
// waits for the PubAck, then acks its input.
func hop(ctx context.Context, cons jetstream.Consumer, js jetstream.JetStream, workers int, next string, failed *atomic.Uint64) error {
	// Messages in hand are finished after ctx ends, as the saga's are.
	finish := context.WithoutCancel(ctx)
	return pump(ctx, cons, workers, func(msg jetstream.Msg) { forward(finish, js, msg, next, failed) })
}

// forward publishes msg's payload to next, waits for the PubAck, then acks
// msg: a saga step without the step.
func forward(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, next string, failed *atomic.Uint64) {
	chain := msg.Headers().Get(contract.SagaHeader)
	out := nats.NewMsg(next)
	out.Data = msg.Data()
	out.Header.Set(contract.MsgIDHeader, chain+":"+next)
	out.Header.Set(contract.SagaHeader, chain)
	pub, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pub, out); err != nil {
		failed.Add(1)
		_ = msg.Nak()
		return
	}
	_ = msg.Ack()
}

// hopAsync is one hop of the broker's best relay: bestWorkers workers
// publish without waiting, and one acker acks each input once its output's
// PubAck arrived (or NAKs it when the publish failed), in the order
// published.
func hopAsync(ctx context.Context, cons jetstream.Consumer, js jetstream.JetStream, next string, failed *atomic.Uint64) error {
	type inFlight struct {
		in  jetstream.Msg
		ack jetstream.PubAckFuture
	}
	acks := make(chan inFlight, topology.DefaultMaxAckPending)
	var acker sync.WaitGroup
	acker.Go(func() {
		for f := range acks {
			select {
			case <-f.ack.Ok():
				_ = f.in.Ack()
			case <-f.ack.Err():
				failed.Add(1)
				_ = f.in.Nak()
			case <-time.After(5 * time.Second):
				failed.Add(1)
				_ = f.in.Nak()
			}
		}
	})
	err := pump(ctx, cons, bestWorkers, func(msg jetstream.Msg) {
		out := nats.NewMsg(next)
		out.Data = msg.Data()
		out.Header.Set(contract.SagaHeader, msg.Headers().Get(contract.SagaHeader))
		f, err := js.PublishMsgAsync(out)
		if err != nil {
			failed.Add(1)
			_ = msg.Nak()
			return
		}
		acks <- inFlight{in: msg, ack: f}
	})
	close(acks)
	acker.Wait()
	return err
}

// samplePayload is a saga command as the services exchange it, so relay
// messages are the size of saga messages.
func samplePayload(seed contract.Seed) ([]byte, error) {
	env := contract.NewEnvelope(contract.ChargePayment, loadgen.RandomOrder(seed), nil, 0, time.Now())
	return env.Encode()
}
