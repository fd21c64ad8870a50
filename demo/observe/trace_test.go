package observe_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// checkTrace fails the test unless spans are one saga's whole trace: one
// root, about its place-order message (the load generator's publish, or
// the orders service's consumer span when the message came without a
// usable trace context); every other span's parent recorded in the same
// trace; every consumer span the child of the publish of its message, and
// every publish and dependency call the child of the handler that made it;
// every span about the saga naming it, and every consumer span its order
// (a saga's id is its order's).
func checkTrace(t *testing.T, spans []sdktrace.ReadOnlySpan, rootKind trace.SpanKind) (sagaID string) {
	t.Helper()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		if !s.Parent().IsValid() {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 {
		t.Fatalf("%d roots in the trace, want 1: %s", len(roots), names(roots))
	}
	root := roots[0]
	wantRoot := publishName(contract.PlaceOrder)
	if rootKind == trace.SpanKindConsumer {
		wantRoot = processName(contract.PlaceOrder)
	}
	if root.Name() != wantRoot || root.SpanKind() != rootKind || serviceOf(root) != "orders" {
		t.Fatalf("root is %s %q of %s, want the orders service's %s %q", root.SpanKind(), root.Name(), serviceOf(root), rootKind, wantRoot)
	}
	if root.Status().Code == codes.Error {
		t.Fatalf("root span failed: %v", root.Status())
	}
	sagaID = attr(root, sagaspan.SagaIDKey)
	if sagaID == "" {
		t.Fatal("the root span names no saga")
	}
	for _, s := range spans {
		// A consumer span names the order its message is about, so a
		// backend can find every saga of one order.
		if s.SpanKind() == trace.SpanKindConsumer && attr(s, sagaspan.OrderIDKey) != sagaID {
			t.Fatalf("consumer span %q of %s has order.id %q, want the saga's order %q", s.Name(), serviceOf(s), attr(s, sagaspan.OrderIDKey), sagaID)
		}
		if s == root {
			continue
		}
		p, ok := byID[s.Parent().SpanID()]
		if !ok || s.Parent().TraceID() != root.SpanContext().TraceID() {
			t.Fatalf("%s %q of %s has parent %s, not recorded in the trace", s.SpanKind(), s.Name(), serviceOf(s), s.Parent().SpanID())
		}
		switch s.SpanKind() {
		case trace.SpanKindConsumer:
			want := "publish " + strings.TrimPrefix(s.Name(), "process ")
			if p.Name() != want || p.SpanKind() != trace.SpanKindProducer {
				t.Fatalf("consumer span %q has parent %q, want %q", s.Name(), p.Name(), want)
			}
			for k, v := range map[string]string{
				"messaging.system":              "nats",
				"messaging.destination.name":    strings.TrimPrefix(s.Name(), "process "),
				"messaging.operation.type":      "process",
				"messaging.consumer.group.name": "",
			} {
				got := attr(s, attributeKey(k))
				if got == "" || v != "" && got != v {
					t.Fatalf("consumer span %q: %s = %q, want %q", s.Name(), k, got, v)
				}
			}
			if attr(s, sagaspan.DeliveryCountKey) == "" || attr(s, "messaging.message.id") == "" {
				t.Fatalf("consumer span %q lacks its delivery count or message id", s.Name())
			}
		case trace.SpanKindProducer, trace.SpanKindClient, trace.SpanKindInternal:
			// A step's timeout is the child of the handler that sent the
			// step (or of the previous timeout), and sends compensations.
			handler := p.SpanKind() == trace.SpanKindConsumer || isTimeout(p) && s.SpanKind() != trace.SpanKindClient
			if !handler || serviceOf(p) != serviceOf(s) || s.SpanKind() == trace.SpanKindInternal && !isTimeout(s) {
				t.Fatalf("%s span %q of %s has parent %s %q of %s, want the consumer span of its handler",
					s.SpanKind(), s.Name(), serviceOf(s), p.SpanKind(), p.Name(), serviceOf(p))
			}
		}
		if s.SpanKind() != trace.SpanKindClient {
			if got := attr(s, sagaspan.SagaIDKey); got != sagaID {
				t.Fatalf("span %q names saga %q, want %q", s.Name(), got, sagaID)
			}
		}
	}
	return sagaID
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }

// isTimeout reports whether s is the orchestrator's timeout of a step.
func isTimeout(s sdktrace.ReadOnlySpan) bool {
	return s.SpanKind() == trace.SpanKindInternal && s.Name() == sagaspan.TimeoutSpan && serviceOf(s) == "orders"
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		out = append(out, fmt.Sprintf("%s/%s", serviceOf(s), s.Name()))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// hasEvent reports whether any span has an event named name.
func hasEvent(spans []sdktrace.ReadOnlySpan, name string) bool {
	for _, s := range spans {
		for _, e := range s.Events() {
			if e.Name == name {
				return true
			}
		}
	}
	return false
}

func TestASagaIsOneTraceAcrossEveryService(t *testing.T) {
	r := start(t, 20)
	tests := []struct {
		name   string
		faults []contract.Fault
		// final is the type of the saga's last message.
		final string
		// spans must all be in the trace, as "service/name".
		spans []string
		// events must all be on spans of the trace.
		events []string
	}{
		{
			name: "a completed saga", final: contract.OrderCompleted,
			spans: []string{
				"orders/" + publishName(contract.PlaceOrder), "orders/" + processName(contract.PlaceOrder),
				"orders/" + publishName(contract.ChargePayment), "payment/" + processName(contract.ChargePayment),
				"payment/gateway call", "payment/" + publishName(contract.PaymentCharged), "orders/" + processName(contract.PaymentCharged),
				"orders/" + publishName(contract.ReserveStock), "inventory/" + processName(contract.ReserveStock),
				"inventory/inventory-db call", "inventory/" + publishName(contract.StockReserved), "orders/" + processName(contract.StockReserved),
				"orders/" + publishName(contract.ScheduleShipment), "shipping/" + processName(contract.ScheduleShipment),
				"shipping/carrier call", "shipping/" + publishName(contract.ShipmentScheduled), "orders/" + processName(contract.ShipmentScheduled),
				"orders/" + publishName(contract.OrderCompleted),
			},
		},
		{
			name:   "a saga compensated in reverse after shipping refuses",
			faults: []contract.Fault{{Service: contract.Shipping, Kind: contract.FaultReject, Probability: 1}},
			final:  contract.OrderCancelled,
			spans: []string{
				"shipping/" + processName(contract.ScheduleShipment), "shipping/" + publishName(contract.ShipmentFailed),
				"orders/" + processName(contract.ShipmentFailed),
				"orders/" + publishName(contract.ReleaseStock), "inventory/" + processName(contract.ReleaseStock),
				"inventory/" + publishName(contract.StockReleased), "orders/" + processName(contract.StockReleased),
				"orders/" + publishName(contract.RefundPayment), "payment/" + processName(contract.RefundPayment),
				"payment/" + publishName(contract.PaymentRefunded), "orders/" + processName(contract.PaymentRefunded),
				"orders/" + publishName(contract.OrderCancelled),
			},
		},
		{
			name:   "a saga whose carrier is down retries, meets the open breaker and compensates",
			faults: []contract.Fault{{Service: contract.Shipping, Kind: contract.FaultDependencyDown}},
			final:  contract.OrderCancelled,
			spans: []string{
				"shipping/" + processName(contract.ScheduleShipment), "shipping/carrier call",
				"orders/" + publishName(contract.RefundPayment), "payment/" + processName(contract.RefundPayment),
			},
			events: []string{sagaspan.EventRetry, sagaspan.EventBreakerRejected},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := r.ctl.Reset(ctx); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.faults {
				if _, err := r.ctl.SetFault(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			since := time.Now()
			var spans []sdktrace.ReadOnlySpan
			systemtest.WaitFor(t, systemtest.Eventually, "a saga with "+tt.final+" traced whole", func() error {
				finals := r.find(publishName(tt.final), func(s sdktrace.ReadOnlySpan) bool { return s.StartTime().After(since) })
				for _, f := range finals {
					got := r.spansOf(f.SpanContext().TraceID())
					if hasAll(got, tt.spans) && hasEvents(got, tt.events) && hasRoot(got) {
						spans = got
						return nil
					}
				}
				return fmt.Errorf("%d sagas ended with %s since the faults were set, none traced with every span and event", len(finals), tt.final)
			})
			saga := checkTrace(t, spans, trace.SpanKindProducer)
			// One saga, one trace: no span about it elsewhere.
			for _, s := range r.rec.Ended() {
				if attr(s, sagaspan.SagaIDKey) == saga && s.SpanContext().TraceID() != spans[0].SpanContext().TraceID() {
					t.Fatalf("span %q of saga %s is in another trace", s.Name(), saga)
				}
			}
			if slices.Contains(tt.events, sagaspan.EventRetry) {
				redelivered := false
				for _, s := range spans {
					redelivered = redelivered || s.SpanKind() == trace.SpanKindConsumer && attr(s, sagaspan.DeliveryCountKey) != "1"
				}
				if !redelivered {
					t.Fatal("a retried message left no span of its redelivery")
				}
			}
		})
	}
}

func TestATimedOutStepIsCompensatedInTheSagasTrace(t *testing.T) {
	r := start(t, 5, func(c *system.Config) {
		// Short timeouts, and attempts enough to outlast the pause.
		c.Orders.StepTimeout, c.Orders.SweepEvery, c.Orders.CompensationAttempts = time.Second, 100*time.Millisecond, 10
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Shipping hears nothing for two seconds: scheduling times out and is
	// compensated once it is back.
	pause := contract.Fault{Service: contract.Shipping, Kind: contract.FaultPause, Duration: 2 * time.Second}
	if _, err := r.ctl.SetFault(ctx, pause); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"orders/" + sagaspan.TimeoutSpan, "orders/" + publishName(contract.CancelShipment),
		"shipping/" + processName(contract.CancelShipment), "orders/" + processName(contract.ShipmentCancelled),
		"orders/" + publishName(contract.ReleaseStock), "inventory/" + processName(contract.ReleaseStock),
		"orders/" + publishName(contract.RefundPayment), "payment/" + processName(contract.RefundPayment),
		"orders/" + publishName(contract.OrderCancelled),
	}
	var spans []sdktrace.ReadOnlySpan
	systemtest.WaitFor(t, systemtest.Eventually, "a timed-out saga traced whole", func() error {
		finals := r.find(publishName(contract.OrderCancelled), nil)
		for _, f := range finals {
			if got := r.spansOf(f.SpanContext().TraceID()); hasAll(got, want) && hasRoot(got) {
				spans = got
				return nil
			}
		}
		return fmt.Errorf("%d sagas cancelled, none traced from its placement through its timeout", len(finals))
	})
	checkTrace(t, spans, trace.SpanKindProducer)
}

func TestADeadLetterIsAnEventOnTheSpanOfItsMessage(t *testing.T) {
	r := start(t, 5)
	tests := []struct {
		name string
		// send makes a message that svc dead-letters; match picks the
		// consumer span of it.
		send   func(t *testing.T) (match func(sdktrace.ReadOnlySpan) bool)
		svc    contract.Service
		reason string // in the event's reason
	}{
		{
			name: "an undecodable message", svc: contract.Payment, reason: contract.ErrMalformed.Error(),
			send: func(t *testing.T) func(sdktrace.ReadOnlySpan) bool {
				ctx, cancel := context.WithTimeout(t.Context(), systemtest.Quickly)
				defer cancel()
				if _, err := r.ctl.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultPoison, Probability: 1}); err != nil {
					t.Fatal(err)
				}
				// A poison message names no saga.
				return func(s sdktrace.ReadOnlySpan) bool { return attr(s, sagaspan.SagaIDKey) == "" }
			},
		},
		{
			name: "an event for a saga that does not exist", svc: contract.Orders, reason: "unknown saga",
			send: func(t *testing.T) func(sdktrace.ReadOnlySpan) bool {
				env := r.publish(t, contract.PaymentCharged, "")
				return func(s sdktrace.ReadOnlySpan) bool { return attr(s, sagaspan.SagaIDKey) == env.SagaID }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), systemtest.Quickly)
			defer cancel()
			if err := r.ctl.Reset(ctx); err != nil {
				t.Fatal(err)
			}
			match := tt.send(t)
			deadLetter := "publish " + contract.DeadLetterSubject(tt.svc)
			var span sdktrace.ReadOnlySpan
			var reason string
			systemtest.WaitFor(t, systemtest.Eventually, "a consumer span with a dead-letter event", func() error {
				for _, s := range r.rec.Ended() {
					if s.SpanKind() != trace.SpanKindConsumer || serviceOf(s) != string(tt.svc) || !match(s) {
						continue
					}
					for _, e := range s.Events() {
						if e.Name != sagaspan.EventDeadLettered {
							continue
						}
						span = s
						for _, a := range e.Attributes {
							if a.Key == sagaspan.ReasonKey {
								reason = a.Value.AsString()
							}
						}
						return nil
					}
				}
				return fmt.Errorf("no consumer span of %s with a %q event yet", tt.svc, sagaspan.EventDeadLettered)
			})
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("dead-letter event's reason %q does not mention %q", reason, tt.reason)
			}
			if span.Status().Code != codes.Error {
				t.Errorf("dead-lettered message's span %q has status %v, want an error", span.Name(), span.Status())
			}
			// The copy to the dead-letter stream is published under the
			// span, which ended after it.
			copies := r.find(deadLetter, func(s sdktrace.ReadOnlySpan) bool { return s.Parent().SpanID() == span.SpanContext().SpanID() })
			if len(copies) != 1 || copies[0].SpanKind() != trace.SpanKindProducer {
				t.Errorf("%d %q spans under the dead-lettered message's span %q, want 1 producer span", len(copies), deadLetter, span.Name())
			}
		})
	}
}

