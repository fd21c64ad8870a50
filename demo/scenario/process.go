package scenario

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/system"
)

// Process is the demo system this process runs for someone else, such as
// the embedded demo under the dashboard: its services run under a
// supervisor, next to an embedded server. Unlike Local, the run does not
// start or tune it; it drives the system as it is, and can stop and start
// its services and restart its server.
type Process struct {
	// Services runs the services; Run must be running.
	Services *system.Supervisor
	// Server is the embedded server the services use; nil when they use
	// one this process does not own (RestartServer is then not
	// available).
	Server *embedded.Server
	// Dial opens a connection to the system, as the services' own do.
	Dial func(ctx context.Context, name string) (*nats.Conn, error)
}

// Offers implements Harnessed.
func (p Process) Offers() Harness { return Harness{Services: true, Server: p.Server != nil} }

// Connect implements Target.
func (p Process) Connect(ctx context.Context, name string) (*nats.Conn, error) {
	nc, err := p.Dial(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return nc, nil
}

// StopService implements Target: a graceful stop, as a deploy would do.
func (p Process) StopService(ctx context.Context, svc contract.Service) error {
	return p.Services.Stop(ctx, svc)
}

// StartService implements Target.
func (p Process) StartService(ctx context.Context, svc contract.Service) error {
	return p.Services.Start(ctx, svc)
}

// RestartServer implements Target.
func (p Process) RestartServer(context.Context) error {
	if p.Server == nil {
		return fmt.Errorf("restart the NATS server: %w: the services use a server this process does not run", ErrNotAvailable)
	}
	if err := p.Server.Restart(); err != nil {
		return fmt.Errorf("restart the NATS server: %w", err)
	}
	return nil
}

// StopNode implements Target: not available, the embedded demo is one
// server.
func (Process) StopNode(_ context.Context, name string) error {
	return fmt.Errorf("stop NATS node %s: %w: this system is a single server (run 'sagascope scenario run' to start a cluster)", name, ErrNotAvailable)
}

// StartNode implements Target: not available.
func (Process) StartNode(_ context.Context, name string) error {
	return fmt.Errorf("start NATS node %s: %w: this system is a single server", name, ErrNotAvailable)
}
