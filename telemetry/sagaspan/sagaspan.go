// Package sagaspan makes the spans of a saga, following the OpenTelemetry
// messaging semantic conventions: a producer span for every publish, a
// consumer span for every handled message, client spans for calls to
// dependencies, and span events for breaker rejections, retries and dead
// letters. Trace context travels in message headers (natsheader), so one
// order's saga is one trace across every service.
//
// Everything here is cheap when tracing is off: a nil *Tracer, or a context
// without a span, makes every function return at once without allocating.
package sagaspan

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/telemetry/natsheader"
	"github.com/sagascope/sagascope/telemetry/wire"
)

// ScopeName is the instrumentation scope of every span made here.
const ScopeName = "github.com/sagascope/sagascope/telemetry/sagaspan"

// Attributes beyond the semantic conventions. NATS has no registered
// messaging attributes of its own; these follow the convention's
// messaging.<system>.* pattern.
const (
	SagaIDKey        = attribute.Key(wire.SagaIDKey)
	OrderIDKey       = attribute.Key("order.id")
	MessageTypeKey   = attribute.Key("saga.message.type")
	StreamKey        = attribute.Key("messaging.nats.stream")
	SequenceKey      = attribute.Key("messaging.nats.stream.sequence")
	DeliveryCountKey = attribute.Key("messaging.nats.message.delivery_count")
	DuplicateKey     = attribute.Key("messaging.nats.duplicate")
	BreakerKey       = attribute.Key("breaker.name")
	RetryDelayKey    = attribute.Key("retry.delay_ms")
	ReasonKey        = attribute.Key("reason")
)

// TimeoutSpan names the orchestrator's span for timing out a saga's step
// in flight; the compensations it sends are its children.
const TimeoutSpan = "saga timeout"

// Span event names.
const (
	EventBreakerRejected = "breaker rejected"
	EventRetry           = "retry scheduled"
	EventDeadLettered    = "dead-lettered"
)

var (
	systemNATS = semconv.MessagingSystemKey.String("nats")

	consumerStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	producerStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	clientStart   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

	// noSpan is returned when there is nothing to trace: ending it or
	// setting attributes on it does nothing.
	noSpan = trace.SpanFromContext(context.Background())
)

// Tracer starts one service instance's spans. A nil *Tracer traces nothing.
// It is safe for concurrent use.
type Tracer struct {
	tp         trace.TracerProvider
	tracer     trace.Tracer
	sagaHeader string
}

// Option configures a Tracer.
type Option func(*Tracer)

// WithSagaHeader names the message header carrying a message's saga id
// (the demo's contract.SagaHeader): publish and consumer spans of
// messages with it get SagaIDKey. Without it only Received sets SagaIDKey.
func WithSagaHeader(name string) Option { return func(t *Tracer) { t.sagaHeader = name } }

// tracers maps the providers of live Tracers to them, so the package-level
// functions find the Tracer of the span in a context without asking the
// provider (a lock and a map lookup) on every message.
var tracers sync.Map // trace.TracerProvider -> *Tracer

// NewTracer returns a Tracer on tp, or nil when tp is nil. Close it when tp
// is shut down.
func NewTracer(tp trace.TracerProvider, opts ...Option) *Tracer {
	if tp == nil {
		return nil
	}
	t := &Tracer{tp: tp, tracer: tp.Tracer(ScopeName)}
	for _, o := range opts {
		o(t)
	}
	tracers.Store(tp, t)
	return t
}

// Close forgets t; spans already started end normally.
func (t *Tracer) Close() {
	if t != nil {
		tracers.CompareAndDelete(t.tp, t)
	}
}

// fromContext returns the Tracer of ctx's span, or nil when ctx has no
// valid span (tracing is off upstream). A span from a provider no live
// Tracer wraps gets a Tracer without options.
func fromContext(ctx context.Context) *Tracer {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return nil
	}
	tp := span.TracerProvider()
	if t, ok := tracers.Load(tp); ok {
		return t.(*Tracer)
	}
	return &Tracer{tp: tp, tracer: tp.Tracer(ScopeName)}
}

// setMessageIDs tags span with h's message id and, when t knows the
// header, its saga id.
func (t *Tracer) setMessageIDs(span trace.Span, h nats.Header) {
	if id := h.Get(jetstream.MsgIDHeader); id != "" {
		span.SetAttributes(semconv.MessagingMessageID(id))
	}
	if t.sagaHeader == "" {
		return
	}
	if saga := h.Get(t.sagaHeader); saga != "" {
		span.SetAttributes(SagaIDKey.String(saga))
	}
}

// Consume starts the consumer span of handling msg. Its parent is the trace
// context in msg's headers; a missing or malformed traceparent starts a new
// trace, never an error. End it with End.
func (t *Tracer) Consume(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	h := msg.Headers()
	subject := msg.Subject()
	ctx, span := t.tracer.Start(natsheader.Extract(ctx, h), processNames.of(subject), consumerStart...)
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		systemNATS,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(subject),
		semconv.MessagingMessageBodySize(len(msg.Data())),
	)
	t.setMessageIDs(span, h)
	if meta != nil {
		span.SetAttributes(
			semconv.MessagingConsumerGroupName(meta.Consumer),
			StreamKey.String(meta.Stream),
			SequenceKey.Int64(int64(meta.Sequence.Stream)),
			DeliveryCountKey.Int64(int64(meta.NumDelivered)),
		)
	}
	return ctx, span
}

