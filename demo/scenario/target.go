package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

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

// A Lab is a fresh system started for one scenario run, which the run
// owns: it offers the harness, says where a dashboard attaches (its
// servers' client URLs, comma separated) and is closed after the run.
type Lab interface {
	Target
	URLs() string
	Close() error
}

// LabStarter starts a Lab tuned as sys says. The scenario package starts
// no processes of its own: the command that runs scenarios is handed one.
type LabStarter func(ctx context.Context, sys System) (Lab, error)

// Attached is a system the runner did not start, reached as every other
// command reaches one. Only faults and load apply to it; harness actions
// fail with ErrNotAvailable.
type Attached struct {
	// Dial opens a connection to the system; the caller closes it.
	Dial func(ctx context.Context, name string) (*nats.Conn, error)
}

// Connect implements Target.
func (a Attached) Connect(ctx context.Context, name string) (*nats.Conn, error) {
	return a.Dial(ctx, name)
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

// Offers implements Harnessed: an attached system offers nothing beyond
// the control API.
func (Attached) Offers() Harness { return Harness{} }

// Harness is what a scenario's actions ask of a Target beyond the control
// API, or what a Target offers: stopping and starting services, restarting
// the NATS server, stopping and starting cluster nodes.
type Harness struct {
	Services bool
	Server   bool
	Nodes    bool
}

// Harnessed is a Target that says what harness it offers, so a catalogue
// can mark the scenarios it cannot run before they fail at the action.
type Harnessed interface {
	Offers() Harness
}

// Offered is what t offers: its Offers, or nothing beyond the control API
// for a Target that does not say.
func Offered(t Target) Harness {
	if h, ok := t.(Harnessed); ok {
		return h.Offers()
	}
	return Harness{}
}

// Needs is the harness sc's steps ask for.
func (sc *Scenario) Needs() Harness {
	var h Harness
	for _, p := range sc.Phases {
		for _, s := range p.Steps {
			h.Services = h.Services || s.StopService != "" || s.StartService != ""
			h.Server = h.Server || s.RestartServer
			h.Nodes = h.Nodes || s.StopNode != nil || s.StartNode != nil
		}
	}
	return h
}

// Missing is what of need h does not offer.
func (h Harness) Missing(need Harness) Harness {
	return Harness{Services: need.Services && !h.Services, Server: need.Server && !h.Server, Nodes: need.Nodes && !h.Nodes}
}

// None reports that h holds nothing.
func (h Harness) None() bool { return h == Harness{} }

// String names what h holds, for a person: "stop services, restart the
// server"; "" for nothing.
func (h Harness) String() string {
	var parts []string
	if h.Services {
		parts = append(parts, "stop services")
	}
	if h.Server {
		parts = append(parts, "restart the server")
	}
	if h.Nodes {
		parts = append(parts, "stop cluster nodes")
	}
	return strings.Join(parts, ", ")
}
