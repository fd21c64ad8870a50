// Package tracing builds the OpenTelemetry tracer provider of one service
// instance: parent-based sampling at a configurable ratio, finished spans
// batched and published over NATS for observers, and to a standard OTLP
// collector as well when the OTEL_EXPORTER_OTLP_* variables name one.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/sagascope/sagascope/telemetry/natsexport"
)

// ErrDisabled is returned by New for a ratio of 0 or less: with tracing off
// there is no provider at all, so nothing is recorded, propagated or
// exported.
var ErrDisabled = errors.New("tracing disabled (sample ratio 0)")

// ErrNoSubject is returned by New for a JetStream without a Subject to
// publish spans to.
var ErrNoSubject = errors.New("no subject to publish spans to (set Config.Subject)")

// Defaults for the zero values of Config.
const (
	// DefaultBatchTimeout is how long a finished span waits for its batch:
	// short, so a dashboard shows a saga about a second after it ends.
	DefaultBatchTimeout = time.Second
	// DefaultQueueSize bounds the spans waiting for export per instance;
	// beyond it new spans are dropped, so memory stays flat when an
	// exporter falls behind.
	DefaultQueueSize = 4096
)

// Config configures the tracer provider of one service instance.
type Config struct {
	// Ratio is the share of new traces recorded, in (0, 1]; above 1 means
	// 1. Spans with a parent follow their parent's decision, so a saga is
	// recorded whole or not at all. 0 or less is ErrDisabled.
	Ratio float64
	// Service, Instance and Version describe the instance (the resource
	// every span carries: service.name, service.instance.id, ...).
	Service, Instance, Version string
	// JetStream, when set, carries finished spans to Subject (the
	// instance's wire.SpanSubject) as OTLP protobuf; Subject is then
	// required.
	JetStream jetstream.JetStream
	Subject   string
	// Processors are added as they are, after the exporters: tests pass a
	// tracetest.SpanRecorder. The provider shuts them down with itself.
	Processors []sdktrace.SpanProcessor
	// BatchTimeout is the longest a finished span waits before export
	// (default DefaultBatchTimeout).
	BatchTimeout time.Duration
	// QueueSize bounds the spans waiting for each exporter (default
	// DefaultQueueSize).
	QueueSize int
	// Getenv reads OTEL_* variables to decide whether to export over OTLP
	// (default os.Getenv). The OTLP exporters read their own settings
	// (endpoint, headers, TLS, timeout) from the process environment.
	Getenv func(string) string
}

// New builds the tracer provider of one instance. The returned shutdown
// ends it: it flushes the spans in hand through every exporter, so call it
// while the NATS connection is still open, and it must be called once,
// before the connection is closed, to stop the batching goroutines.
func New(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	if cfg.Ratio <= 0 {
		return nil, nil, ErrDisabled
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES; ours below win
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			semconv.ServiceName(cfg.Service),
			semconv.ServiceNamespace("sagascope"),
			semconv.ServiceInstanceID(cfg.Instance),
			semconv.ServiceVersion(cfg.Version),
		),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("trace resource of %s: %w", cfg.Service, err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(min(cfg.Ratio, 1)))),
	}
	batch := func(exp sdktrace.SpanExporter) sdktrace.TracerProviderOption {
		return sdktrace.WithBatcher(exp,
			sdktrace.WithBatchTimeout(cfg.BatchTimeout),
			sdktrace.WithMaxQueueSize(cfg.QueueSize))
	}
	if cfg.JetStream != nil {
		if cfg.Subject == "" {
			return nil, nil, fmt.Errorf("trace %s: %w", cfg.Service, ErrNoSubject)
		}
		exp, err := natsexport.NewExporter(ctx, cfg.JetStream, cfg.Subject)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, batch(exp))
	}
	otlp, err := OTLPExporter(ctx, cfg.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if otlp != nil {
		opts = append(opts, batch(otlp))
	}
	for _, p := range cfg.Processors {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("shut down tracing of %s: %w", cfg.Service, err)
		}
		return nil
	}, nil
}

// OTLPExporter returns a standard OTLP span exporter when getenv names an
// endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT) and OTEL_TRACES_EXPORTER is not "none", or
// nil. The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (the specification's
// default) or "grpc".
func OTLPExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if getenv("OTEL_TRACES_EXPORTER") == "none" {
		return nil, nil
	}
	if first(getenv, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return nil, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch proto := first(getenv, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTLP protocol %q is not supported (use http/protobuf or grpc)", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("start OTLP span export: %w", err)
	}
	return exp, nil
}

func first(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
