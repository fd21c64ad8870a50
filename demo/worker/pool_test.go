package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type rig struct {
	js       jetstream.JetStream
	consumer jetstream.Consumer
	counters *worker.Counters
}

// newRig creates the demo topology and returns payment's command consumer.
func newRig(t *testing.T, maxAckPending int) rig {
	t.Helper()
	js := natstest.JetStream(t, natstest.Connect(t, natstest.Server(t).ClientURL()))
	ctx := context.Background()
	opts := topology.Options{MaxAckPending: maxAckPending, Seed: contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}}
	if err := topology.Ensure(ctx, js, opts); err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx, contract.StreamName(contract.Payment), contract.CommandConsumer(contract.Payment))
	if err != nil {
		t.Fatal(err)
	}
	return rig{js: js, consumer: c, counters: &worker.Counters{}}
}

// run runs a pool until the test ends.
func (r rig) run(t *testing.T, workers int, h worker.Handler, giveUp worker.GiveUp) *worker.Pool {
	t.Helper()
	p, err := worker.New(worker.Config{
		Service: contract.Payment, Stream: contract.StreamName(contract.Payment), Consumer: r.consumer, JetStream: r.js,
		Workers: workers, Handler: h, GiveUp: giveUp, MaxDeliver: topology.MaxDeliver, AckWait: topology.AckWait,
		RetryDelays: []time.Duration{10 * time.Millisecond}, Counters: r.counters, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return p
}

func (r rig) charge(t *testing.T, id string) {
	t.Helper()
	o := contract.Order{ID: id, Customer: "cust-0000", SKU: "sku-000", Qty: 1, Amount: 100}
	if err := worker.Publish(context.Background(), r.js, contract.NewEnvelope(contract.ChargePayment, o, nil, 0, time.Now())); err != nil {
		t.Fatal(err)
	}
}

func (r rig) publishRaw(t *testing.T, data string) {
	t.Helper()
	if _, err := r.js.Publish(context.Background(), contract.Subject(contract.ChargePayment), []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// deadLetters waits for n dead letters and returns their reasons.
func (r rig) deadLetters(t *testing.T, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := r.js.OrderedConsumer(ctx, contract.DeadLetterStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for len(reasons) < n {
		m, err := c.Next(jetstream.FetchMaxWait(15 * time.Second))
		if err != nil {
			t.Fatalf("waiting for dead letter %d of %d: %v", len(reasons)+1, n, err)
		}
		reasons = append(reasons, m.Headers().Get(contract.DeadLetterReason))
	}
	return reasons
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUndecodableMessagesAreDeadLetteredWithTheReason(t *testing.T) {
	tests := []struct{ name, data, reason string }{
		{"not JSON", "\x1b[2J not json", "not JSON"},
		{"wrong schema version", `{"v":9,"type":"payment.charge"}`, "schema version 9"},
		{"unknown type", `{"v":1,"type":"payment.teleport"}`, "unknown type"},
		{"type that does not match the subject", `{"v":1,"type":"payment.refund","id":"x","saga_id":"o1","order":{"id":"o1","customer":"c","sku":"s","qty":1,"amount_cents":1}}`, "published on"},
		{"invalid order", `{"v":1,"type":"payment.charge","id":"x","saga_id":"o1","order":{"id":"o1","customer":"c","sku":"s","qty":0,"amount_cents":1}}`, "qty 0"},
	}
	r := newRig(t, 64)
	var handled atomic.Int64
	r.run(t, 4, func(context.Context, worker.Delivery) error { handled.Add(1); return nil }, nil)
	for _, tt := range tests {
		r.publishRaw(t, tt.data)
	}
	// Four workers dead-letter concurrently, so the order is not the
	// publish order.
	reasons := r.deadLetters(t, len(tests))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, tt.reason) }) {
				t.Errorf("no dead letter says %q; reasons: %q", tt.reason, reasons)
			}
		})
	}
	if handled.Load() != 0 {
		t.Errorf("handler saw %d malformed messages", handled.Load())
	}
	waitFor(t, "the pool counts the dead letters", func() bool { return r.counters.DeadLettered.Load() == uint64(len(tests)) })
}

func TestPermanentFailuresAreDeadLetteredOnce(t *testing.T) {
	r := newRig(t, 64)
	var calls atomic.Int64
	r.run(t, 2, func(context.Context, worker.Delivery) error {
		calls.Add(1)
		return worker.Permanent(errors.New("no such customer"))
	}, nil)
	r.charge(t, "o1")
	if got := r.deadLetters(t, 1)[0]; got != "no such customer" {
		t.Fatalf("reason = %q", got)
	}
	time.Sleep(100 * time.Millisecond)
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times, want once", calls.Load())
	}
}

