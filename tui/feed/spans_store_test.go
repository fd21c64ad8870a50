package feed

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Date(2026, 11, 24, 11, 50, 0, 0, time.UTC)

// span makes span n of trace tr, parented by parent ("" for a root).
func span(tr, id, parent, service string, at time.Duration) *Span {
	return &Span{TraceID: tr, SpanID: id, ParentID: parent, Name: "op " + id, Service: service, Start: t0.Add(at), End: t0.Add(at + time.Millisecond)}
}

func TestTraceStoreGroupsSpansAndEvictsTheOldestTracesWhole(t *testing.T) {
	tests := []struct {
		name       string
		maxSpans   int
		maxTraces  int
		spans      []*Span
		wantTraces []string // newest start first
		wantSpans  int
	}{
		{
			name: "spans of one trace are grouped whatever their order", maxSpans: 10, maxTraces: 10,
			spans:      []*Span{span("a", "2", "1", "payment", 2), span("b", "1", "", "orders", 5), span("a", "1", "", "orders", 1)},
			wantTraces: []string{"b", "a"}, wantSpans: 3,
		},
		{
			name: "over the span budget the trace seen first goes whole", maxSpans: 3, maxTraces: 10,
			spans:      []*Span{span("a", "1", "", "orders", 1), span("a", "2", "1", "orders", 2), span("b", "1", "", "orders", 3), span("b", "2", "1", "orders", 4)},
			wantTraces: []string{"b"}, wantSpans: 2,
		},
		{
			name: "over the trace budget the trace seen first goes", maxSpans: 100, maxTraces: 2,
			spans:      []*Span{span("c", "1", "", "orders", 9), span("a", "1", "", "orders", 1), span("b", "1", "", "orders", 2)},
			wantTraces: []string{"b", "a"}, wantSpans: 2,
		},
		{
			name: "a repeated span is counted once", maxSpans: 10, maxTraces: 10,
			spans:      []*Span{span("a", "1", "", "orders", 1), span("a", "1", "", "orders", 1)},
			wantTraces: []string{"a"}, wantSpans: 1,
		},
		{
			name: "one trace over the budget is kept while it is the newest", maxSpans: 1, maxTraces: 1,
			spans:      []*Span{span("a", "1", "", "orders", 1), span("a", "2", "1", "orders", 2)},
			wantTraces: []string{"a"}, wantSpans: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTraceStore(tt.maxSpans, tt.maxTraces)
			for _, sp := range tt.spans {
				s.add(sp, t0)
			}
			var got []string
			n := 0
			for _, tr := range s.traces() {
				got = append(got, tr.ID)
				n += len(tr.Spans)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantTraces) || n != tt.wantSpans || s.spans != tt.wantSpans {
				t.Errorf("traces %v with %d spans (store counts %d), want %v with %d", got, n, s.spans, tt.wantTraces, tt.wantSpans)
			}
		})
	}
}

// A view keeps a snapshot's traces while the feed goes on: what it holds
// must not change under it (go test -race checks the reads too).
func TestTraceStoreNeverChangesATraceHandedOut(t *testing.T) {
	s := newTraceStore(100, 100)
	s.add(span("a", "2", "1", "payment", 2), t0)
	before := s.traces()[0]
	s.add(span("a", "1", "", "orders", 1), t0)
	s.add(&Span{TraceID: "a", SpanID: "3", ParentID: "1", Service: "inventory", Status: StatusError, Start: t0, End: t0.Add(time.Second)}, t0)
	after := s.traces()[0]
	if len(before.Spans) != 1 || before.Root != nil || before.Errors != 0 || fmt.Sprint(before.Services) != "[payment]" || before.Duration() != time.Millisecond {
		t.Errorf("the trace handed out changed: %+v", before)
	}
	if len(after.Spans) != 3 || after.Root == nil || after.Root.SpanID != "1" || after.Errors != 1 ||
		fmt.Sprint(after.Services) != "[inventory orders payment]" || after.Duration() != time.Second || after.Name() != "op 1" {
		t.Errorf("the new version is %+v", after)
	}
}

func otlpBatch(spans ...*tracepb.Span) []byte {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "pay\x1b[31mment"}}},
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}})
	if err != nil {
		panic(err)
	}
	return b
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func nested(depth int) *commonpb.AnyValue {
	v := str("leaf")
	for range depth {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{v, str("x")}}}}
	}
	return v
}

