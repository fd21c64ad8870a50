package scenario

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/contract"
)

// ErrNotAvailable is wrapped by a Target's error when it cannot do an
// action at all: an attached system's processes are not the runner's to
// stop, and a single server has no nodes to stop. A scenario step that
// gets it fails; it never passes silently.
var ErrNotAvailable = errors.New("not available here")

// Target is the system a scenario runs against. Faults and load always go
// through the control API, as a user's would; the other methods are the
// harness, which only a runner that owns the processes can offer. Methods
// are called from the runner's goroutine, one at a time.
type Target interface {
	// Connect opens a connection to the system's NATS servers for the
	// runner's control client and observations. The caller closes it.
	Connect(ctx context.Context, name string) (*nats.Conn, error)
	// StopService stops every instance of svc gracefully and returns once
	// they are down.
	StopService(ctx context.Context, svc contract.Service) error
	// StartService starts svc again after StopService.
	StartService(ctx context.Context, svc contract.Service) error
	// RestartServer shuts the NATS server down and starts it on its store.
	RestartServer(ctx context.Context) error
	// StopNode stops the cluster node of that server name (s1, s2, s3).
	StopNode(ctx context.Context, name string) error
	// StartNode starts a stopped cluster node and waits until the cluster
	// is whole again.
	StartNode(ctx context.Context, name string) error
}

// Attached is a system the runner did not start, reached with connection
// options as every other command reaches one. Only faults and load apply
// to it; harness actions fail with ErrNotAvailable.
type Attached struct {
	Options connect.Options
}

// Connect implements Target.
func (a Attached) Connect(ctx context.Context, name string) (*nats.Conn, error) {
	return connect.Connect(ctx, a.Options, name, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
}

func notHere(what string) error {
	return fmt.Errorf("%s: %w: the runner does not own the processes of a system it is attached to (run the scenario without --server to let it start its own)", what, ErrNotAvailable)
}

// StopService implements Target: not available.
func (Attached) StopService(_ context.Context, svc contract.Service) error {
	return notHere("stop " + string(svc))
}

// StartService implements Target: not available.
func (Attached) StartService(_ context.Context, svc contract.Service) error {
	return notHere("start " + string(svc))
}

// RestartServer implements Target: not available.
func (Attached) RestartServer(context.Context) error { return notHere("restart the NATS server") }

// StopNode implements Target: not available.
func (Attached) StopNode(_ context.Context, name string) error {
	return notHere("stop NATS node " + name)
}

// StartNode implements Target: not available.
func (Attached) StartNode(_ context.Context, name string) error {
	return notHere("start NATS node " + name)
}
