package feed_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/logging"
	"github.com/sagascope/sagascope/telemetry/tracing"
	"github.com/sagascope/sagascope/tui/feed"
)

// watchTelemetry runs a telemetry feed on nc until the test ends and
// returns a function that gives the latest snapshot sent.
func watchTelemetry(t *testing.T, nc *nats.Conn, opts feed.TelemetryOptions) func() feed.TelemetrySnapshot {
	t.Helper()
	if opts.FrameEvery == 0 {
		opts.FrameEvery = 20 * time.Millisecond
	}
	if opts.ReadEvery == 0 {
		opts.ReadEvery = 100 * time.Millisecond
	}
	f, err := feed.NewTelemetry(nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return latestOf(t, f.Run)
}

// runTracedSystem runs the demo on the server at url with every saga
// traced and logs shipped, as `sagascope demo --trace-ratio 1` does,
// placing load orders a second, until the test ends.
func runTracedSystem(t *testing.T, url string, load float64) {
	t.Helper()
	cfg := systemtest.Config(url, load)
	cfg.Telemetry = systemtest.Telemetry(t, context.Background(), telemetry.Config{Log: cfg.Log})
	systemtest.Run(t, context.Background(), cfg)
}

func TestTelemetryShowsTheDemoSagasAsTracesAndItsLogs(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	// Logs are not stored: the feed listens before the services start, so
	// it hears each one's "started".
	latest := watchTelemetry(t, nc, feed.TelemetryOptions{})
	systemtest.WaitFor(t, systemtest.Quickly, "the feed's first snapshot", func() error {
		if latest().Time.IsZero() {
			return errors.New("none yet")
		}
		return nil
	})
	// The feed subscribed before its first snapshot, on nc: once nc is
	// flushed, the server has the subscription.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	runTracedSystem(t, srv.ClientURL(), 20)
	placeOrder := "publish " + contract.Subject(contract.PlaceOrder)
	var whole *feed.Trace
	systemtest.WaitFor(t, systemtest.Eventually, "a saga's whole trace across every service, and every service's first log line", func() error {
		s := latest()
		if !s.Reading {
			return errors.New("the span stream is not read yet")
		}
		if len(s.Problems) > 0 {
			return fmt.Errorf("problems: %+v", s.Problems)
		}
		whole = nil
		for _, tr := range s.Traces {
			if tr.Root != nil && tr.Root.Name == placeOrder && tr.SagaID != "" && len(tr.Services) == len(contract.Services) {
				whole = tr
				break
			}
		}
		if whole == nil {
			return fmt.Errorf("%d traces, %d spans, none whole yet", len(s.Traces), s.Spans)
		}
		for _, svc := range contract.Services {
			if !slices.ContainsFunc(s.Logs, func(l *feed.LogLine) bool {
				return l.Service == string(svc) && l.Level == feed.LogInfo && l.Message == "started" && l.Instance != ""
			}) {
				return fmt.Errorf("no \"started\" from %s in %d log lines", svc, len(s.Logs))
			}
		}
		return nil
	})
	for _, sp := range whole.Spans {
		if sp.TraceID != whole.ID || sp.Service == "" || sp.Instance == "" || sp.End.Before(sp.Start) {
			t.Errorf("span %+v does not belong to trace %s as decoded", sp, whole.ID)
		}
		if sp.Start.Before(whole.Start) || sp.End.After(whole.End) {
			t.Errorf("span %q lies outside its trace's time", sp.Name)
		}
	}
	s := latest()
	t.Logf("%d traces, %d spans, %d batches; saga %s: %d spans over %v", len(s.Traces), s.Spans, s.Counts.Batches, whole.SagaID, len(whole.Spans), whole.Duration())
}

// spanSource is one service instance's real tracer provider exporting to
// the span stream, as a demo instance has.
type spanSource struct {
	tracer trace.Tracer
	flush  func()
}

func newSpanSource(t *testing.T, js jetstream.JetStream, svc contract.Service, instance string) spanSource {
	t.Helper()
	tp, shutdown, err := tracing.New(t.Context(), tracing.Config{
		Ratio: 1, Service: string(svc), Instance: instance, JetStream: js, Subject: contract.SpanSubject(svc),
		BatchTimeout: 20 * time.Millisecond, Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("tracing shutdown: %v", err)
		}
	})
	return spanSource{tracer: tp.Tracer("test"), flush: func() {
		if err := tp.ForceFlush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}}
}

