package system

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/telemetry"
)

// Options say what Start runs: the services, what runs beside them, and the
// servers they use when this process runs those.
type Options struct {
	// Services configure the services; Services.Connect must be set, and
	// Services.Telemetry is set by Start when Telemetry is.
	Services Config
	// Telemetry, when set, is started before the services and shut down
	// after them; its probes drain when Start's ctx ends.
	Telemetry *telemetry.Config
	// Server or Cluster is the embedded server (or cluster) the services
	// use when this process runs it, so a scenario may restart it or stop
	// its nodes. The caller keeps owning it and shuts it down after Close.
	Server  *embedded.Server
	Cluster *embedded.Cluster
}

// System is the running demo: telemetry, then the services under a
// Supervisor, on servers this process may run. It is the one place that
// composes them, for main, the scenario lab, the tests and the bench. It is
// also the scenario.Target a run drives when the demo runs in this process
// (see harness.go). Its methods are safe for concurrent use; the owner
// calls Close.
type System struct {
	cfg      Config
	server   *embedded.Server
	cluster  *embedded.Cluster
	services *Supervisor
	close    func() error
}

// telemetryStopTimeout bounds the flush of spans and logs at Close.
const telemetryStopTimeout = 10 * time.Second

// Start starts telemetry (when asked), creates or updates the streams,
// buckets and consumers, and starts every service. While JetStream is not
// up yet (no server, no meta leader, a cluster still forming) it waits and
// retries with back-off, logging each attempt and reporting
// PrepareCheck's reason on /readyz; it returns the last error when ctx
// ends first, and a permanent error (a permission refused, a configuration
// the server will not take) at once. The services run until ctx ends or
// Close is called; it does not wait for them to report running.
func Start(ctx context.Context, o Options) (*System, error) {
	cfg := o.Services
	if cfg.Connect == nil {
		return nil, errors.New("start the system: Options.Services.Connect is not set")
	}
	stopTelemetry := func(context.Context) error { return nil }
	if o.Telemetry != nil {
		tel, stop, err := telemetry.Start(ctx, *o.Telemetry)
		if err != nil {
			return nil, fmt.Errorf("start the system: %w", err)
		}
		cfg.Telemetry, stopTelemetry = tel, stop
	}
	stopTelemetryNow := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryStopTimeout)
		defer cancel()
		return stopTelemetry(ctx)
	}
	sup, stopServices, err := Launch(ctx, cfg)
	if err != nil {
		return nil, errors.Join(err, stopTelemetryNow())
	}
	return &System{
		cfg: cfg, server: o.Server, cluster: o.Cluster, services: sup,
		close: sync.OnceValue(func() error { return errors.Join(stopServices(), stopTelemetryNow()) }),
	}, nil
}

// Config is the configuration the services run with.
func (s *System) Config() Config { return s.cfg }

// Services is the supervisor of the services, to stop and start one.
func (s *System) Services() *Supervisor { return s.services }

// Telemetry is the running telemetry; nil when Start was not asked for it.
func (s *System) Telemetry() *telemetry.Telemetry { return s.cfg.Telemetry }

// Connect opens a connection to the system's servers as the services' own
// do. The caller closes it.
func (s *System) Connect(ctx context.Context, name string) (*nats.Conn, error) {
	nc, err := s.cfg.Connect(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return nc, nil
}

// Close stops the services gracefully (they finish and ack what they
// hold), then flushes and stops telemetry. It returns what went wrong,
// including a service that stopped by itself while the system ran. It may
// be called more than once; it does not shut down the servers.
func (s *System) Close() error { return s.close() }
