package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/wait"
)

// settleTimeout bounds the wait for the window's last sagas to finish. A
// saga that takes longer is reported incomplete rather than waited for.
const settleTimeout = 10 * time.Second

// lastPublishes is how long the load generator's publishes in flight when
// it is paused take to be stored.
const lastPublishes = 200 * time.Millisecond

// latency places orders through the demo's load generator at the fixed
// rate, and measures each saga placed during the window by its own
// timestamps: from its place-order command's time (set by the generator
// just before it publishes) to its completed event's time (set by the
// orchestrator just before it publishes). Both are read back from the
// orders stream afterwards, the server's record, so no saga is missed and
// no observer's delay is added.
func (b *bench) latency(ctx context.Context, simulated bool) (Latency, error) {
	l := Latency{Simulated: simulated, Rate: b.o.LatencyRate}
	if err := b.waitIdle(ctx, drainTimeout); err != nil {
		return l, err
	}
	start, err := b.mark(ctx, false)
	if err != nil {
		return l, err
	}

	ctl := control.NewClient(b.nc)
	setRate := func(ctx context.Context, r float64) error {
		if _, err := ctl.SetLoad(ctx, contract.LoadRequest{V: contract.Version, Rate: &r}); err != nil {
			return fmt.Errorf("set load to %g/s: %w", r, err)
		}
		return nil
	}
	if err := setRate(ctx, b.o.LatencyRate); err != nil {
		return l, err
	}
	paused := false
	defer func() {
		if !paused {
			_ = setRate(context.WithoutCancel(ctx), 0)
		}
	}()
	if err := wait.For(ctx, b.o.Warmup); err != nil {
		return l, err
	}
	from := time.Now()
	if err := wait.For(ctx, b.o.LatencyWindow); err != nil {
		return l, err
	}
	to := time.Now()
	paused = true
	if err := setRate(ctx, 0); err != nil {
		return l, err
	}
	if err := wait.For(ctx, lastPublishes); err != nil {
		return l, err
	}
	idleErr := b.waitIdle(ctx, settleTimeout)
	if idleErr != nil && !errors.Is(idleErr, errIncomplete) {
		return l, idleErr
	}
	sagas, err := b.readSagas(ctx, start.seqs[ordersStream]+1)
	if err != nil {
		return l, err
	}
	sagas.result(&l, from, to)
	if l.Incomplete > 0 {
		return l, fmt.Errorf("%d sagas of the latency window unfinished after %s: %w", l.Incomplete, settleTimeout, errIncomplete)
	}
	return l, nil
}

// A sagaTimes is one saga's placement and end, by its own envelopes.
type sagaTimes struct {
	placed, ended time.Time
	outcome       string // the final event's type; "" while unfinished
}

// sagaRecord is every saga seen in the orders stream, by id.
type sagaRecord map[string]*sagaTimes

// readTimeout bounds reading the orders stream back: a few thousand
// messages.
const readTimeout = 30 * time.Second

// readSagas reads the place-order commands and final events stored in the
// orders stream from sequence from on.
func (b *bench) readSagas(ctx context.Context, from uint64) (sagaRecord, error) {
	cons, err := b.js.OrderedConsumer(ctx, ordersStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{
			contract.Subject(contract.PlaceOrder), contract.Subject(contract.OrderCompleted),
			contract.Subject(contract.OrderCancelled), contract.Subject(contract.OrderCompFailed),
		},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", ordersStream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", ordersStream, err)
	}
	defer it.Stop()
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rec := sagaRecord{}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", ordersStream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", ordersStream, err)
		}
		env, err := contract.Decode(msg.Subject(), msg.Data())
		if err != nil {
			return nil, fmt.Errorf("read back %s at %d: %w", ordersStream, meta.Sequence.Stream, err)
		}
		s := rec[env.SagaID]
		if s == nil {
			s = &sagaTimes{}
			rec[env.SagaID] = s
		}
		if env.Type == contract.PlaceOrder {
			s.placed = env.Time
		} else {
			s.ended, s.outcome = env.Time, env.Type
		}
		if meta.NumPending == 0 {
			return rec, nil
		}
	}
}

// result fills l with the sagas placed in [from, to).
func (r sagaRecord) result(l *Latency, from, to time.Time) {
	l.Window = to.Sub(from)
	var samples []time.Duration
	for _, s := range r {
		if s.placed.Before(from) || !s.placed.Before(to) {
			continue
		}
		l.Placed++
		switch s.outcome {
		case "":
			l.Incomplete++
		case contract.OrderCompleted:
			samples = append(samples, s.ended.Sub(s.placed))
		default:
			l.Cancelled++
		}
	}
	slices.Sort(samples)
	l.Sagas = len(samples)
	if len(samples) == 0 {
		return
	}
	l.P50, l.P99, l.Max = quantile(samples, 0.50), quantile(samples, 0.99), samples[len(samples)-1]
}

// quantile is the nearest-rank q-quantile of sorted s: the smallest sample
// at least a share q of the samples do not exceed.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
