// Package system starts the demo: it creates the JetStream resources and
// runs instances of the chosen services (and the load generator) until its
// context ends, then shuts them down gracefully.
package system

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/inventory"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/orders"
	"github.com/sagascope/sagascope/demo/payment"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/shipping"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/telemetry"
)

// Config configures the demo system.
type Config struct {
	// Connect opens a connection; every instance opens its own, as separate
	// processes would.
	Connect func(ctx context.Context, name string) (*nats.Conn, error)
	// Services to run (default all).
	Services []contract.Service
	// Instances of each service (default 1); instances share durables, so
	// work is split between them.
	Instances int
	// Workers per consumer in each instance (default 32).
	Workers  int
	Topology topology.Options
	// Load, when set and orders runs here, starts the load generator: a
	// client of the system beside the services (one per process, as the
	// orders instances share the rate in the control bucket), whose state
	// the first orders instance reports.
	Load      *loadgen.Config
	Orders    orders.Config
	Payment   payment.Config
	Inventory inventory.Config
	Shipping  shipping.Config
	Version   string
	// StatusEvery is each instance's status period (default the
	// service's, 500ms); a test whose clock runs faster shortens it to
	// match, so a window still spans as many reports.
	StatusEvery time.Duration
	Log         *slog.Logger
	// Telemetry, when set, traces every saga, ships logs, records metrics
	// and reports each instance's readiness; nil runs without any.
	Telemetry *telemetry.Telemetry
}

// DefaultDependencies are the simulated dependencies' latencies for a demo
// that looks like a real system: the gateway and carrier take milliseconds,
// the database has 16 connections.
func DefaultDependencies(c *Config) {
	c.Payment.GatewayLatency, c.Payment.GatewayJitter = 5*time.Millisecond, 3*time.Millisecond
	c.Shipping.CarrierLatency, c.Shipping.CarrierJitter = 8*time.Millisecond, 4*time.Millisecond
	c.Inventory.Conns, c.Inventory.QueryLatency = 16, 2*time.Millisecond
}

// Instances builds the service instances cfg asks for.
func Instances(cfg Config) []*service.Instance {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	svcs := cfg.Services
	if len(svcs) == 0 {
		svcs = contract.Services
	}
	var out []*service.Instance
	for _, name := range svcs {
		for i := range max(1, cfg.Instances) {
			var svc service.Service
			switch name {
			case contract.Orders:
				oc := cfg.Orders
				if i > 0 {
					oc.Load = nil // one instance reports the generator
				}
				svc = orders.New(oc)
			case contract.Payment:
				svc = payment.New(cfg.Payment)
			case contract.Inventory:
				svc = inventory.New(cfg.Inventory)
			case contract.Shipping:
				svc = shipping.New(cfg.Shipping)
			}
			out = append(out, service.New(service.Config{
				Service: svc, Connect: cfg.Connect, Instance: InstanceID(),
				Version: cfg.Version, Workers: cfg.Workers, Topology: cfg.Topology, Log: cfg.Log,
				Telemetry: cfg.Telemetry, StatusEvery: cfg.StatusEvery,
			}))
		}
	}
	return out
}

// RunInstances runs instances until ctx ends or one fails.
func RunInstances(ctx context.Context, instances []*service.Instance) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, in := range instances {
		g.Go(func() error { return in.Run(ctx) })
	}
	return g.Wait()
}

// InstanceID names a service instance: short, random, unique enough among
// the instances of one system.
func InstanceID() string { return fmt.Sprintf("%08x", rand.Uint32()) }