func TestTransientFailuresAreRetriedThenReportedOnTheLastDelivery(t *testing.T) {
	r := newRig(t, 64)
	var calls atomic.Int64
	var gaveUp atomic.Uint64
	r.run(t, 2, func(context.Context, worker.Delivery) error {
		calls.Add(1)
		return errors.New("gateway timeout")
	}, func(_ context.Context, d worker.Delivery, cause error) error {
		gaveUp.Store(d.NumDelivered)
		return nil
	})
	r.charge(t, "o1")
	reason := r.deadLetters(t, 1)[0]
	if !strings.Contains(reason, "gave up after 5 deliveries: gateway timeout") {
		t.Fatalf("reason = %q", reason)
	}
	if calls.Load() != topology.MaxDeliver || gaveUp.Load() != topology.MaxDeliver {
		t.Fatalf("handler ran %d times, gave up on delivery %d; want %d and %d", calls.Load(), gaveUp.Load(), topology.MaxDeliver, topology.MaxDeliver)
	}
	if r.counters.Retried.Load() != topology.MaxDeliver-1 {
		t.Fatalf("retried = %d", r.counters.Retried.Load())
	}
}

func TestAFailureThatSucceedsOnRetryIsAcked(t *testing.T) {
	r := newRig(t, 64)
	var calls atomic.Int64
	r.run(t, 2, func(_ context.Context, d worker.Delivery) error {
		calls.Add(1)
		if d.NumDelivered < 3 {
			return errors.New("flaky")
		}
		return nil
	}, nil)
	r.charge(t, "o1")
	waitFor(t, "the message is processed", func() bool { return r.counters.Processed.Load() == 1 })
	waitFor(t, "nothing is pending", func() bool {
		info, err := r.consumer.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if calls.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", calls.Load())
	}
}

// A pool never runs more handlers than it has workers, and a stuck pool
// holds exactly MaxAckPending messages: the rest waits on the server.
func TestBackpressureKeepsTheBacklogOnTheServer(t *testing.T) {
	const workers, maxAckPending, sent = 4, 8, 50
	r := newRig(t, maxAckPending)
	release := make(chan struct{})
	var running, peak atomic.Int64
	p := r.run(t, workers, func(ctx context.Context, d worker.Delivery) error {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}, nil)
	for i := range sent {
		r.charge(t, "o"+string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	waitFor(t, "every worker is busy", func() bool { return p.Status().Busy == workers })
	waitFor(t, "ack pending reaches its limit", func() bool {
		info, err := r.consumer.Info(context.Background())
		return err == nil && info.NumAckPending == maxAckPending && info.NumPending == sent-maxAckPending
	})
	st := p.Status()
	if st.Capacity != workers || st.Busy != workers || st.Queued > workers {
		t.Fatalf("status %+v", st)
	}
	close(release)
	waitFor(t, "the backlog drains", func() bool { return r.counters.Processed.Load() == sent })
	if peak.Load() > workers {
		t.Fatalf("%d handlers ran at once with %d workers", peak.Load(), workers)
	}
}

// Shutdown finishes and acks the messages in hand.
func TestShutdownFinishesWorkInHand(t *testing.T) {
	r := newRig(t, 64)
	started := make(chan struct{}, 1)
	p, err := worker.New(worker.Config{
		Service: contract.Payment, Stream: contract.StreamName(contract.Payment), Consumer: r.consumer, JetStream: r.js,
		Workers: 1, MaxDeliver: 5, AckWait: 5 * time.Second, Counters: r.counters, Log: quiet,
		Handler: func(ctx context.Context, d worker.Delivery) error {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond) // in flight when shutdown starts
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	r.charge(t, "o1")
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the in-flight message is acked", func() bool {
		info, err := r.consumer.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.AckFloor.Stream == 1
	})
}

// A dead letter delivered back onto a saga subject (say, by a consumer on
// the dead-letter stream whose deliver subject points there) is already
// stored: it is terminated, not copied again, so no such loop can grow.
func TestAReplayedDeadLetterIsNotDeadLetteredAgain(t *testing.T) {
	r := newRig(t, 64)
	var handled atomic.Int64
	r.run(t, 4, func(context.Context, worker.Delivery) error { handled.Add(1); return nil }, nil)

	replay := nats.NewMsg(contract.Subject(contract.ChargePayment))
	replay.Data = []byte("\x00 not json")
	replay.Header.Set(contract.DeadLetterReason, "malformed message: not JSON")
	if _, err := r.js.PublishMsg(context.Background(), replay); err != nil {
		t.Fatal(err)
	}
	// A fresh malformed message behind it is dead-lettered as usual; the
	// replay before it must not have been.
	r.publishRaw(t, "fresh and not json")
	reasons := r.deadLetters(t, 1)
	waitFor(t, "both messages are settled", func() bool {
		ci, err := r.consumer.Info(context.Background())
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	})
	s, err := r.js.Stream(context.Background(), contract.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || len(reasons) != 1 {
		t.Fatalf("dead-letter stream holds %d messages (reasons %q); want only the fresh one", info.State.Msgs, reasons)
	}
	if handled.Load() != 0 {
		t.Fatalf("the handler saw %d messages", handled.Load())
	}
}