var (
	traceID = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID  = []byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func TestDecodeSpansKeepsWhatAViewCanShow(t *testing.T) {
	many := make([]*commonpb.KeyValue, maxSpanAttrs+10)
	for i := range many {
		many[i] = &commonpb.KeyValue{Key: fmt.Sprintf("k%03d", i), Value: str("v")}
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr bool
		invalid int
		check   func(t *testing.T, s []*Span)
	}{
		{name: "bytes that are not protobuf are an error", data: []byte("\xff\xff\xff\xff"), wantErr: true},
		{name: "an empty batch has no span", data: otlpBatch()},
		{
			name: "spans without valid ids are skipped", invalid: 3,
			data: otlpBatch(&tracepb.Span{TraceId: traceID[:8], SpanId: spanID}, &tracepb.Span{TraceId: make([]byte, 16), SpanId: spanID}, &tracepb.Span{TraceId: traceID}),
		},
		{
			name: "text is sanitized and ids are hex",
			data: otlpBatch(&tracepb.Span{TraceId: traceID, SpanId: spanID, ParentSpanId: make([]byte, 8), Name: "charge\x1b]0;pwned\x07 card\n",
				Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "\x1b[2Jdeclined"},
				Kind:   tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: 2e9, EndTimeUnixNano: 1e9,
				Attributes: []*commonpb.KeyValue{{Key: "saga.id", Value: str("s\x1b[1m1")}}}),
			check: func(t *testing.T, s []*Span) {
				sp := s[0]
				if sp.TraceID != "0102030405060708090a0b0c0d0e0f10" || sp.SpanID != "0102030405060708" || sp.ParentID != "" ||
					sp.Name != "charge card " || sp.Service != "payment" || sp.StatusMessage != "declined" || !sp.Failed() ||
					sp.Kind != "client" || sp.SagaID != "s1" || sp.Duration() != 0 {
					t.Errorf("decoded %+v", sp)
				}
			},
		},
		{
			name: "attributes beyond the limit are counted, not kept, and deep values are cut",
			data: otlpBatch(&tracepb.Span{TraceId: traceID, SpanId: spanID, DroppedAttributesCount: 5,
				Attributes: append(many, &commonpb.KeyValue{Key: "deep", Value: nested(1000)}),
				Events:     make([]*tracepb.Span_Event, maxSpanEvents+1)}),
			check: func(t *testing.T, s []*Span) {
				sp := s[0]
				if len(sp.Attrs) != maxSpanAttrs || len(sp.Events) != maxSpanEvents || sp.Dropped != 5+11+1 {
					t.Errorf("%d attributes, %d events, %d dropped", len(sp.Attrs), len(sp.Events), sp.Dropped)
				}
			},
		},
		{
			name: "nested values show a few levels",
			data: otlpBatch(&tracepb.Span{TraceId: traceID, SpanId: spanID, Attributes: []*commonpb.KeyValue{{Key: "deep", Value: nested(5)}, {Key: "long", Value: str(strings.Repeat("é", 10_000))}}}),
			check: func(t *testing.T, s []*Span) {
				if got := s[0].Attrs[0].Value; got != "[[[[…], x], x], x]" {
					t.Errorf("deep value shown as %q", got)
				}
				if got := s[0].Attrs[1].Value; len([]rune(got)) != maxValueWidth {
					t.Errorf("a long value is %d runes, want %d", len([]rune(got)), maxValueWidth)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, invalid, err := decodeSpans(tt.data)
			if (err != nil) != tt.wantErr || invalid != tt.invalid {
				t.Fatalf("error %v, %d invalid; want error %v, %d invalid", err, invalid, tt.wantErr, tt.invalid)
			}
			if tt.check != nil {
				if len(spans) != 1 {
					t.Fatalf("%d spans, want 1", len(spans))
				}
				tt.check(t, spans)
			}
		})
	}
}

// The cost of decoding the spans of one saga's batch, and of storing them.
func BenchmarkDecodeSpans(b *testing.B) {
	var spans []*tracepb.Span
	for i := range 20 {
		id := append([]byte(nil), spanID...)
		id[7] = byte(i + 1)
		spans = append(spans, &tracepb.Span{TraceId: traceID, SpanId: id, ParentSpanId: spanID, Name: "process saga.cmd.payment.charge",
			StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Kind: tracepb.Span_SPAN_KIND_CONSUMER,
			Attributes: []*commonpb.KeyValue{{Key: "saga.id", Value: str("XNJbPHglQt6FHNvwKCeEV3")}, {Key: "messaging.system", Value: str("nats")},
				{Key: "messaging.destination.name", Value: str("saga.cmd.payment.charge")}, {Key: "messaging.nats.stream.sequence", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 12345}}}}})
	}
	data := otlpBatch(spans...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeSpans(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20, "ns/span")
}
