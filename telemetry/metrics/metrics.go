// Package metrics records the demo's OpenTelemetry metrics and exposes them
// in Prometheus format: sagas by outcome, saga and step latency, message
// handling latency, worker pools, circuit breakers, retries, dead letters
// and injected faults. One Metrics serves a process; each service instance
// records through its own Instance.
package metrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// ScopeName is the instrumentation scope of every instrument.
const ScopeName = "github.com/sagascope/sagascope/telemetry/metrics"

// Bucket boundaries in seconds. Handling a message takes about a
// millisecond without faults and up to the latency fault's minute with
// them; a saga takes tens of milliseconds, or up to its step timeouts.
var (
	handlingBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	sagaBuckets     = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120}
)

// Metrics is one process's meter provider and its Prometheus exposition.
// It is safe for concurrent use.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
	meter    metric.Meter

	handling     metric.Float64Histogram
	sagas        metric.Int64Counter
	sagaDuration metric.Float64Histogram
	stepDuration metric.Float64Histogram

	capacity, busy, queued metric.Int64ObservableGauge
	breakerState           metric.Int64ObservableGauge
	breakerRejected        metric.Int64ObservableCounter
	processed, failed      metric.Int64ObservableCounter
	retried, deadLettered  metric.Int64ObservableCounter
	duplicates             metric.Int64ObservableCounter
	injected               metric.Int64ObservableCounter
}

// New returns a Metrics exporting to a registry of its own (not the
// global one), so several in one test binary do not collide. Shut it down
// when the process ends.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("new prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{
		provider: mp,
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		meter:    mp.Meter(ScopeName),
	}
	if err := m.instruments(); err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, fmt.Errorf("new metrics: %w", err)
	}
	return m, nil
}

func (m *Metrics) instruments() error {
	var errs [16]error
	mt := m.meter
	m.handling, errs[0] = mt.Float64Histogram("messaging.process.duration",
		metric.WithDescription("Time a service took to handle one delivered message, by subject, consumer and error type."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(handlingBuckets...))
	m.sagas, errs[1] = mt.Int64Counter("sagascope.sagas",
		metric.WithDescription("Sagas that reached a final state, by outcome (completed, cancelled, compensation_failed)."),
		metric.WithUnit("{saga}"))
	m.sagaDuration, errs[2] = mt.Float64Histogram("sagascope.saga.duration",
		metric.WithDescription("End-to-end time from an order's placement to its saga's final state, by outcome."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(sagaBuckets...))
	m.stepDuration, errs[3] = mt.Float64Histogram("sagascope.saga.step.duration",
		metric.WithDescription("Time from sending a step's command (or compensation) to receiving its answer, by step and resulting state."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(sagaBuckets...))
	m.capacity, errs[4] = mt.Int64ObservableGauge("sagascope.worker.capacity",
		metric.WithDescription("Workers in an instance's pools."), metric.WithUnit("{worker}"))
	m.busy, errs[5] = mt.Int64ObservableGauge("sagascope.worker.busy",
		metric.WithDescription("Workers handling a message now."), metric.WithUnit("{worker}"))
	m.queued, errs[6] = mt.Int64ObservableGauge("sagascope.worker.queued",
		metric.WithDescription("Messages pulled from the server and waiting for a worker."), metric.WithUnit("{message}"))
	m.breakerState, errs[7] = mt.Int64ObservableGauge("sagascope.breaker.state",
		metric.WithDescription("1 for a circuit breaker's current state (closed, open, half-open), 0 for the others."))
	m.breakerRejected, errs[8] = mt.Int64ObservableCounter("sagascope.breaker.rejected",
		metric.WithDescription("Calls a circuit breaker refused without making them."), metric.WithUnit("{call}"))
	m.processed, errs[9] = mt.Int64ObservableCounter("sagascope.messages.processed",
		metric.WithDescription("Messages handled and acknowledged."), metric.WithUnit("{message}"))
	m.failed, errs[10] = mt.Int64ObservableCounter("sagascope.messages.failed",
		metric.WithDescription("Messages given up on: refused for good or out of deliveries."), metric.WithUnit("{message}"))
	m.retried, errs[11] = mt.Int64ObservableCounter("sagascope.messages.retried",
		metric.WithDescription("Deliveries that failed transiently and were scheduled for redelivery."), metric.WithUnit("{message}"))
	m.deadLettered, errs[12] = mt.Int64ObservableCounter("sagascope.messages.dead_lettered",
		metric.WithDescription("Messages copied to the dead-letter stream."), metric.WithUnit("{message}"))
	m.duplicates, errs[13] = mt.Int64ObservableCounter("sagascope.messages.duplicates",
		metric.WithDescription("Redelivered or duplicated messages recognised and not applied again."), metric.WithUnit("{message}"))
	m.injected, errs[14] = mt.Int64ObservableCounter("sagascope.faults.injected",
		metric.WithDescription("Faults that fired, by kind: a failed or slowed call, a duplicate, a poison message, a crash, a pause."),
		metric.WithUnit("{fault}"))
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the metrics in Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Shutdown stops the meter provider; later recordings are dropped.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if err := m.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down metrics: %w", err)
	}
	return nil
}
