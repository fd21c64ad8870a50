package feed

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/telemetry/wire"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// Span is one finished span, decoded from an OTLP batch on
// contract.SpanSubjects. Unlike the rest of the feed, every string in it is
// already sanitized and bounded (see the max* limits), because a batch
// holds thousands of attributes a view may draw. A Span is never modified
// once decoded.
type Span struct {
	// TraceID, SpanID and ParentID are lower-case hex; ParentID is "" for
	// a root span.
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	// Kind is "producer", "consumer", "client", "server", "internal" or "".
	Kind string `json:"kind,omitempty"`
	// Service and Instance are the resource's service.name and
	// service.instance.id.
	Service  string    `json:"service"`
	Instance string    `json:"instance,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Status is StatusError, StatusOK or "" (unset); StatusMessage says
	// why it failed.
	Status        string `json:"status,omitempty"`
	StatusMessage string `json:"status_message,omitempty"`
	// SagaID is the span's saga.id attribute (telemetry/sagaspan).
	SagaID string      `json:"saga_id,omitempty"`
	Attrs  []Attr      `json:"attrs,omitempty"` // sorted by key
	Events []SpanEvent `json:"events,omitempty"`
	// Dropped counts the attributes and events beyond the limits kept,
	// with those the sender dropped itself.
	Dropped uint32 `json:"dropped,omitempty"`
}

// Span statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Duration is how long the span took.
func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Failed reports whether the span ended with an error status.
func (s *Span) Failed() bool { return s.Status == StatusError }

// Attr is one attribute of a span, a span event or a log line, its value
// formatted as text.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// SpanEvent is something that happened during a span: a breaker
// rejection, a retry, a dead letter, an exception.
type SpanEvent struct {
	Time  time.Time `json:"time"`
	Name  string    `json:"name"`
	Attrs []Attr    `json:"attrs,omitempty"`
}

// Limits on what one decoded span keeps: a span is drawn on one line, its
// detail on one screen. Anything beyond is counted in Span.Dropped.
const (
	maxNameWidth   = 200 // span and event names, service and instance
	maxValueWidth  = 500 // attribute values
	maxKeyWidth    = 100 // attribute keys
	maxSpanAttrs   = 64  // attributes per span or event
	maxSpanEvents  = 32  // events per span
	maxValueDepth  = 3   // nesting of array and map values shown
	maxBatchSize   = 8 << 20
	sagaIDKey      = wire.SagaIDKey
	serviceNameKey = "service.name"
	instanceIDKey  = "service.instance.id"
)

// errBatchTooLarge rejects a span batch larger than any server sends.
var errBatchTooLarge = errors.New("span batch too large")

// decodeSpans decodes one OTLP ExportTraceServiceRequest. Spans without a
// valid trace and span id are skipped and counted in invalid; a batch that
// does not decode is an error.
func decodeSpans(data []byte) (spans []*Span, invalid int, err error) {
	if len(data) > maxBatchSize {
		return nil, 0, fmt.Errorf("decode span batch of %d bytes: %w", len(data), errBatchTooLarge)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return nil, 0, fmt.Errorf("decode span batch: %w", err)
	}
	for _, rs := range req.GetResourceSpans() {
		var service, instance string
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case serviceNameKey:
				service = sanitize.Line(kv.GetValue().GetStringValue(), maxNameWidth)
			case instanceIDKey:
				instance = sanitize.Line(kv.GetValue().GetStringValue(), maxNameWidth)
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s := decodeSpan(sp)
				if s == nil {
					invalid++
					continue
				}
				s.Service, s.Instance = service, instance
				spans = append(spans, s)
			}
		}
	}
	return spans, invalid, nil
}

// decodeSpan converts one OTLP span, or returns nil when its ids are not
// valid.
func decodeSpan(sp *tracepb.Span) *Span {
	if !validTraceID(sp.GetTraceId()) || !validSpanID(sp.GetSpanId()) {
		return nil
	}
	s := &Span{
		TraceID: hex.EncodeToString(sp.GetTraceId()),
		SpanID:  hex.EncodeToString(sp.GetSpanId()),
		Name:    sanitize.Line(sp.GetName(), maxNameWidth),
		Kind:    spanKind(sp.GetKind()),
		Start:   unixNano(sp.GetStartTimeUnixNano()),
		End:     unixNano(sp.GetEndTimeUnixNano()),
		Dropped: sp.GetDroppedAttributesCount() + sp.GetDroppedEventsCount(),
	}
	if validSpanID(sp.GetParentSpanId()) {
		s.ParentID = hex.EncodeToString(sp.GetParentSpanId())
	}
	if s.End.Before(s.Start) {
		s.End = s.Start
	}
	switch sp.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_ERROR:
		s.Status = StatusError
	case tracepb.Status_STATUS_CODE_OK:
		s.Status = StatusOK
	}
	s.StatusMessage = sanitize.Line(sp.GetStatus().GetMessage(), maxValueWidth)
	var dropped int
	s.Attrs, dropped = attrs(sp.GetAttributes())
	s.Dropped += uint32(dropped)
	for _, a := range s.Attrs {
		if a.Key == sagaIDKey {
			s.SagaID = a.Value
		}
	}
	events := sp.GetEvents()
	if len(events) > maxSpanEvents {
		s.Dropped += uint32(len(events) - maxSpanEvents)
		events = events[:maxSpanEvents]
	}
	for _, e := range events {
		ev := SpanEvent{Time: unixNano(e.GetTimeUnixNano()), Name: sanitize.Line(e.GetName(), maxNameWidth)}
		ev.Attrs, dropped = attrs(e.GetAttributes())
		s.Dropped += uint32(dropped)
		s.Events = append(s.Events, ev)
	}
	return s
}

// validTraceID and validSpanID report whether id is a W3C id: the right
// length and not all zeroes.
func validTraceID(id []byte) bool { return len(id) == 16 && trace.TraceID(id).IsValid() }

func validSpanID(id []byte) bool { return len(id) == 8 && trace.SpanID(id).IsValid() }

func unixNano(ns uint64) time.Time {
	if ns > math.MaxInt64 {
		ns = math.MaxInt64
	}
	return time.Unix(0, int64(ns)).UTC()
}

func spanKind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return ""
}

// attrs converts OTLP attributes, sorted by key, keeping at most
// maxSpanAttrs; dropped is how many it left out.
func attrs(kvs []*commonpb.KeyValue) (out []Attr, dropped int) {
	if len(kvs) > maxSpanAttrs {
		dropped = len(kvs) - maxSpanAttrs
		kvs = kvs[:maxSpanAttrs]
	}
	if len(kvs) == 0 {
		return nil, dropped
	}
	out = make([]Attr, 0, len(kvs))
	for _, kv := range kvs {
		var b strings.Builder
		formatValue(&b, kv.GetValue(), 0)
		out = append(out, Attr{Key: sanitize.Line(kv.GetKey(), maxKeyWidth), Value: sanitize.Line(b.String(), maxValueWidth)})
	}
	slices.SortStableFunc(out, func(a, b Attr) int { return strings.Compare(a.Key, b.Key) })
	return out, dropped
}

// formatValue writes v as text: arrays as [a, b], maps as {k=v}. It stops
// at maxValueDepth levels and once the text is longer than any view shows,
// so a hostile value costs little.
func formatValue(b *strings.Builder, v *commonpb.AnyValue, depth int) {
	if b.Len() > 4*maxValueWidth {
		return
	}
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		b.WriteString(x.StringValue[:min(len(x.StringValue), 4*maxValueWidth)])
	case *commonpb.AnyValue_BoolValue:
		b.WriteString(strconv.FormatBool(x.BoolValue))
	case *commonpb.AnyValue_IntValue:
		b.WriteString(strconv.FormatInt(x.IntValue, 10))
	case *commonpb.AnyValue_DoubleValue:
		b.WriteString(strconv.FormatFloat(x.DoubleValue, 'g', -1, 64))
	case *commonpb.AnyValue_BytesValue:
		b.WriteString(hex.EncodeToString(x.BytesValue[:min(len(x.BytesValue), maxValueWidth/2)]))
	case *commonpb.AnyValue_ArrayValue:
		vs := x.ArrayValue.GetValues()
		formatList(b, "[", "]", len(vs), depth, func(i int) { formatValue(b, vs[i], depth+1) })
	case *commonpb.AnyValue_KvlistValue:
		kvs := x.KvlistValue.GetValues()
		formatList(b, "{", "}", len(kvs), depth, func(i int) {
			b.WriteString(kvs[i].GetKey()[:min(len(kvs[i].GetKey()), maxKeyWidth)])
			b.WriteByte('=')
			formatValue(b, kvs[i].GetValue(), depth+1)
		})
	}
}

// formatList writes n items between open and close, comma-separated,
// within formatValue's limits.
func formatList(b *strings.Builder, open, close string, n, depth int, item func(i int)) {
	if depth >= maxValueDepth {
		b.WriteString(open + "…" + close)
		return
	}
	b.WriteString(open)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > 4*maxValueWidth {
			break
		}
		item(i)
	}
	b.WriteString(close)
}
