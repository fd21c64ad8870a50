package natsheader_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/telemetry/natsheader"
)

const (
	validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	validTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	validSpan   = "00f067aa0ba902b7"
)

func header(kv ...string) nats.Header {
	h := nats.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name      string
		h         nats.Header
		wantTrace string // "" means no remote parent: a new trace starts
		wantState string
	}{
		{"a valid traceparent becomes the remote parent", header("traceparent", validParent), validTrace, ""},
		{"tracestate travels with its traceparent", header("traceparent", validParent, "tracestate", "vendor=abc"), validTrace, "vendor=abc"},
		{"a header name in another case is still followed", header("Traceparent", validParent), validTrace, ""},
		{"no headers at all start a new trace", nil, "", ""},
		{"headers without traceparent start a new trace", header("Nats-Msg-Id", "x"), "", ""},
		{"an empty traceparent starts a new trace", header("traceparent", ""), "", ""},
		{"garbage starts a new trace", header("traceparent", "\x00poison\x1b[31m"), "", ""},
		{"an all-zero trace id starts a new trace", header("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "", ""},
		{"an all-zero span id starts a new trace", header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"), "", ""},
		{"version ff is refused", header("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "", ""},
		{"upper-case hex is refused", header("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), "", ""},
		{"a short trace id is refused", header("traceparent", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"), "", ""},
		{"a tracestate alone starts a new trace", header("tracestate", "vendor=abc"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := trace.SpanContextFromContext(natsheader.Extract(context.Background(), tt.h))
			if tt.wantTrace == "" {
				if sc.IsValid() {
					t.Fatalf("extracted %v, want no span context", sc)
				}
				return
			}
			if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != tt.wantTrace || sc.SpanID().String() != validSpan {
				t.Fatalf("extracted %v, want remote trace %s span %s", sc, tt.wantTrace, validSpan)
			}
			if got := sc.TraceState().String(); got != tt.wantState {
				t.Fatalf("tracestate %q, want %q", got, tt.wantState)
			}
		})
	}
}

func TestInjectThenExtractKeepsTheSpanContext(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(validTrace)
	sid, _ := trace.SpanIDFromHex(validSpan)
	ts, _ := trace.ParseTraceState("vendor=abc")
	tests := []struct {
		name  string
		flags trace.TraceFlags
		state trace.TraceState
	}{
		{"a sampled span context", trace.FlagsSampled, trace.TraceState{}},
		{"an unsampled span context keeps its decision", 0, trace.TraceState{}},
		{"a span context with tracestate", trace.FlagsSampled, ts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tt.flags, TraceState: tt.state})
			msg := nats.NewMsg("x")
			natsheader.Inject(trace.ContextWithSpanContext(context.Background(), sc), msg.Header)
			if got := msg.Header.Get("traceparent"); got == "" {
				t.Fatal("no traceparent header written")
			}
			got := trace.SpanContextFromContext(natsheader.Extract(context.Background(), msg.Header))
			if !got.Equal(sc.WithRemote(true)) {
				t.Fatalf("round trip gave %v, want %v", got, sc)
			}
		})
	}
}

func TestInjectWritesNothingWithoutASpan(t *testing.T) {
	msg := nats.NewMsg("x")
	natsheader.Inject(context.Background(), msg.Header)
	if len(msg.Header) != 0 {
		t.Fatalf("headers %v, want none", msg.Header)
	}
}

func TestCarrierReplacesValues(t *testing.T) {
	h := header("traceparent", "old", "traceparent", "older")
	c := natsheader.Carrier(h)
	c.Set("traceparent", validParent)
	if got := h.Values("traceparent"); len(got) != 1 || got[0] != validParent {
		t.Fatalf("values %q, want only the new one", got)
	}
	if keys := c.Keys(); len(keys) != 1 || keys[0] != "traceparent" {
		t.Fatalf("keys %q", keys)
	}
}

// FuzzExtract: whatever a publisher put in the headers, extraction never
// panics, and what it accepts is a remote span context that survives being
// injected again unchanged. The seed corpus is in testdata/fuzz/FuzzExtract.
func FuzzExtract(f *testing.F) {
	f.Add(validParent, "")
	f.Add(validParent, "vendor=abc,other=x")
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		h := nats.Header{}
		h.Set("traceparent", traceparent)
		if tracestate != "" {
			h.Set("tracestate", tracestate)
		}
		sc := trace.SpanContextFromContext(natsheader.Extract(context.Background(), h))
		if !sc.IsValid() {
			return
		}
		if !sc.IsRemote() {
			t.Fatalf("extracted %v is not remote", sc)
		}
		out := nats.Header{}
		natsheader.Inject(trace.ContextWithRemoteSpanContext(context.Background(), sc), out)
		again := trace.SpanContextFromContext(natsheader.Extract(context.Background(), out))
		if !again.Equal(sc) {
			t.Fatalf("re-injected %q gave %v, want %v", out.Get("traceparent"), again, sc)
		}
	})
}

// Extraction runs on every consumed message.
func BenchmarkExtract(b *testing.B) {
	h := header("Nats-Msg-Id", "order:payment.charge", "Saga-Id", "order", "traceparent", validParent)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		natsheader.Extract(ctx, h)
	}
}