// hasRoot reports whether the trace's root span and the parent of every
// span have ended: spans are recorded as they end, and a handler's span
// ends after the publishes made inside it.
func hasRoot(spans []sdktrace.ReadOnlySpan) bool {
	ended := map[trace.SpanID]bool{}
	root := false
	for _, s := range spans {
		ended[s.SpanContext().SpanID()] = true
		root = root || !s.Parent().IsValid()
	}
	for _, s := range spans {
		if s.Parent().IsValid() && !ended[s.Parent().SpanID()] {
			return false
		}
	}
	return root
}

func hasAll(spans []sdktrace.ReadOnlySpan, want []string) bool {
	have := map[string]bool{}
	for _, s := range spans {
		have[serviceOf(s)+"/"+s.Name()] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func hasEvents(spans []sdktrace.ReadOnlySpan, want []string) bool {
	for _, e := range want {
		if !hasEvent(spans, e) {
			return false
		}
	}
	return true
}

func TestSpansPublishedOverNATSMatchWhatTheSDKRecorded(t *testing.T) {
	r := start(t, 20)
	var spans []sdktrace.ReadOnlySpan
	systemtest.WaitFor(t, systemtest.Eventually, "a completed saga traced whole", func() error {
		for _, f := range r.find(publishName(contract.OrderCompleted), nil) {
			if got := r.spansOf(f.SpanContext().TraceID()); hasRoot(got) && len(got) >= 18 {
				spans = got
				return nil
			}
		}
		return fmt.Errorf("no completed saga yet")
	})
	checkTrace(t, spans, trace.SpanKindProducer)
	want := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		want[s.SpanContext().SpanID().String()] = s
	}
	systemtest.WaitFor(t, systemtest.Eventually, "the saga's spans in "+contract.TelemetryStream, func() error {
		got := r.streamSpans(t)
		missing := 0
		for id, w := range want {
			g, ok := got[id]
			if !ok {
				missing++
				continue
			}
			if g.service != serviceOf(w) || g.span.Name != w.Name() || hex.EncodeToString(g.span.TraceId) != w.SpanContext().TraceID().String() ||
				int(g.span.Kind) != int(w.SpanKind()) || len(g.span.Attributes) != len(w.Attributes()) {
				t.Fatalf("published span %s/%q differs from the recorded %s/%q", g.service, g.span.Name, serviceOf(w), w.Name())
			}
			wantParent := ""
			if w.Parent().IsValid() {
				wantParent = w.Parent().SpanID().String()
			}
			if hex.EncodeToString(g.span.ParentSpanId) != wantParent {
				t.Fatalf("published span %q has parent %x, want %s", g.span.Name, g.span.ParentSpanId, wantParent)
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d spans not published yet", missing, len(want))
		}
		return nil
	})
}

type streamSpan struct {
	span    *tracepb.Span
	service string
}

// streamSpans decodes every batch in the telemetry stream; each must be a
// valid OTLP ExportTraceServiceRequest on its service's subject.
func (r *rig) streamSpans(t *testing.T) map[string]streamSpan {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, contract.TelemetryStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]streamSpan{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("read span batch %d: %v", seq, err)
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(m.Data, &req); err != nil {
			t.Fatalf("span batch %d on %s is not OTLP: %v", seq, m.Subject, err)
		}
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					svc = a.GetValue().GetStringValue()
				}
			}
			if m.Subject != contract.SpanSubject(contract.Service(svc)) {
				t.Fatalf("spans of %q published on %s", svc, m.Subject)
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					out[hex.EncodeToString(sp.SpanId)] = streamSpan{sp, svc}
				}
			}
		}
	}
	return out
}

