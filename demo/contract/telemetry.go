package contract

import "time"

// Telemetry: what every service instance publishes so observers can follow
// sagas as traces and read recent warnings without scraping each process.
//
// Spans travel as OTLP protobuf: every message on a span subject is one
// ExportTraceServiceRequest (go.opentelemetry.io/proto/otlp
// collector/trace/v1), the body an OTLP collector accepts over HTTP, with
// Content-Type SpanContentType. They are kept in TelemetryStream, bounded by
// age and size, so a dashboard that attaches late still sees the last
// minutes of traces. Logs are core NATS (not stored): one JSON LogRecord per
// message, rate-limited by the sender.

// TelemetryStream keeps recent span batches.
const TelemetryStream = "SAGA_TELEMETRY"

// Limits of TelemetryStream: old batches are discarded first.
const (
	TelemetryMaxAge   = 10 * time.Minute
	TelemetryMaxBytes = 64 << 20
)

// SpanSubject is where instances of svc publish their finished spans.
func SpanSubject(svc Service) string { return Prefix + ".telemetry.spans." + string(svc) }

// SpanSubjects matches every service's spans; it is TelemetryStream's
// subject.
const SpanSubjects = Prefix + ".telemetry.spans.>"

// Span batch headers.
const (
	ContentTypeHeader = "Content-Type"
	// SpanContentType is the content type of a span batch: a binary
	// protobuf ExportTraceServiceRequest.
	SpanContentType = "application/x-protobuf"
)

// W3C trace context headers, set on every saga message, dead letter and
// placed order, so one order's saga is one trace across all services.
const (
	TraceParentHeader = "traceparent"
	TraceStateHeader  = "tracestate"
)

// LogSubject is where one instance of svc ships its log records.
func LogSubject(svc Service, instance string) string {
	return Prefix + ".logs." + string(svc) + "." + instance
}

// LogSubjects matches every instance's logs.
const LogSubjects = Prefix + ".logs.>"

// LogRecord is one shipped log line. Records at warn and above are shipped,
// and a sample of info; both are rate-limited by the sender, and Dropped
// says how many records the limit held back since the previous one shipped.
type LogRecord struct {
	V        int       `json:"v"`
	Time     time.Time `json:"time"`
	Level    string    `json:"level"` // DEBUG, INFO, WARN, ERROR (slog's names)
	Message  string    `json:"msg"`
	Service  Service   `json:"service"`
	Instance string    `json:"instance"`
	// TraceID and SpanID (hex) name the span the line was logged in, if
	// any; SagaID the saga whose message was being handled.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	SagaID  string `json:"saga_id,omitempty"`
	// Attrs are the record's other attributes, formatted as text; groups
	// are flattened into dotted keys.
	Attrs   map[string]string `json:"attrs,omitempty"`
	Dropped uint64            `json:"dropped,omitempty"`
}
