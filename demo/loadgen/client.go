package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fault"
	"github.com/sagascope/sagascope/telemetry"
)

// Client is what a Generator needs to run as a client of the system, as a
// separate process would: a connection of its own, and telemetry to root
// each saga's trace at the order it places.
type Client struct {
	// Connect opens the generator's connection.
	Connect func(ctx context.Context, name string) (*nats.Conn, error)
	// Telemetry, when set, traces the placed orders; their spans are the
	// orders service's, as the saga's trace begins with its order.
	Telemetry *telemetry.Telemetry
	// Instance and Version name the generator in its spans and logs.
	Instance, Version string
}

// telemetryStopTimeout bounds the flush of the generator's last spans.
const telemetryStopTimeout = 5 * time.Second

// RunClient runs g as a client of the system until ctx ends: on a
// connection of its own, following the faults the control plane sets on
// orders (a burst multiplies the rate), with a tracer of its own. It sets
// g's tracer, so it runs once and not beside Run.
func (g *Generator) RunClient(ctx context.Context, c Client) (err error) {
	nc, err := c.Connect(ctx, "sagascope load "+c.Instance)
	if err != nil {
		return fmt.Errorf("load generator: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("load generator: jetstream: %w", err)
	}
	life, end := context.WithCancel(ctx)
	defer end()
	control, err := js.KeyValue(life, contract.ControlBucket)
	if err != nil {
		return fmt.Errorf("load generator: open %s: %w", contract.ControlBucket, err)
	}
	faults := fault.NewTable(contract.Orders, nil)
	watchDone, err := fault.Watch(life, control, faults, g.cfg.Log)
	if err != nil {
		return fmt.Errorf("load generator: %w", err)
	}
	defer func() { end(); <-watchDone }()
	tel, err := c.Telemetry.Begin(life, telemetry.InstanceConfig{
		Service: string(contract.Orders), Instance: "load-" + c.Instance, Version: c.Version,
		Conn: nc, JetStream: js, Prefix: contract.Prefix, SagaHeader: contract.SagaHeader, Log: g.cfg.Log,
	})
	if err != nil {
		return fmt.Errorf("load generator: %w", err)
	}
	defer func() {
		// The last spans go out before the connection closes.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryStopTimeout)
		defer cancel()
		if serr := tel.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("load generator: %w", serr)
		}
	}()
	g.cfg.Tracer = tel.Tracer
	g.cfg.Log = tel.Log
	return g.Run(life, js, faults)
}
