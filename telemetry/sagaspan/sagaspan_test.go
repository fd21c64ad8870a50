package sagaspan_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/telemetry/internal/natstest"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
	"github.com/sagascope/sagascope/telemetry/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sagaHeader is the header the tests' tracers read saga ids from, as the
// demo's do from sagaHeader.
const sagaHeader = "Saga-Id"

// provider returns a tracer provider sampling at ratio (parent-based, as
// tracing.New builds it) that records into the returned recorder.
func provider(t *testing.T, ratio float64) (*sagaspan.Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithSpanProcessor(rec))
	tr := sagaspan.NewTracer(tp, sagaspan.WithSagaHeader(sagaHeader))
	t.Cleanup(func() {
		tr.Close()
		_ = tp.Shutdown(context.Background())
	})
	return tr, rec
}

func TestPublishCarriesTheTraceInTheHeaders(t *testing.T) {
	tests := []struct {
		name        string
		ratio       float64
		wantFlags   string // the traceparent's last field
		wantRecords int
	}{
		{"a sampled publish says sampled downstream", 1, "01", 1},
		// An unsampled root must still travel, so that consumers follow
		// its decision instead of sampling parts of the saga anew.
		{"an unsampled publish says not sampled downstream", 0, "00", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec := provider(t, tt.ratio)
			msg := nats.NewMsg("orders.place")
			msg.Header.Set(sagaHeader, "saga-1")
			// A traceparent copied from another message is replaced.
			msg.Header.Set(wire.TraceParentHeader, "00-11111111111111111111111111111111-2222222222222222-01")
			ctx, span := tr.Publish(context.Background(), msg)
			sagaspan.End(span, nil)

			tp := msg.Header.Get(wire.TraceParentHeader)
			sc := trace.SpanContextFromContext(ctx)
			want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + tt.wantFlags
			if tp != want {
				t.Fatalf("traceparent %q, want %q", tp, want)
			}
			if got := len(rec.Ended()); got != tt.wantRecords {
				t.Fatalf("%d spans recorded, want %d", got, tt.wantRecords)
			}
		})
	}
}

func TestPublishWithoutASpanLeavesTheHeadersAlone(t *testing.T) {
	msg := nats.NewMsg("x")
	_, span := sagaspan.Publish(context.Background(), msg)
	sagaspan.End(span, nil)
	if len(msg.Header) != 0 {
		t.Fatalf("headers %v written with tracing off", msg.Header)
	}
	var off *sagaspan.Tracer
	if _, span := off.Publish(context.Background(), msg); span.SpanContext().IsValid() || len(msg.Header) != 0 {
		t.Fatal("a nil Tracer traced a publish")
	}
}

// deliver publishes msg to a fresh stream on a real server and returns it
// as its consumer receives it.
func deliver(t *testing.T, msg *nats.Msg) jetstream.Msg {
	t.Helper()
	js := natstest.JetStream(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{msg.Subject}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestConsumeContinuesThePublishersTrace(t *testing.T) {
	tr, rec := provider(t, 1)
	out := nats.NewMsg("payment.charge")
	out.Header.Set(jetstream.MsgIDHeader, "m-1")
	out.Header.Set(sagaHeader, "saga-1")
	_, pub := tr.Publish(context.Background(), out)
	sagaspan.End(pub, nil)

	in := deliver(t, out)
	meta, err := in.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tr.Consume(context.Background(), in, meta)
	// What the handler calls is a child of the consumer span.
	callErr := errors.New("gateway down")
	if err := sagaspan.Call(ctx, "gateway", func(context.Context) error { return callErr }); err != callErr {
		t.Fatalf("Call returned %v, want the call's own error", err)
	}
	sagaspan.BreakerRejected(ctx, "gateway", time.Second)
	sagaspan.End(span, nil)

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	consumer, call := spans["process "+out.Subject], spans["gateway call"]
	if consumer == nil || call == nil {
		t.Fatalf("spans %v, want a consumer span and a client span", rec.Ended())
	}
	if consumer.Parent().SpanID() != pub.SpanContext().SpanID() || !consumer.Parent().IsRemote() {
		t.Fatalf("consumer span's parent %v, want the remote publish span %v", consumer.Parent(), pub.SpanContext())
	}
	if call.Parent().SpanID() != consumer.SpanContext().SpanID() || call.SpanKind() != trace.SpanKindClient {
		t.Fatalf("call span is a %s child of %v, want a client child of the consumer span", call.SpanKind(), call.Parent())
	}
	if call.Status().Code != codes.Error {
		t.Fatalf("failed call's status %v, want Error", call.Status())
	}
	want := map[string]string{
		"messaging.system": "nats", "messaging.destination.name": out.Subject, "messaging.message.id": "m-1",
		"messaging.consumer.group.name": "worker", string(sagaspan.SagaIDKey): "saga-1",
		string(sagaspan.DeliveryCountKey): "1", string(sagaspan.StreamKey): "T",
	}
	have := map[string]string{}
	for _, a := range consumer.Attributes() {
		have[string(a.Key)] = a.Value.String()
	}
	for k, v := range want {
		if have[k] != v {
			t.Errorf("consumer span %s = %q, want %q", k, have[k], v)
		}
	}
	if ev := consumer.Events(); len(ev) != 1 || ev[0].Name != sagaspan.EventBreakerRejected {
		t.Errorf("consumer span events %v, want one %q", ev, sagaspan.EventBreakerRejected)
	}
}

func TestConsumeStartsANewTraceWhenTheHeaderIsUnusable(t *testing.T) {
	tests := []struct {
		name, traceparent string
	}{
		{"no traceparent", ""},
		{"garbage", "not a trace context"},
		{"an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{"an unknown version with a bad length", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"a truncated span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa-01"},
	}
	// One server for the table: each case publishes its own message.
	js := natstest.JetStream(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec := provider(t, 1)
			out := nats.NewMsg("t.x")
			if tt.traceparent != "" {
				out.Header.Set(wire.TraceParentHeader, tt.traceparent)
			}
			if _, err := js.PublishMsg(ctx, out); err != nil {
				t.Fatal(err)
			}
			in, err := c.Next(jetstream.FetchMaxWait(20 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			meta, err := in.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			_, span := tr.Consume(context.Background(), in, meta)
			sagaspan.End(span, nil)
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans, want the consumer span", len(ended))
			}
			if got := ended[0]; got.Parent().IsValid() || !got.SpanContext().IsValid() || got.Status().Code == codes.Error {
				t.Fatalf("consumer span parent %v valid %v status %v, want a healthy root of a new trace",
					got.Parent(), got.SpanContext().IsValid(), got.Status())
			}
		})
	}
}
