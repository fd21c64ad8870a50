package contract

import "github.com/sagascope/sagascope/telemetry/wire"

// Telemetry: what every service instance publishes so observers can follow
// sagas as traces and read recent warnings without scraping each process.
// Telemetry owns that wire (telemetry/wire: the stream, the span and log
// subjects under a prefix, the headers, the log record); these are the
// demo's names for it, under Prefix.

// TelemetryStream keeps recent span batches.
const TelemetryStream = wire.Stream

// Limits of TelemetryStream: old batches are discarded first.
const (
	TelemetryMaxAge   = wire.StreamMaxAge
	TelemetryMaxBytes = wire.StreamMaxBytes
)

// SpanSubject is where instances of svc publish their finished spans.
func SpanSubject(svc Service) string { return wire.SpanSubject(Prefix, string(svc)) }

// SpanSubjects matches every service's spans; it is TelemetryStream's
// subject.
var SpanSubjects = wire.SpanSubjects(Prefix)

// Span batch headers.
const (
	ContentTypeHeader = wire.ContentTypeHeader
	SpanContentType   = wire.SpanContentType
)

// W3C trace context headers, set on every saga message, dead letter and
// placed order, so one order's saga is one trace across all services.
const (
	TraceParentHeader = wire.TraceParentHeader
	TraceStateHeader  = wire.TraceStateHeader
)

// LogSubject is where one instance of svc ships its log records.
func LogSubject(svc Service, instance string) string {
	return wire.LogSubject(Prefix, string(svc), instance)
}

// LogSubjects matches every instance's logs.
var LogSubjects = wire.LogSubjects(Prefix)

// LogRecord is one shipped log line (wire.LogRecord).
type LogRecord = wire.LogRecord
