package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
)

// settleTimeout bounds the wait for the window's last sagas to finish. A
// saga that takes longer is reported incomplete rather than waited for.
const settleTimeout = 10 * time.Second

// latency places orders through the demo's load generator at the fixed
// rate, and measures each saga placed during the window from its placement
// (the place-order envelope's Time, set by the generator just before it
// publishes) to its final event reaching a subscriber. That end includes the
// final event's store and delivery, so it is what an observer waits, never
// less.
func (b *bench) latency(ctx context.Context, simulated bool) (Latency, error) {
	l := Latency{Simulated: simulated, Rate: b.o.LatencyRate}
	if err := b.waitIdle(ctx, drainTimeout); err != nil {
		return l, err
	}
	rec := &recorder{placed: map[string]time.Time{}}
	sub, err := b.nc.Subscribe(contract.ServiceSubjects(contract.Orders), rec.observe)
	if err != nil {
		return l, fmt.Errorf("subscribe to orders: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.Flush(); err != nil {
		return l, fmt.Errorf("subscribe to orders: %w", err)
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
	if err := pause(ctx, b.o.Warmup); err != nil {
		return l, err
	}
	rec.open(time.Now())
	if err := pause(ctx, b.o.LatencyWindow); err != nil {
		return l, err
	}
	rec.close(time.Now())
	paused = true
	if err := setRate(ctx, 0); err != nil {
		return l, err
	}

	deadline := time.Now().Add(settleTimeout)
	for rec.unfinished() > 0 && time.Now().Before(deadline) {
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return l, err
		}
	}
	if n, err := sub.Dropped(); err == nil && n > 0 {
		return l, fmt.Errorf("latency subscriber dropped %d messages", n)
	}
	rec.result(&l)
	if l.Incomplete > 0 {
		return l, fmt.Errorf("%d sagas of the latency window unfinished after %s: %w", l.Incomplete, settleTimeout, errIncomplete)
	}
	return l, nil
}

// recorder matches place-order commands with final events by saga id. Its
// observe runs on the subscription's goroutine; the other methods on the
// caller's.
type recorder struct {
	mu        sync.Mutex
	from, to  time.Time // the window; placements outside it are not sampled
	opened    bool
	placed    map[string]time.Time // in the window, not finished
	samples   []time.Duration
	cancelled int
}

func (r *recorder) open(t time.Time) {
	r.mu.Lock()
	r.from, r.opened = t, true
	r.mu.Unlock()
}

func (r *recorder) close(t time.Time) {
	r.mu.Lock()
	r.to = t
	r.mu.Unlock()
}

// inWindow reports whether a saga placed at t is sampled.
func (r *recorder) inWindow(t time.Time) bool {
	return r.opened && !t.Before(r.from) && (r.to.IsZero() || t.Before(r.to))
}

func (r *recorder) observe(msg *nats.Msg) {
	now := time.Now()
	typ, ok := contract.TypeOf(msg.Subject)
	if !ok {
		return
	}
	var env struct {
		SagaID string    `json:"saga_id"`
		Time   time.Time `json:"time"`
	}
	if json.Unmarshal(msg.Data, &env) != nil {
		return // not a saga envelope; the services dead-letter those
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch typ {
	case contract.PlaceOrder:
		if r.inWindow(env.Time) {
			r.placed[env.SagaID] = env.Time
		}
	case contract.OrderCompleted, contract.OrderCancelled, contract.OrderCompFailed:
		at, ok := r.placed[env.SagaID]
		if !ok {
			return
		}
		delete(r.placed, env.SagaID)
		if typ != contract.OrderCompleted {
			r.cancelled++
			return
		}
		r.samples = append(r.samples, now.Sub(at))
	}
}

// unfinished is the number of sagas placed in the window and not finished.
func (r *recorder) unfinished() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.placed)
}

// result fills l's counts and quantiles.
func (r *recorder) result(l *Latency) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.samples)
	slices.Sort(s)
	l.Sagas, l.Cancelled, l.Incomplete = len(s), r.cancelled, len(r.placed)
	l.Window = r.to.Sub(r.from)
	if len(s) == 0 {
		return
	}
	l.P50, l.P99, l.Max = quantile(s, 0.50), quantile(s, 0.99), s[len(s)-1]
}

// quantile is the nearest-rank q-quantile of sorted s: the smallest sample
// at least a share q of the samples do not exceed.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
