package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/system"
)

// DefaultWorkers is the workers per consumer of a Local system when the
// scenario does not say.
const DefaultWorkers = 16

// clusterWaitReady bounds how long StartNode waits for a restarted node to
// catch up: an election on loopback takes seconds, a loaded machine more.
const clusterWaitReady = 60 * time.Second

// LocalOptions configure StartLocal.
type LocalOptions struct {
	// Dir holds the JetStream stores; "" makes a temporary directory that
	// Close removes.
	Dir string
	// System is the scenario's tuning.
	System System
	// Log receives the services' logs; nil discards them.
	Log *slog.Logger
	// Logf receives the NATS servers' log lines; nil discards them.
	Logf func(format string, args ...any)
}

// Local is a demo system this process runs for a scenario: an embedded
// NATS server (or a three-node cluster) on loopback, the four services and
// the load generator at rate 0. It is the Target that offers the harness.
// Its methods are safe for concurrent use; the owner must call Close.
type Local struct {
	server  *embedded.Server  // single server, or nil
	cluster *embedded.Cluster // three nodes, or nil
	urls    string
	cfg     system.Config
	dir     string
	tempDir bool

	// services run under a supervisor until stopServices, which returns
	// what they ended with. Both are nil until the services start.
	services     *system.Supervisor
	stopServices func() error
}

// StartLocal starts the servers, creates the streams and buckets and
// starts every service. It does not wait for them: Run waits until each
// reports running before its first phase.
func StartLocal(ctx context.Context, opts LocalOptions) (l *Local, err error) {
	l = &Local{dir: opts.Dir}
	if l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "sagascope-scenario-"); err != nil {
			return nil, fmt.Errorf("start local system: %w", err)
		}
		l.tempDir = true
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	if opts.System.Nodes == 3 {
		if l.cluster, err = embedded.StartCluster(3, l.dir); err != nil {
			return l, fmt.Errorf("start local system: %w", err)
		}
		l.urls = l.cluster.ClientURLs()
	} else {
		l.server, err = embedded.Start(embedded.Options{Port: -1, DataDir: l.dir, Name: "sagascope-scenario", Logf: opts.Logf})
		if err != nil {
			return l, fmt.Errorf("start local system: %w", err)
		}
		l.urls = l.server.ClientURL()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l.cfg = system.Config{
		Connect:   l.Connect,
		Workers:   opts.System.Workers,
		Load:      &loadgen.Config{Log: log},
		Log:       log,
		Instances: 1,
	}
	if l.cfg.Workers == 0 {
		l.cfg.Workers = DefaultWorkers
	}
	l.cfg.Topology.MaxAckPending = opts.System.MaxAckPending
	if opts.System.Nodes == 3 {
		l.cfg.Topology.Replicas = 3
	}
	system.DefaultDependencies(&l.cfg)
	l.cfg.Payment.Breaker.Delay = opts.System.BreakerDelay
	l.cfg.Shipping.Breaker.Delay = opts.System.BreakerDelay
	// The services outlive ctx, which only bounds the start: Close stops
	// them.
	if l.services, l.stopServices, err = system.Launch(context.WithoutCancel(ctx), l.cfg); err != nil {
		return l, fmt.Errorf("start local system: %w", err)
	}
	return l, nil
}

// URLs are the client URLs of the servers, comma separated, for a
// dashboard to attach with --server while the scenario runs.
func (l *Local) URLs() string { return l.urls }

// Connect implements Target: a connection that reconnects quickly and for
// ever, as the services' own do.
func (l *Local) Connect(_ context.Context, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(l.urls, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", l.urls, err)
	}
	return nc, nil
}

// StartService implements Target. It returns once the instances run; they
// report running on the status feed shortly after.
func (l *Local) StartService(ctx context.Context, svc contract.Service) error {
	return l.services.Start(ctx, svc)
}

// StopService implements Target: a graceful stop, as a deploy would do;
// the instances finish and ack what they hold.
func (l *Local) StopService(ctx context.Context, svc contract.Service) error {
	return l.services.Stop(ctx, svc)
}

// RestartServer implements Target.
func (l *Local) RestartServer(context.Context) error {
	if l.server == nil {
		return fmt.Errorf("restart the NATS server: %w: this system is a cluster; stop and start one node instead", ErrNotAvailable)
	}
	if err := l.server.Restart(); err != nil {
		return fmt.Errorf("restart the NATS server: %w", err)
	}
	return nil
}

// Offers implements Harnessed: services, and the server or the nodes.
func (l *Local) Offers() Harness {
	return Harness{Services: true, Server: l.server != nil, Nodes: l.cluster != nil}
}

// nodeIndex maps a server name to its cluster index: node i is s<i+1>.
func (l *Local) nodeIndex(name string) (int, error) {
	if l.cluster == nil {
		return 0, fmt.Errorf("node %s: %w: this system is a single server", name, ErrNotAvailable)
	}
	for i := range l.cluster.Servers() {
		if "s"+strconv.Itoa(i+1) == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no NATS node %q (the nodes are s1, s2, s3)", name)
}

// StopNode implements Target.
func (l *Local) StopNode(_ context.Context, name string) error {
	i, err := l.nodeIndex(name)
	if err != nil {
		return fmt.Errorf("stop node: %w", err)
	}
	l.cluster.Stop(i)
	return nil
}

// StartNode implements Target.
func (l *Local) StartNode(_ context.Context, name string) error {
	i, err := l.nodeIndex(name)
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	if err := l.cluster.Start(i); err != nil {
		return err
	}
	if err := l.cluster.WaitReady(clusterWaitReady); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	return nil
}

// stopGrace bounds how long Close waits for the services to stop
// gracefully before it shuts the servers down under them. A service can
// wait for ever on an answer the servers will never send (a publish to a
// stream leader that died); dropping the connections ends that wait.
const stopGrace = 30 * time.Second

// Close stops every service gracefully, then the servers, and removes a
// temporary store. It returns what went wrong with the services, including
// one that stopped by itself while the scenario ran, or one that did not
// stop within stopGrace and was stopped by shutting the servers down.
func (l *Local) Close() error {
	var errs []error
	serversDown := false
	if l.services != nil {
		// Every service stops at once: they drain in parallel, as
		// separate processes shutting down would.
		stopped := make(chan error, 1)
		go func() { stopped <- l.stopServices() }()
		grace := time.NewTimer(stopGrace)
		defer grace.Stop()
		var err error
		select {
		case err = <-stopped:
		case <-grace.C:
			errs = append(errs, fmt.Errorf("the services did not stop within %v; stopped them by shutting the NATS servers down", stopGrace))
			l.shutdownServers()
			serversDown = true
			err = <-stopped
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !serversDown {
		l.shutdownServers()
	}
	if l.tempDir {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", l.dir, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("local system: %w", errors.Join(errs...))
	}
	return nil
}

func (l *Local) shutdownServers() {
	if l.server != nil {
		l.server.Shutdown()
	}
	if l.cluster != nil {
		l.cluster.Shutdown()
	}
}
