// Package natsheader carries W3C trace context in NATS message headers, so
// a trace continues from the publisher of a message to whoever consumes it.
package natsheader

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Carrier adapts a message's headers to propagation.TextMapCarrier.
//
// NATS header names are case-sensitive, unlike HTTP's. Set writes the name
// it is given (the W3C names are lower case: "traceparent"); Get looks the
// exact name up first and falls back to a case-insensitive match, so a
// publisher that wrote "Traceparent" is still followed.
type Carrier nats.Header

var _ propagation.TextMapCarrier = Carrier(nil)

// Get returns the first value of key, or "".
func (c Carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces every value of key with value. c must not be nil.
func (c Carrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// propagator is the W3C trace context propagator. It is stateless, so one
// value serves every goroutine; no global propagator is consulted, so
// tests and processes with several tracer providers agree.
var propagator = propagation.TraceContext{}

// Inject writes the span context of ctx into h as traceparent (and
// tracestate, when there is one). It writes nothing when ctx holds no valid
// span context. h must not be nil: use nats.NewMsg, which makes it.
func Inject(ctx context.Context, h nats.Header) { propagator.Inject(ctx, Carrier(h)) }

// Extract returns ctx with the remote span context carried in h, to be the
// parent of the consumer's span. A missing or malformed traceparent leaves
// ctx unchanged, so the consumer starts a new trace; it is never an error.
// h may be nil.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, Carrier(h))
}
