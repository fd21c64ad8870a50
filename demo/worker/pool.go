// Package worker runs a bounded pool of workers over one durable pull
// consumer. It owns the acknowledgement discipline every service shares:
//
//   - a message is acked only after its handler returned nil, so its effect
//     and the messages it published are durable first;
//   - a transient failure is NAKed with a growing delay; on the last
//     delivery MaxDeliver allows, the handler's GiveUp reports the step
//     failed, and the message is dead-lettered and terminated;
//   - a permanent failure, or a message that does not decode, is copied to
//     the dead-letter stream with the reason and terminated;
//   - the pool pulls only what its workers can take (Workers running plus
//     Workers queued), so a slow dependency saturates the pool and the
//     consumer's ack-pending, and lag grows on the server, not in memory.
//
// The pool is where the duplicate fault (Pool.handle NAKs a handled message,
// so it is delivered again) and the poison fault (Pool.inject) take effect;
// demo/fault's package doc says where the other kinds do.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/logging"
	"github.com/sagascope/sagascope/telemetry/metrics"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Handler handles one decoded message. Returning nil acks it; an error
// wrapped by Permanent dead-letters it; any other error retries it.
type Handler func(ctx context.Context, d Delivery) error

// GiveUp is called on the last delivery of a message whose handler keeps
// failing transiently, so the service can publish that the step failed.
type GiveUp func(ctx context.Context, d Delivery, cause error) error

// Delivery is one received message.
type Delivery struct {
	Env          contract.Envelope
	Subject      string
	Stream       string
	Consumer     string
	Seq          uint64
	NumDelivered uint64
	// Last is true when MaxDeliver allows no further delivery.
	Last bool
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the message is dead-lettered.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool { var p permanentError; return errors.As(err, &p) }

// Counters are totals shared by the pools of one instance, reported in its
// status. Handlers add to Duplicates when they recognise a repeat.
type Counters struct {
	Processed, Failed, Retried, DeadLettered, Duplicates atomic.Uint64
}

// Snapshot returns the current totals.
func (c *Counters) Snapshot() contract.Counters {
	return contract.Counters{
		Processed: c.Processed.Load(), Failed: c.Failed.Load(), Retried: c.Retried.Load(),
		DeadLettered: c.DeadLettered.Load(), Duplicates: c.Duplicates.Load(),
	}
}

// Faults is the part of the fault table the pool applies itself.
type Faults interface {
	Roll(kind contract.FaultKind) bool
}

// DefaultRetryDelays is the NAK delay after the n-th failed delivery.
var DefaultRetryDelays = []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

// Config configures a Pool.
type Config struct {
	Service  contract.Service
	Stream   string
	Consumer jetstream.Consumer
	// JetStream publishes dead letters and injected poison messages.
	JetStream jetstream.JetStream
	Workers   int
	Handler   Handler
	GiveUp    GiveUp
	// MaxDeliver and AckWait mirror the consumer's configuration.
	MaxDeliver  int
	AckWait     time.Duration
	RetryDelays []time.Duration
	Counters    *Counters
	Faults      Faults
	Log         *slog.Logger
	// Tracer makes a consumer span for every delivery, the parent of the
	// handler's publishes and calls; nil traces nothing.
	Tracer *sagaspan.Tracer
	// Metrics records how long each delivery took to handle; nil records
	// nothing.
	Metrics *metrics.Instance
}

// Pool is a running pool; see Run.
type Pool struct {
	cfg    Config
	work   chan jetstream.Msg
	busy   atomic.Int64
	mu     sync.Mutex
	inHand map[jetstream.Msg]time.Time // received, not yet acked
}

// New checks cfg and returns a pool ready to Run.
func New(cfg Config) (*Pool, error) {
	if cfg.Consumer == nil || cfg.JetStream == nil || cfg.Handler == nil {
		return nil, errors.New("worker pool needs a consumer, a JetStream context and a handler")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = 5
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if len(cfg.RetryDelays) == 0 {
		cfg.RetryDelays = DefaultRetryDelays
	}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Pool{cfg: cfg, work: make(chan jetstream.Msg, cfg.Workers), inHand: map[jetstream.Msg]time.Time{}}, nil
}

// pullExpiry is how long a pull request waits on the server. The client
// counts a pull lost when neither a message nor a heartbeat came for that
// long. With the library's 30 s, a pull lost under saturation stalled its
// step for about 30 s (seen in a bench window: "no heartbeat received", half
// the window's sagas); 5 s costs one request per idle consumer per 5 s.
const pullExpiry = 5 * time.Second

// pullHeartbeat is how often the server says a pull is alive while it has
// nothing to deliver. The client re-pulls after two missed, so this bounds
// the stall when a consumer's leader dies or moves and its pulls with it:
// the library's default (half the expiry, 2.5 s) made that 5 s in every
// consumer the lost node led (seen as "no heartbeat received" in the
// cluster-node-down scenario), 1 s makes it 2 s for one small message a
// second per idle pull.
const pullHeartbeat = time.Second

// PullOptions are how a pool of workers pulls: no more messages than the
// workers can take, pulls that expire after pullExpiry, heartbeats every
// pullHeartbeat. demo/bench's
// relay pulls alike, so the two compare.
func PullOptions(workers int) []jetstream.PullMessagesOpt {
	return []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(workers), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat)}
}

