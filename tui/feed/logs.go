package feed

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// LogLine is one log record a service instance shipped
// (contract.LogRecord), every string sanitized and bounded as in Span.
type LogLine struct {
	// Seq numbers the lines in the order the feed received them, from 1.
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Level    string    `json:"level"`
	Message  string    `json:"msg"`
	Service  string    `json:"service"`
	Instance string    `json:"instance"`
	// TraceID and SpanID are lower-case hex, "" when the line was not
	// logged in a span or the sender's ids were malformed.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	SagaID  string `json:"saga_id,omitempty"`
	Attrs   []Attr `json:"attrs,omitempty"` // sorted by key
	// Dropped is how many records the sender's rate limit held back
	// before this one.
	Dropped uint64 `json:"dropped,omitempty"`
}

// Log levels as slog names them; a record may carry others ("WARN+2").
const (
	LogDebug = "DEBUG"
	LogInfo  = "INFO"
	LogWarn  = "WARN"
	LogError = "ERROR"
)

// maxLogSize bounds a log record the feed decodes; the shipper sends a
// few hundred bytes.
const maxLogSize = 64 << 10

var errLogTooLarge = errors.New("log record too large")

// decodeLog decodes one record published on subject. Service and instance
// fall back to the subject's tokens (contract.LogSubject).
func decodeLog(subject string, data []byte) (*LogLine, error) {
	if len(data) > maxLogSize {
		return nil, fmt.Errorf("decode log record of %d bytes from %s: %w", len(data), sanitize.Line(subject, 80), errLogTooLarge)
	}
	var r contract.LogRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode log record from %s: %w", sanitize.Line(subject, 80), err)
	}
	l := &LogLine{
		Time:     r.Time.UTC(),
		Level:    strings.ToUpper(sanitize.Line(r.Level, 16)),
		Message:  sanitize.Line(r.Message, maxValueWidth),
		Service:  sanitize.Line(string(r.Service), maxNameWidth),
		Instance: sanitize.Line(r.Instance, maxNameWidth),
		TraceID:  traceIDText(r.TraceID),
		SpanID:   spanIDText(r.SpanID),
		SagaID:   sanitize.Line(r.SagaID, maxNameWidth),
		Dropped:  r.Dropped,
	}
	if l.Service == "" || l.Instance == "" {
		// saga.logs.<service>.<instance>
		if rest, ok := strings.CutPrefix(subject, strings.TrimSuffix(contract.LogSubjects, ">")); ok {
			svc, inst, _ := strings.Cut(rest, ".")
			l.Service = cmp.Or(l.Service, sanitize.Line(svc, maxNameWidth))
			l.Instance = cmp.Or(l.Instance, sanitize.Line(inst, maxNameWidth))
		}
	}
	if len(r.Attrs) > 0 {
		keys := make([]string, 0, len(r.Attrs))
		for k := range r.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys[:min(len(keys), maxSpanAttrs)] {
			l.Attrs = append(l.Attrs, Attr{Key: sanitize.Line(k, maxKeyWidth), Value: sanitize.Line(r.Attrs[k], maxValueWidth)})
		}
	}
	return l, nil
}

// traceIDText and spanIDText return id lower-cased if it is a valid W3C
// id in hex (the right length, not all zeroes), else "": an id a view
// offers to open must be one the spans can have.
func traceIDText(id string) string {
	tid, err := trace.TraceIDFromHex(strings.ToLower(id))
	if err != nil {
		return ""
	}
	return tid.String()
}

func spanIDText(id string) string {
	sid, err := trace.SpanIDFromHex(strings.ToLower(id))
	if err != nil {
		return ""
	}
	return sid.String()
}