// telemetryServer is a fresh server with the span stream the topology
// declares, and nothing else.
func telemetryServer(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	i := slices.IndexFunc(topology.Streams(topology.Options{}), func(c jetstream.StreamConfig) bool { return c.Name == contract.TelemetryStream })
	if _, err := js.CreateStream(t.Context(), topology.Streams(topology.Options{})[i]); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func findTrace(s feed.TelemetrySnapshot, id string) *feed.Trace {
	for _, tr := range s.Traces {
		if tr.ID == id {
			return tr
		}
	}
	return nil
}

func TestTelemetryReadsBackRecentSpansThenFollowsLiveWithTheirLogs(t *testing.T) {
	nc, js := telemetryServer(t)
	payment := newSpanSource(t, js, contract.Payment, "pay-1")

	// Before the feed attaches: a failed charge with an event.
	ctx, before := payment.tracer.Start(t.Context(), "process saga.cmd.payment.charge", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("saga.id", "saga-1"), attribute.Int("messaging.nats.message.delivery_count", 2)))
	_, call := payment.tracer.Start(ctx, "charge card", trace.WithSpanKind(trace.SpanKindClient))
	call.AddEvent("breaker rejected", trace.WithAttributes(attribute.String("breaker.name", "gateway")))
	call.SetStatus(codes.Error, "gateway down")
	call.End()
	before.End()
	payment.flush()

	latest := watchTelemetry(t, nc, feed.TelemetryOptions{})
	id := before.SpanContext().TraceID().String()
	systemtest.WaitFor(t, systemtest.Quickly, "the spans published before attach", func() error {
		if tr := findTrace(latest(), id); tr == nil || len(tr.Spans) != 2 {
			return fmt.Errorf("trace %s: %+v", id, tr)
		}
		return nil
	})
	tr := findTrace(latest(), id)
	if tr.SagaID != "saga-1" || tr.Root == nil || tr.Root.Name != "process saga.cmd.payment.charge" || tr.Errors != 1 ||
		!slices.Equal(tr.Services, []string{"payment"}) {
		t.Errorf("trace read back as %+v", tr)
	}
	i := slices.IndexFunc(tr.Spans, func(s *feed.Span) bool { return s.Name == "charge card" })
	if i < 0 {
		t.Fatal("the client span is missing")
	}
	call2 := tr.Spans[i]
	if call2.ParentID != tr.Root.SpanID || call2.Kind != "client" || !call2.Failed() || call2.StatusMessage != "gateway down" ||
		call2.Service != "payment" || call2.Instance != "pay-1" ||
		len(call2.Events) != 1 || call2.Events[0].Name != "breaker rejected" || call2.Events[0].Attrs[0] != (feed.Attr{Key: "breaker.name", Value: "gateway"}) {
		t.Errorf("client span decoded as %+v", call2)
	}

	// After attach: a live span in the same trace, and a warning logged in
	// it and shipped.
	shipper := logging.NewShipper(nc, contract.LogSubject(contract.Payment, "pay-1"), string(contract.Payment), "pay-1", logging.ShipOptions{})
	log := slog.New(shipper)
	ctx, after := payment.tracer.Start(ctx, "publish saga.evt.payment.failed", trace.WithSpanKind(trace.SpanKindProducer))
	log.WarnContext(ctx, "charge refused", "attempt", 3, logging.SagaIDKey, "saga-1")
	after.End()
	payment.flush()
	systemtest.WaitFor(t, systemtest.Quickly, "the live span and the log line naming its trace", func() error {
		s := latest()
		if tr := findTrace(s, id); tr == nil || len(tr.Spans) != 3 {
			return fmt.Errorf("trace %s: %+v", id, tr)
		}
		if len(s.Logs) != 1 {
			return fmt.Errorf("%d log lines", len(s.Logs))
		}
		return nil
	})
	l := latest().Logs[0]
	want := feed.LogLine{Seq: 1, Time: l.Time, Level: "WARN", Message: "charge refused", Service: "payment", Instance: "pay-1",
		TraceID: id, SpanID: after.SpanContext().SpanID().String(), SagaID: "saga-1", Attrs: []feed.Attr{{Key: "attempt", Value: "3"}}}
	if fmt.Sprint(*l) != fmt.Sprint(want) {
		t.Errorf("log line\n got %+v\nwant %+v", *l, want)
	}
}