// Message is what a consumer span learns from a decoded message.
type Message struct {
	// ID is the message's id (messaging.message.id), Type its type
	// (MessageTypeKey); SagaID and OrderID name the saga and order it is
	// about.
	ID, Type, SagaID, OrderID string
}

// Received tags a consumer span with the decoded message.
func Received(span trace.Span, m Message) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		MessageTypeKey.String(m.Type),
		SagaIDKey.String(m.SagaID),
		OrderIDKey.String(m.OrderID),
		semconv.MessagingMessageID(m.ID),
	)
}

// Publish starts the producer span of msg as a child of the span in ctx,
// and writes its trace context into msg's headers (replacing any copied
// from another message). Without a span in ctx it does nothing: tracing is
// off. End the span with Published or End.
func Publish(ctx context.Context, msg *nats.Msg) (context.Context, trace.Span) {
	t := fromContext(ctx)
	if t == nil {
		return ctx, noSpan
	}
	return t.publish(ctx, msg)
}

// Publish starts the producer span of msg with t: a child of the span in
// ctx if there is one, else the root of a new trace (the load generator's
// place-order publish roots each saga). It writes the trace context into
// msg's headers.
func (t *Tracer) Publish(ctx context.Context, msg *nats.Msg) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	return t.publish(ctx, msg)
}

func (t *Tracer) publish(ctx context.Context, msg *nats.Msg) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, publishNames.of(msg.Subject), producerStart...)
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	// Injected whether or not the span records: an unsampled parent's
	// context (flags 00) tells every consumer downstream not to sample
	// either, so a saga is traced whole or not at all.
	natsheader.Inject(ctx, msg.Header)
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		systemNATS,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(msg.Subject),
		semconv.MessagingMessageBodySize(len(msg.Data)),
	)
	t.setMessageIDs(span, msg.Header)
	return ctx, span
}

// Published ends a producer span with the stream's answer: where the
// message was stored, or that the stream dropped it as a duplicate (an
// idempotent re-publish), or err.
func Published(span trace.Span, ack *jetstream.PubAck, err error) {
	if span.IsRecording() && ack != nil {
		span.SetAttributes(StreamKey.String(ack.Stream), SequenceKey.Int64(int64(ack.Sequence)), DuplicateKey.Bool(ack.Duplicate))
	}
	End(span, err)
}

// End ends span, marking it failed with err's text when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Call runs call inside a client span for the dependency peer ("gateway",
// "carrier", "inventory-db") under the span in ctx, and returns call's
// error unchanged. Without a span in ctx it only runs call.
func Call(ctx context.Context, peer string, call func(context.Context) error) error {
	t := fromContext(ctx)
	if t == nil {
		return call(ctx)
	}
	ctx, span := t.tracer.Start(ctx, peer+" call", clientStart...)
	if span.IsRecording() {
		span.SetAttributes(semconv.ServicePeerName(peer))
	}
	err := call(ctx)
	End(span, err)
	return err
}

// Wrap returns call traced by Call. Build it once and reuse it.
func Wrap(peer string, call func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return Call(ctx, peer, call) }
}

// WrapGuard returns guard (a function that runs fn while holding a
// dependency, such as a database connection) traced by Call: the client
// span covers waiting for the dependency and fn.
func WrapGuard(peer string, guard func(context.Context, func(context.Context) error) error) func(context.Context, func(context.Context) error) error {
	return func(ctx context.Context, fn func(context.Context) error) error {
		return Call(ctx, peer, func(ctx context.Context) error { return guard(ctx, fn) })
	}
}

// BreakerRejected records on the span in ctx that breaker refused a call
// without making it; retryIn is when it lets a probe through.
func BreakerRejected(ctx context.Context, breaker string, retryIn time.Duration) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventBreakerRejected, trace.WithAttributes(BreakerKey.String(breaker), RetryDelayKey.Int64(retryIn.Milliseconds())))
}

// Retrying records on a consumer span that its message failed transiently
// and will be delivered again after delay.
func Retrying(span trace.Span, delivery uint64, delay time.Duration, cause error) {
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventRetry, trace.WithAttributes(
		DeliveryCountKey.Int64(int64(delivery)), RetryDelayKey.Int64(delay.Milliseconds()), ReasonKey.String(cause.Error())))
}

// DeadLettered records on a consumer span that its message was copied to
// the dead-letter stream and terminated.
func DeadLettered(span trace.Span, reason string) {
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventDeadLettered, trace.WithAttributes(ReasonKey.String(reason)))
}

// Internal starts a span of t that is not about a message, such as the
// orchestrator's timeout sweep; a child of the span in ctx, or a new trace.
func (t *Tracer) Internal(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	ctx, span := t.tracer.Start(ctx, name)
	if len(attrs) > 0 && span.IsRecording() {
		span.SetAttributes(attrs...)
	}
	return ctx, span
}
