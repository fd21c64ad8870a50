// Package telemetry makes a sagascope process observable: it ties tracing
// (spans over NATS and, when configured, OTLP), log shipping, metrics and
// health probes together for the process and for each life of each service
// instance it runs. The packages below it do one job each; this one only
// builds and orders them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/time/rate"

	"github.com/sagascope/sagascope/telemetry/logging"
	"github.com/sagascope/sagascope/telemetry/metrics"
	"github.com/sagascope/sagascope/telemetry/probes"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
	"github.com/sagascope/sagascope/telemetry/tracing"
	"github.com/sagascope/sagascope/telemetry/wire"
)

// MetricsPath is where the endpoint serves Prometheus metrics.
const MetricsPath = "/metrics"

// ErrNoPrefix is returned by Begin for an instance with a connection but no
// subject prefix to publish its telemetry under.
var ErrNoPrefix = errors.New("no subject prefix for spans and logs (set InstanceConfig.Prefix)")

// ProfilePath is where the Go runtime's profiles are served (net/http/pprof),
// for finding where a process's CPU and memory go under load.
const ProfilePath = "/debug/pprof/"

// Config configures a process's telemetry.
type Config struct {
	// TraceRatio is the share of sagas traced, in (0, 1]; 0 turns tracing
	// off entirely: no spans, no trace headers, no export.
	TraceRatio float64
	// HTTP is the address of the metrics and probes endpoint, e.g.
	// ":9464" or "127.0.0.1:0"; "" serves none (metrics are recorded and
	// Handler serves them).
	HTTP string
	// Log receives telemetry's own failures, such as a span export that
	// could not be stored (default slog.Default()).
	Log *slog.Logger
	// Ship bounds the logs each instance ships over NATS.
	Ship logging.ShipOptions
	// SpanProcessors are added to every instance's tracer provider, e.g. a
	// tracetest.SpanRecorder in tests.
	SpanProcessors []sdktrace.SpanProcessor
	// SpanBatchTimeout is the longest a finished span waits before it is
	// published (default tracing.DefaultBatchTimeout).
	SpanBatchTimeout time.Duration
	// Getenv reads OTEL_* variables (default os.Getenv).
	Getenv func(string) string
}

// Telemetry is one process's telemetry, shared by its service instances. A
// nil *Telemetry is valid and records nothing. It is safe for concurrent
// use.
type Telemetry struct {
	cfg     Config
	metrics *metrics.Metrics
	probes  *probes.Probes
	handler http.Handler
	addr    string
}

// Start starts a process's telemetry. With cfg.HTTP set it listens there
// at once (an address in use is an error now) and serves MetricsPath,
// probes.LivePath, probes.ReadyPath and ProfilePath until shutdown. Readiness turns
// false as soon as ctx ends, so a process draining its work is not sent
// more. It routes OpenTelemetry's global error handler to cfg.Log,
// rate-limited. Call shutdown after the instances have stopped.
func Start(ctx context.Context, cfg Config) (*Telemetry, func(context.Context) error, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, err := metrics.New()
	if err != nil {
		return nil, nil, fmt.Errorf("start telemetry: %w", err)
	}
	t := &Telemetry{cfg: cfg, metrics: m, probes: probes.New()}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, m.Handler())
	t.probes.Register(mux)
	registerProfiles(mux)
	t.handler = mux
	stopDrain := context.AfterFunc(ctx, t.probes.Drain)
	logErrors(cfg.Log)

	var srv *http.Server
	served := make(chan error, 1)
	if cfg.HTTP != "" {
		ln, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			stopDrain()
			_ = m.Shutdown(context.WithoutCancel(ctx))
			return nil, nil, fmt.Errorf("listen for metrics and probes on %s: %w", cfg.HTTP, err)
		}
		t.addr = ln.Addr().String()
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { served <- srv.Serve(ln) }()
	}
	shutdown := func(ctx context.Context) error {
		stopDrain()
		t.probes.Drain()
		var errs []error
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop metrics endpoint: %w", err))
			}
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("metrics endpoint: %w", err))
			}
		}
		errs = append(errs, m.Shutdown(ctx))
		return errors.Join(errs...)
	}
	return t, shutdown, nil
}

// registerProfiles serves the runtime's profiles under ProfilePath on mux,
// not on http.DefaultServeMux where importing net/http/pprof puts them.
func registerProfiles(mux *http.ServeMux) {
	mux.HandleFunc(ProfilePath, pprof.Index) // heap, goroutine, allocs, block, mutex...
	mux.HandleFunc(ProfilePath+"cmdline", pprof.Cmdline)
	mux.HandleFunc(ProfilePath+"profile", pprof.Profile)
	mux.HandleFunc(ProfilePath+"symbol", pprof.Symbol)
	mux.HandleFunc(ProfilePath+"trace", pprof.Trace)
}

// errorLimit bounds how often OpenTelemetry's own errors are logged: a
// collector that is down fails every batch.
var errorLimit = rate.NewLimiter(rate.Every(time.Second), 5)

var errorLog sync.Mutex

// logErrors routes OpenTelemetry's global error handler (export and
// instrument errors) to log at warn. It is process-wide: the last Start
// wins.
func logErrors(log *slog.Logger) {
	errorLog.Lock()
	defer errorLog.Unlock()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if errorLimit.Allow() {
			log.Warn("telemetry", "error", err)
		}
	}))
}