func TestTelemetryDropsMalformedMessagesAndSanitizesTheRest(t *testing.T) {
	nc, js := telemetryServer(t)
	latest := watchTelemetry(t, nc, feed.TelemetryOptions{})
	systemtest.WaitFor(t, systemtest.Quickly, "the span stream is read", func() error {
		if !latest().Reading {
			return errors.New("not yet")
		}
		return nil
	})
	subject := contract.SpanSubject(contract.Orders)
	publish := func(contentType string, data []byte) {
		t.Helper()
		m := nats.NewMsg(subject)
		if contentType != "" {
			m.Header.Set(contract.ContentTypeHeader, contentType)
		}
		m.Data = data
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	publish(contract.SpanContentType, []byte("\x0a\xff\xff\xff\xff\x0fnot protobuf"))
	publish("application/json", []byte(`{"resourceSpans":[]}`))
	hostile := `{"v":1,"time":"2026-11-24T11:50:57Z","level":"error\u001b[2J","msg":"boom \u001b]52;c;cHduZWQ=\u0007 \u202egnp.exe","service":"orders","instance":"o-1",` +
		`"trace_id":"\u001b[31m","attrs":{"k\u001b[1m":"v\r\nforged line"}}`
	for _, data := range []string{"not json", `{"msg": 12}`, strings.Repeat("x", 100<<10), hostile} {
		if err := nc.Publish(contract.LogSubject(contract.Orders, "o-1"), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	// A good batch, from a real exporter, with hostile text in it.
	orders := newSpanSource(t, js, contract.Orders, "o-\x1b[5m1")
	_, sp := orders.tracer.Start(t.Context(), "place \x1b[2Jorder\n", trace.WithAttributes(attribute.String("note", "\x1b]0;title\x07ok")))
	sp.End()
	orders.flush()

	systemtest.WaitFor(t, systemtest.Quickly, "every message counted", func() error {
		s := latest()
		if c := s.Counts; c.MalformedBatches != 2 || c.Batches != 3 || c.MalformedLogs != 3 || c.Logs != 4 || s.Spans != 1 || len(s.Logs) != 1 {
			return fmt.Errorf("counts %+v, %d spans, %d logs", c, s.Spans, len(s.Logs))
		}
		return nil
	})
	s := latest()
	sp2 := s.Traces[0].Spans[0]
	l := s.Logs[0]
	for _, text := range []string{sp2.Name, sp2.Instance, sp2.Attrs[0].Value, l.Level, l.Message, l.Attrs[0].Key, l.Attrs[0].Value} {
		if strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x202e }) {
			t.Errorf("%q still holds control characters", text)
		}
	}
	if sp2.Name != "place order " || l.TraceID != "" || l.Level != "ERROR" {
		t.Errorf("span named %q, log at %q with trace %q", sp2.Name, l.Level, l.TraceID)
	}
}
