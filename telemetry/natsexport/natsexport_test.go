package natsexport_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/telemetry/internal/natstest"
	"github.com/sagascope/sagascope/telemetry/natsexport"
	"github.com/sagascope/sagascope/telemetry/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prefix starts the tests' span subjects.
const prefix = "saga.v1"

// telemetryStream creates the telemetry stream, as topology does
// (wire.StreamConfig), on a fresh server.
func telemetryStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := natstest.JetStream(t, natstest.Server(t))
	if _, err := js.CreateStream(t.Context(), wire.StreamConfig(prefix, 1)); err != nil {
		t.Fatal(err)
	}
	return js
}

// batches reads every span batch in the telemetry stream.
func batches(t *testing.T, js jetstream.JetStream) []*coltracepb.ExportTraceServiceRequest {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, wire.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*coltracepb.ExportTraceServiceRequest
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("read batch %d: %v", seq, err)
		}
		if got := m.Header.Get(wire.ContentTypeHeader); got != wire.SpanContentType {
			t.Fatalf("batch %d has content type %q, want %q", seq, got, wire.SpanContentType)
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(m.Data, &req); err != nil {
			t.Fatalf("batch %d is not an OTLP ExportTraceServiceRequest: %v", seq, err)
		}
		out = append(out, &req)
	}
	return out
}

// exported is one span as it arrived, with its resource's service name.
type exported struct {
	span    *tracepb.Span
	service string
}

func spansOf(reqs []*coltracepb.ExportTraceServiceRequest) map[string]exported {
	out := map[string]exported{}
	for _, req := range reqs {
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					svc = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out[hex.EncodeToString(s.SpanId)] = exported{s, svc}
				}
			}
		}
	}
	return out
}

// makeSpans records a small trace: a root with a child that fails and one
// with an event, and n more siblings.
func makeSpans(tp trace.TracerProvider, n int) {
	tr := tp.Tracer("test")
	ctx, root := tr.Start(context.Background(), "root", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("saga.id", "order-1"), attribute.Int64("n", 42), attribute.Bool("ok", true)))
	_, failing := tr.Start(ctx, "failing", trace.WithSpanKind(trace.SpanKindConsumer))
	failing.RecordError(errors.New("card declined"))
	failing.SetStatus(codes.Error, "card declined")
	failing.End()
	_, evented := tr.Start(ctx, "evented", trace.WithSpanKind(trace.SpanKindClient))
	evented.AddEvent("breaker rejected", trace.WithAttributes(attribute.String("breaker.name", "gateway")))
	evented.End()
	for i := range n {
		_, s := tr.Start(ctx, fmt.Sprintf("sibling %d", i), trace.WithAttributes(attribute.String("pad", fmt.Sprintf("%0200d", i))))
		s.End()
	}
	root.End()
}

func TestPublishedSpansDecodeAsOTLPAndMatchTheSDK(t *testing.T) {
	tests := []struct {
		name        string
		siblings    int
		opts        []natsexport.Option
		wantBatches func(n int) bool
	}{
		{"a small trace goes out as one batch", 0, nil, func(n int) bool { return n == 1 }},
		{"a batch larger than a message is split, losing nothing", 40, []natsexport.Option{natsexport.WithMaxBytes(2 << 10)}, func(n int) bool { return n > 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := telemetryStream(t)
			exp, err := natsexport.NewExporter(t.Context(), js, wire.SpanSubject(prefix, "payment"), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithBatcher(exp))
			makeSpans(tp, tt.siblings)
			if err := tp.Shutdown(context.Background()); err != nil { // flushes the batch
				t.Fatal(err)
			}

			reqs := batches(t, js)
			if !tt.wantBatches(len(reqs)) {
				t.Fatalf("%d batches in the stream", len(reqs))
			}
			got := spansOf(reqs)
			want := rec.Ended()
			if len(got) != len(want) {
				t.Fatalf("%d spans published, the SDK recorded %d", len(got), len(want))
			}
			for _, w := range want {
				g, ok := got[w.SpanContext().SpanID().String()]
				if !ok {
					t.Fatalf("span %q (%s) was not published", w.Name(), w.SpanContext().SpanID())
				}
				compare(t, w, g.span)
			}
		})
	}
}

// compare fails unless the OTLP span says what the SDK recorded.
func compare(t *testing.T, w sdktrace.ReadOnlySpan, g *tracepb.Span) {
	t.Helper()
	if hex.EncodeToString(g.TraceId) != w.SpanContext().TraceID().String() {
		t.Errorf("%s: trace id %x, want %s", w.Name(), g.TraceId, w.SpanContext().TraceID())
	}
	wantParent := ""
	if w.Parent().IsValid() {
		wantParent = w.Parent().SpanID().String()
	}
	if hex.EncodeToString(g.ParentSpanId) != wantParent {
		t.Errorf("%s: parent %x, want %q", w.Name(), g.ParentSpanId, wantParent)
	}
	if g.Name != w.Name() {
		t.Errorf("name %q, want %q", g.Name, w.Name())
	}
	if int(g.Kind) != int(w.SpanKind()) {
		t.Errorf("%s: kind %v, want %v", w.Name(), g.Kind, w.SpanKind())
	}
	if g.StartTimeUnixNano != uint64(w.StartTime().UnixNano()) || g.EndTimeUnixNano != uint64(w.EndTime().UnixNano()) {
		t.Errorf("%s: times differ", w.Name())
	}
	attrs := map[string]string{}
	for _, a := range g.Attributes {
		attrs[a.Key] = a.Value.String()
	}
	if len(attrs) != len(w.Attributes()) {
		t.Errorf("%s: %d attributes, want %d", w.Name(), len(attrs), len(w.Attributes()))
	}
	for _, a := range w.Attributes() {
		if _, ok := attrs[string(a.Key)]; !ok {
			t.Errorf("%s: attribute %s missing", w.Name(), a.Key)
		}
	}
	if w.Status().Code == codes.Error && (g.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || g.Status.GetMessage() != w.Status().Description) {
		t.Errorf("%s: status %v, want error %q", w.Name(), g.Status, w.Status().Description)
	}
	if len(g.Events) != len(w.Events()) {
		t.Errorf("%s: %d events, want %d", w.Name(), len(g.Events), len(w.Events()))
	}
	for i, e := range w.Events() {
		if i < len(g.Events) && g.Events[i].Name != e.Name {
			t.Errorf("%s: event %q, want %q", w.Name(), g.Events[i].Name, e.Name)
		}
	}
}

func TestUploadFailsWhenTheStreamIsMissing(t *testing.T) {
	js := natstest.JetStream(t, natstest.Server(t))
	c := natsexport.New(js, wire.SpanSubject(prefix, "orders"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := c.UploadTraces(ctx, []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "x"}}}}}})
	if err == nil {
		t.Fatal("upload without a stream succeeded; spans would be lost silently")
	}
}
