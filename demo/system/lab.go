package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/scenario"
)

// LabOptions configure StartLab.
type LabOptions struct {
	// Dir holds the JetStream stores; "" makes a temporary directory that
	// Close removes.
	Dir string
	// System is the scenario's tuning.
	System scenario.System
	// Log receives the services' logs; nil discards them.
	Log *slog.Logger
	// Logf receives the NATS servers' log lines; nil discards them.
	Logf func(format string, args ...any)
}

// A Lab is a fresh demo system this process starts for one scenario run:
// an embedded NATS server (or a three-node cluster) on loopback, the four
// services and the load generator at rate 0, all of which the run may stop
// and restart. It is a scenario.Target through its System; the owner must
// call Close, which removes it all.
type Lab struct {
	*System
	server  *embedded.Server  // single server, or nil
	cluster *embedded.Cluster // three nodes, or nil
	urls    string
	dir     string
	tempDir bool
}

// StartLab starts the servers, creates the streams and buckets and starts
// every service. It does not wait for them: scenario.Run waits until each
// reports running before its first phase.
func StartLab(ctx context.Context, opts LabOptions) (l *Lab, err error) {
	l = &Lab{dir: opts.Dir}
	if l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "sagascope-scenario-"); err != nil {
			return nil, fmt.Errorf("start the scenario's system: %w", err)
		}
		l.tempDir = true
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("start the scenario's system: %w", err), l.Close())
			l = nil
		}
	}()
	if opts.System.Nodes == 3 {
		if l.cluster, err = embedded.StartCluster(3, l.dir); err != nil {
			return l, err
		}
		l.urls = l.cluster.ClientURLs()
	} else {
		l.server, err = embedded.Start(embedded.Options{Port: -1, DataDir: l.dir, Name: "sagascope-scenario", Logf: opts.Logf})
		if err != nil {
			return l, err
		}
		l.urls = l.server.ClientURL()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := Config{
		Connect:   l.dial,
		Workers:   opts.System.Workers,
		Load:      &loadgen.Config{Log: log},
		Log:       log,
		Instances: 1,
	}
	if cfg.Workers == 0 {
		cfg.Workers = scenario.DefaultWorkers
	}
	cfg.Topology.MaxAckPending = opts.System.MaxAckPending
	if opts.System.Nodes == 3 {
		cfg.Topology.Replicas = 3
	}
	DefaultDependencies(&cfg)
	cfg.Payment.Breaker.Delay = opts.System.BreakerDelay
	cfg.Shipping.Breaker.Delay = opts.System.BreakerDelay
	// The services outlive ctx, which only bounds the start: Close stops
	// them. So the wait for JetStream is done here, under ctx; Start's own
	// then finds the resources made.
	if err := prepareWhenReady(ctx, cfg); err != nil {
		return l, err
	}
	l.System, err = Start(context.WithoutCancel(ctx), Options{Services: cfg, Server: l.server, Cluster: l.cluster})
	return l, err
}

// URLs are the client URLs of the servers, comma separated, for a
// dashboard to attach with --server while the scenario runs.
func (l *Lab) URLs() string { return l.urls }

// dial is a connection that reconnects quickly and for ever, as the
// services' own do.
func (l *Lab) dial(_ context.Context, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(l.urls, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), connect.QuietErrors)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", l.urls, err)
	}
	return nc, nil
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
func (l *Lab) Close() error {
	var errs []error
	serversDown := false
	if l.System != nil {
		// Every service stops at once: they drain in parallel, as
		// separate processes shutting down would.
		stopped := make(chan error, 1)
		go func() { stopped <- l.System.Close() }()
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
		return fmt.Errorf("scenario system: %w", errors.Join(errs...))
	}
	return nil
}

func (l *Lab) shutdownServers() {
	if l.server != nil {
		l.server.Shutdown()
	}
	if l.cluster != nil {
		l.cluster.Shutdown()
	}
}
