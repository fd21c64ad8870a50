// Package wire is what telemetry puts on NATS, named once for the
// instances that publish it (telemetry/tracing, telemetry/logging) and the
// observers that read it (the dashboard): the span stream and its
// subjects, the span batch and trace headers, the shipped log record and
// the span attributes observers look for.
//
// Spans travel as OTLP protobuf: every message on a span subject is one
// ExportTraceServiceRequest (go.opentelemetry.io/proto/otlp
// collector/trace/v1), the body an OTLP collector accepts over HTTP, with
// Content-Type SpanContentType. They are kept in Stream, bounded by age and
// size, so a dashboard that attaches late still sees the last minutes of
// traces. Logs are core NATS (not stored): one JSON LogRecord per message,
// rate-limited by the sender.
//
// Subjects start with a prefix the caller owns (the demo's is
// contract.Prefix), so telemetry shares the account's namespace without
// knowing who else lives in it. Like demo/contract it holds data and pure
// functions only, and it imports nothing of sagascope's.
package wire

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream keeps recent span batches.
const Stream = "SAGA_TELEMETRY"

// Limits of Stream: old batches are discarded first.
const (
	StreamMaxAge   = 10 * time.Minute
	StreamMaxBytes = 64 << 20
)

// StreamConfig is Stream as the server should hold it, for the spans
// under prefix, with replicas copies (0 means 1).
func StreamConfig(prefix string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "sagascope finished spans (OTLP protobuf), kept briefly so a dashboard that attaches late sees recent traces",
		Subjects:    []string{SpanSubjects(prefix)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		MaxBytes:    StreamMaxBytes,
		Replicas:    replicas,
		AllowDirect: true,
	}
}

// SpanSubject is where instances of service publish their finished spans.
func SpanSubject(prefix, service string) string { return prefix + spanTokens + service }

// SpanSubjects matches every service's spans under prefix; it is Stream's
// subject.
func SpanSubjects(prefix string) string { return prefix + spanTokens + ">" }

// LogSubject is where one instance of service ships its log records.
func LogSubject(prefix, service, instance string) string {
	return prefix + logTokens + service + "." + instance
}

// LogSubjects matches every instance's logs under prefix.
func LogSubjects(prefix string) string { return prefix + logTokens + ">" }

// The tokens after the prefix of span and log subjects.
const (
	spanTokens = ".telemetry.spans."
	logTokens  = ".logs."
)

// Span batch headers.
const (
	ContentTypeHeader = "Content-Type"
	// SpanContentType is the content type of a span batch: a binary
	// protobuf ExportTraceServiceRequest.
	SpanContentType = "application/x-protobuf"
)

// W3C trace context headers, set on every traced message, so one
// request's work is one trace across every process that handles it.
const (
	TraceParentHeader = "traceparent"
	TraceStateHeader  = "tracestate"
)

// SagaIDKey is the span attribute naming the saga a span is part of; the
// dashboard groups traces by it.
const SagaIDKey = "saga.id"

// LogVersion is the schema version of LogRecord (its V).
const LogVersion = 1

// LogRecord is one shipped log line. Records at warn and above are shipped,
// and a sample of info; both are rate-limited by the sender, and Dropped
// says how many records the limit held back since the previous one shipped.
type LogRecord struct {
	V        int       `json:"v"`
	Time     time.Time `json:"time"`
	Level    string    `json:"level"` // DEBUG, INFO, WARN, ERROR (slog's names)
	Message  string    `json:"msg"`
	Service  string    `json:"service"`
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