// Status reports the pool's capacity, busy workers and queued messages.
func (p *Pool) Status() contract.PoolStatus {
	return contract.PoolStatus{Capacity: p.cfg.Workers, Busy: int(p.busy.Load()), Queued: len(p.work)}
}

// Run pulls and handles messages until ctx ends, then stops pulling,
// finishes (and acks) the messages already received and returns. If the
// connection closes under it (a crash), it returns without acking.
func (p *Pool) Run(ctx context.Context) error {
	it, err := p.cfg.Consumer.Messages(PullOptions(p.cfg.Workers)...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", p.cfg.Stream, err)
	}
	// Handlers run on their own context: shutdown lets them finish.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for range p.cfg.Workers {
		workers.Go(func() {
			for msg := range p.work {
				p.handle(work, msg)
			}
		})
	}
	keepAliveDone := make(chan struct{})
	go func() {
		defer close(keepAliveDone)
		p.keepAlive(work)
	}()
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()

	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			p.cfg.Log.WarnContext(ctx, "pull failed, pulling again", "stream", p.cfg.Stream, "error", err)
			continue
		}
		p.hold(msg)
		p.work <- msg
	}
	close(p.work)
	workers.Wait()
	stopWork()
	<-keepAliveDone
	return nil
}

func (p *Pool) hold(msg jetstream.Msg) {
	p.mu.Lock()
	p.inHand[msg] = time.Now()
	p.mu.Unlock()
}

func (p *Pool) release(msg jetstream.Msg) {
	p.mu.Lock()
	delete(p.inHand, msg)
	p.mu.Unlock()
}

// keepAlive tells the server that messages held longer than half of AckWait
// (queued behind a slow dependency, or in a slow handler) are still being
// worked on, so they are not redelivered to another worker meanwhile.
func (p *Pool) keepAlive(ctx context.Context) {
	every := p.cfg.AckWait / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		var old []jetstream.Msg
		now := time.Now()
		for m, since := range p.inHand {
			if now.Sub(since) >= every {
				old = append(old, m)
			}
		}
		p.mu.Unlock()
		for _, m := range old {
			_ = m.InProgress() // best effort: a lost one only means a redelivery
		}
	}
}

func (p *Pool) handle(ctx context.Context, msg jetstream.Msg) {
	p.busy.Add(1)
	defer p.busy.Add(-1)
	defer p.release(msg)
	start := time.Now()

	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream message: nothing to ack.
		p.cfg.Log.WarnContext(ctx, "received a message without JetStream metadata", "subject", msg.Subject(), "error", err)
		return
	}
	// The handler's publishes and calls are children of this span, so the
	// saga's trace continues through every service.
	ctx, span := p.cfg.Tracer.Consume(ctx, msg, meta)
	var spanErr error
	defer func() { sagaspan.End(span, spanErr) }()
	d := Delivery{
		Subject: msg.Subject(), Stream: meta.Stream, Consumer: meta.Consumer,
		Seq: meta.Sequence.Stream, NumDelivered: meta.NumDelivered,
		Last: meta.NumDelivered >= uint64(p.cfg.MaxDeliver),
	}
	env, err := contract.Decode(msg.Subject(), msg.Data())
	if err != nil {
		spanErr = err
		p.deadLetter(ctx, span, msg, d, err.Error())
		p.cfg.Metrics.Handled(ctx, d.Consumer, d.Subject, metrics.ErrMalformed, time.Since(start))
		return
	}
	d.Env = env
	sagaspan.Received(span, sagaspan.Message{ID: env.ID, Type: env.Type, SagaID: env.SagaID, OrderID: env.Order.ID})
	ctx = logging.ContextWithSaga(ctx, env.SagaID)
	// Attributes for the rare lines logged below; built only then.
	about := func(args ...any) []any {
		return append([]any{"saga_id", env.SagaID, "type", env.Type, "delivery", d.NumDelivered}, args...)
	}

	err = p.cfg.Handler(ctx, d)
	errType := ""
	switch {
	case err == nil:
		p.cfg.Counters.Processed.Add(1)
		p.inject(ctx, msg, d)
		if !d.Last && p.cfg.Faults != nil && p.cfg.Faults.Roll(contract.FaultDuplicate) {
			// Injected duplicate: the server delivers it again at once.
			_ = msg.Nak()
			break
		}
		_ = msg.Ack()
	case IsPermanent(err):
		spanErr, errType = err, metrics.ErrPermanent
		p.cfg.Counters.Failed.Add(1)
		p.cfg.Log.WarnContext(ctx, "message refused for good", about("error", err)...)
		p.deadLetter(ctx, span, msg, d, err.Error())
	case d.Last:
		spanErr, errType = err, metrics.ErrGaveUp
		p.cfg.Counters.Failed.Add(1)
		p.cfg.Log.WarnContext(ctx, "giving up after the last delivery", about("error", err)...)
		if p.cfg.GiveUp != nil {
			if gerr := p.cfg.GiveUp(ctx, d, err); gerr != nil {
				// Reporting the failure failed too: leave it to the
				// server's AckWait rather than lose the message.
				p.cfg.Log.ErrorContext(ctx, "could not report the failed step", about("error", gerr)...)
				break
			}
		}
		p.deadLetter(ctx, span, msg, d, fmt.Sprintf("gave up after %d deliveries: %v", d.NumDelivered, err))
	default:
		spanErr, errType = err, metrics.ErrTransient
		p.cfg.Counters.Retried.Add(1)
		delay := p.cfg.RetryDelays[min(int(d.NumDelivered), len(p.cfg.RetryDelays))-1]
		sagaspan.Retrying(span, d.NumDelivered, delay, err)
		p.cfg.Log.DebugContext(ctx, "retrying later", about("delay", delay, "error", err)...)
		_ = msg.NakWithDelay(delay)
	}
	p.cfg.Metrics.Handled(ctx, d.Consumer, d.Subject, errType, time.Since(start))
}