// Addr is the address the endpoint listens on, or "" without one.
func (t *Telemetry) Addr() string {
	if t == nil {
		return ""
	}
	return t.addr
}

// Handler serves MetricsPath, the probes and ProfilePath, as the endpoint
// does.
func (t *Telemetry) Handler() http.Handler {
	if t == nil {
		return http.NotFoundHandler()
	}
	return t.handler
}

// Probes are the process's readiness checks.
func (t *Telemetry) Probes() *probes.Probes {
	if t == nil {
		return nil
	}
	return t.probes
}

// Watch adds an instance's readiness to the process's until the returned
// function is called.
func (t *Telemetry) Watch(name string, ready func() bool) (stop func()) {
	if t == nil {
		return func() {}
	}
	return t.probes.Add(name, ready)
}

// WatchReason adds a readiness check that says why it fails (see
// probes.Probes.AddReason), such as the process waiting for JetStream
// before any instance runs, until the returned function is called.
func (t *Telemetry) WatchReason(name string, notReady func() string) (stop func()) {
	if t == nil {
		return func() {}
	}
	return t.probes.AddReason(name, notReady)
}

// InstanceConfig describes one life of a service instance: a crash fault
// ends a life, and the restart begins another on a new connection.
type InstanceConfig struct {
	Service, Instance, Version string
	// Conn carries shipped logs; JetStream carries spans. Both must stay
	// open until Instance.Shutdown returns.
	Conn      *nats.Conn
	JetStream jetstream.JetStream
	// Prefix starts the subjects the instance's spans and logs go to
	// (wire.SpanSubject, wire.LogSubject); the demo's is contract.Prefix.
	// It is required with Conn or JetStream.
	Prefix string
	// SagaHeader names the message header carrying a message's saga id
	// (sagaspan.WithSagaHeader); "" tags spans only from decoded messages.
	SagaHeader string
	// Log is the instance's logger; Instance.Log adds shipping to it.
	Log *slog.Logger
	// Metrics is what the instance reports on every scrape.
	Metrics metrics.Source
}

// Instance is the telemetry of one life of a service instance. Its fields
// are nil (record nothing) where the process has none of that kind.
type Instance struct {
	// Tracer makes the instance's spans; nil when tracing is off.
	Tracer *sagaspan.Tracer
	// Log logs to the process's log and ships warnings over NATS.
	Log *slog.Logger
	// Metrics records the instance's metrics.
	Metrics *metrics.Instance

	shutdown []func(context.Context) error
}

// Begin starts the telemetry of one life of an instance. Call Shutdown on
// the result before closing cfg.Conn. On a nil *Telemetry it returns an
// Instance that only logs to cfg.Log. Either way the instance's records
// carry the trace, span and saga ids of their context.
func (t *Telemetry) Begin(ctx context.Context, cfg InstanceConfig) (*Instance, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// Only the process's handler is wrapped, and WithContext leaves one
	// built by logging.New as it is: wrapping the tee instead would add the
	// ids to the process's lines twice. The shipper reads them from the
	// context itself.
	local := logging.WithContext(cfg.Log.Handler())
	in := &Instance{Log: slog.New(local)}
	if t == nil {
		return in, nil
	}
	if cfg.Prefix == "" && (cfg.Conn != nil || cfg.JetStream != nil) {
		return nil, fmt.Errorf("telemetry of %s %s: %w", cfg.Service, cfg.Instance, ErrNoPrefix)
	}
	if cfg.Conn != nil {
		subject := wire.LogSubject(cfg.Prefix, cfg.Service, cfg.Instance)
		ship := logging.NewShipper(cfg.Conn, subject, cfg.Service, cfg.Instance, t.cfg.Ship)
		in.Log = slog.New(logging.Tee(local, ship))
	}
	mi, err := t.metrics.Instance(cfg.Service, cfg.Instance, cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("telemetry of %s %s: %w", cfg.Service, cfg.Instance, err)
	}
	in.Metrics = mi
	in.shutdown = append(in.shutdown, func(context.Context) error { return mi.Close() })
	if t.cfg.TraceRatio > 0 {
		tp, stop, err := tracing.New(ctx, tracing.Config{
			Ratio: t.cfg.TraceRatio, Service: cfg.Service, Instance: cfg.Instance, Version: cfg.Version,
			JetStream: cfg.JetStream, Subject: wire.SpanSubject(cfg.Prefix, cfg.Service), Processors: t.cfg.SpanProcessors,
			BatchTimeout: t.cfg.SpanBatchTimeout, Getenv: t.cfg.Getenv,
		})
		if err != nil {
			_ = in.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry of %s %s: %w", cfg.Service, cfg.Instance, err)
		}
		in.Tracer = sagaspan.NewTracer(tp, sagaspan.WithSagaHeader(cfg.SagaHeader))
		tracer := in.Tracer
		in.shutdown = append(in.shutdown, func(ctx context.Context) error {
			tracer.Close()
			return stop(ctx)
		})
	}
	return in, nil
}

// Shutdown ends the life's telemetry: it stops observing the instance and
// flushes its spans. It is safe on a nil *Instance and to call once.
func (in *Instance) Shutdown(ctx context.Context) error {
	if in == nil {
		return nil
	}
	var errs []error
	for i := len(in.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, in.shutdown[i](ctx))
	}
	in.shutdown = nil
	return errors.Join(errs...)
}
