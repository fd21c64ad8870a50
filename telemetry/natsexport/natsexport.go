// Package natsexport exports finished spans over NATS: it is an
// otlptrace.Client, so the official SDK-to-OTLP transform builds the
// protobuf, and each batch is published to a JetStream subject as one OTLP
// ExportTraceServiceRequest (wire.SpanContentType). Observers read the
// subject's stream; nothing here knows who they are.
package natsexport

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/telemetry/wire"
)

// ErrSpanTooLarge is returned when a single span does not fit in a message.
var ErrSpanTooLarge = errors.New("span larger than the largest message the server accepts")

// headroom is left under the server's max payload for the headers.
const headroom = 1 << 10

// Client publishes span batches to one subject. It is safe for concurrent
// use, as otlptrace requires; its Start and Stop do nothing, because it
// borrows a connection its caller owns and closes.
type Client struct {
	js       jetstream.JetStream
	subject  string
	maxBytes int
}

var _ otlptrace.Client = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithMaxBytes caps the size of one published message (default: the
// server's max payload less 1 KiB for headers). A batch encoding to more is
// split into several messages.
func WithMaxBytes(n int) Option { return func(c *Client) { c.maxBytes = n } }

// New returns a Client publishing to subject through js. The stream holding
// subject must exist (telemetry's is wire.StreamConfig).
func New(js jetstream.JetStream, subject string, opts ...Option) *Client {
	c := &Client{js: js, subject: subject}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NewExporter returns a started span exporter publishing through js to
// subject, for a BatchSpanProcessor.
func NewExporter(ctx context.Context, js jetstream.JetStream, subject string, opts ...Option) (*otlptrace.Exporter, error) {
	exp, err := otlptrace.New(ctx, New(js, subject, opts...))
	if err != nil {
		return nil, fmt.Errorf("start span export to %s: %w", subject, err)
	}
	return exp, nil
}

// Start implements otlptrace.Client; the connection is already open.
func (*Client) Start(context.Context) error { return nil }

// Stop implements otlptrace.Client; the connection belongs to the caller.
func (*Client) Stop(context.Context) error { return nil }

// UploadTraces publishes spans as one or more ExportTraceServiceRequests
// and waits for the stream to store each, so an error means spans were
// lost (the batch processor reports it and moves on).
func (c *Client) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	if len(spans) == 0 {
		return nil
	}
	data, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: spans})
	if err != nil {
		return fmt.Errorf("encode spans for %s: %w", c.subject, err)
	}
	if len(data) > c.limit() {
		a, b, ok := split(spans)
		if !ok {
			return fmt.Errorf("publish spans to %s: %w (%d bytes)", c.subject, ErrSpanTooLarge, len(data))
		}
		return errors.Join(c.UploadTraces(ctx, a), c.UploadTraces(ctx, b))
	}
	msg := nats.NewMsg(c.subject)
	msg.Header.Set(wire.ContentTypeHeader, wire.SpanContentType)
	msg.Data = data
	if _, err := c.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish spans to %s: %w", c.subject, err)
	}
	return nil
}

func (c *Client) limit() int {
	if c.maxBytes > 0 {
		return c.maxBytes
	}
	if nc := c.js.Conn(); nc != nil {
		if mp := nc.MaxPayload(); mp > headroom {
			return int(mp) - headroom
		}
	}
	return 1<<20 - headroom // the server's default max payload
}

// split halves a batch: by resource, else by scope, else by span. ok is
// false for a single span.
func split(rss []*tracepb.ResourceSpans) (a, b []*tracepb.ResourceSpans, ok bool) {
	if len(rss) > 1 {
		return rss[:len(rss)/2], rss[len(rss)/2:], true
	}
	if len(rss) == 0 {
		return nil, nil, false
	}
	rs := rss[0]
	withScopes := func(ss []*tracepb.ScopeSpans) []*tracepb.ResourceSpans {
		return []*tracepb.ResourceSpans{{Resource: rs.Resource, SchemaUrl: rs.SchemaUrl, ScopeSpans: ss}}
	}
	if n := len(rs.ScopeSpans); n > 1 {
		return withScopes(rs.ScopeSpans[:n/2]), withScopes(rs.ScopeSpans[n/2:]), true
	}
	if len(rs.ScopeSpans) == 0 {
		return nil, nil, false
	}
	ss := rs.ScopeSpans[0]
	n := len(ss.Spans)
	if n < 2 {
		return nil, nil, false
	}
	withSpans := func(spans []*tracepb.Span) []*tracepb.ResourceSpans {
		return withScopes([]*tracepb.ScopeSpans{{Scope: ss.Scope, SchemaUrl: ss.SchemaUrl, Spans: spans}})
	}
	return withSpans(ss.Spans[:n/2]), withSpans(ss.Spans[n/2:]), true
}