// deadLetter copies msg to the dead-letter stream with the reason, then
// terminates it. If the copy cannot be stored the message is NAKed instead,
// so nothing is lost.
func (p *Pool) deadLetter(ctx context.Context, span trace.Span, msg jetstream.Msg, d Delivery, reason string) {
	sagaspan.DeadLettered(span, reason)
	if prior := msg.Headers().Get(contract.DeadLetterReason); prior != "" {
		// A dead letter delivered back onto a saga subject (a consumer on the
		// dead-letter stream pointed here): it is stored already, and copying
		// it again would feed such a loop for ever.
		p.cfg.Log.WarnContext(ctx, "dead letter replayed onto a saga subject; dropped",
			"subject", d.Subject, "first_reason", truncate(prior, 200))
		_ = msg.TermWithReason("replayed dead letter")
		return
	}
	out := nats.NewMsg(contract.DeadLetterSubject(p.cfg.Service))
	out.Data = msg.Data()
	for k, v := range msg.Headers() {
		if k != contract.MsgIDHeader {
			out.Header[k] = v
		}
	}
	out.Header.Set(contract.DeadLetterReason, reason)
	out.Header.Set(contract.DeadLetterFrom, d.Subject)
	out.Header.Set(contract.DeadLetterFromStream, d.Stream)
	out.Header.Set(contract.DeadLetterSeq, strconv.FormatUint(d.Seq, 10))
	out.Header.Set(contract.DeadLetterConsumer, d.Consumer)
	out.Header.Set(contract.MsgIDHeader, "dead:"+d.Stream+":"+strconv.FormatUint(d.Seq, 10))
	// The copied traceparent is replaced by the dead letter's own span.
	pctx, pspan := sagaspan.Publish(ctx, out)
	ack, err := p.cfg.JetStream.PublishMsg(pctx, out)
	sagaspan.Published(pspan, ack, err)
	if err != nil {
		p.cfg.Log.ErrorContext(ctx, "could not store dead letter; will retry", "subject", d.Subject, "error", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	p.cfg.Counters.DeadLettered.Add(1)
	_ = msg.TermWithReason(truncate(reason, 200))
}

// inject publishes an undecodable copy of msg next to it when the poison
// fault comes up, so the dead-letter path can be watched under load.
func (p *Pool) inject(ctx context.Context, msg jetstream.Msg, d Delivery) {
	if p.cfg.Faults == nil || !p.cfg.Faults.Roll(contract.FaultPoison) {
		return
	}
	poison := nats.NewMsg(d.Subject)
	poison.Data = append([]byte("\x00poison\x1b[31m"), msg.Data()[:min(len(msg.Data()), 32)]...)
	poison.Header.Set(contract.MsgIDHeader, fmt.Sprintf("poison:%s:%d:%d", d.Stream, d.Seq, rand.Uint64()))
	pctx, span := sagaspan.Publish(ctx, poison)
	ack, err := p.cfg.JetStream.PublishMsg(pctx, poison)
	sagaspan.Published(span, ack, err)
	if err != nil {
		p.cfg.Log.WarnContext(ctx, "could not inject poison message", "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