func TestAnUnusableTraceparentStartsANewTraceAndTheSagaCompletes(t *testing.T) {
	r := start(t, 0)
	tests := []struct {
		name, traceparent string
		// traced is false when the header is a valid, unsampled parent:
		// the saga follows its decision and records nothing.
		traced bool
	}{
		{"no traceparent", "", true},
		{"garbage", "garbage", true},
		{"an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", true},
		{"an unsupported version", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"a parent that was not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-00", false},
	}
	ctx, cancel := context.WithTimeout(t.Context(), systemtest.Eventually)
	defer cancel()
	sagas, err := r.js.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := r.publish(t, contract.PlaceOrder, tt.traceparent)
			systemtest.WaitFor(t, systemtest.Eventually, "the saga completed", func() error {
				e, err := sagas.Get(ctx, env.SagaID)
				if err != nil {
					return err
				}
				var s contract.Saga
				if err := json.Unmarshal(e.Value(), &s); err != nil {
					return err
				}
				if s.Status != contract.SagaCompleted {
					return fmt.Errorf("saga is %s", s.Status)
				}
				return nil
			})
			ofSaga := func(s sdktrace.ReadOnlySpan) bool { return attr(s, sagaspan.SagaIDKey) == env.SagaID }
			if !tt.traced {
				// Every service follows the decision, not only the first.
				for _, s := range r.rec.Ended() {
					if ofSaga(s) {
						t.Fatalf("%s/%q recorded under a parent that was not sampled", serviceOf(s), s.Name())
					}
				}
				return
			}
			var spans []sdktrace.ReadOnlySpan
			systemtest.WaitFor(t, systemtest.Eventually, "the saga's completion traced", func() error {
				done := r.find(publishName(contract.OrderCompleted), ofSaga)
				if len(done) == 0 {
					return fmt.Errorf("no %s span yet", contract.OrderCompleted)
				}
				spans = r.spansOf(done[0].SpanContext().TraceID())
				if !hasRoot(spans) {
					return fmt.Errorf("the root of %d spans is not recorded yet", len(spans))
				}
				return nil
			})
			checkTrace(t, spans, trace.SpanKindConsumer)
		})
	}
}
