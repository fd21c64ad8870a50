package system

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/scenario"
)

// A System is the scenario.Target of a demo this process runs: faults and
// load go through the control API as for any system, and the harness
// stops and starts its services, and restarts its server or stops its
// cluster nodes when this process runs them.
var _ scenario.Harnessed = (*System)(nil)

// clusterWaitReady bounds how long StartNode waits for a restarted node to
// catch up: an election on loopback takes seconds, a loaded machine more.
const clusterWaitReady = 60 * time.Second

// Offers implements scenario.Harnessed: services, and the server or the
// nodes this process runs.
func (s *System) Offers() scenario.Harness {
	return scenario.Harness{Services: true, Server: s.server != nil, Nodes: s.cluster != nil}
}

// StopService implements scenario.Target: a graceful stop, as a deploy
// would do; the instances finish and ack what they hold.
func (s *System) StopService(ctx context.Context, svc contract.Service) error {
	return s.services.Stop(ctx, svc)
}

// StartService implements scenario.Target. It returns once the instances
// run; they report running on the status feed shortly after.
func (s *System) StartService(ctx context.Context, svc contract.Service) error {
	return s.services.Start(ctx, svc)
}

// RestartServer implements scenario.Target.
func (s *System) RestartServer(context.Context) error {
	switch {
	case s.cluster != nil:
		return fmt.Errorf("restart the NATS server: %w: this system is a cluster; stop and start one node instead", scenario.ErrNotAvailable)
	case s.server == nil:
		return fmt.Errorf("restart the NATS server: %w: the services use a server this process does not run", scenario.ErrNotAvailable)
	}
	if err := s.server.Restart(); err != nil {
		return fmt.Errorf("restart the NATS server: %w", err)
	}
	return nil
}

// StopNode implements scenario.Target.
func (s *System) StopNode(_ context.Context, name string) error {
	i, err := s.nodeIndex(name)
	if err != nil {
		return fmt.Errorf("stop NATS node %s: %w", name, err)
	}
	s.cluster.Stop(i)
	return nil
}

// StartNode implements scenario.Target: it starts the node and waits until
// the cluster is whole again.
func (s *System) StartNode(_ context.Context, name string) error {
	i, err := s.nodeIndex(name)
	if err != nil {
		return fmt.Errorf("start NATS node %s: %w", name, err)
	}
	if err := s.cluster.Start(i); err != nil {
		return err
	}
	if err := s.cluster.WaitReady(clusterWaitReady); err != nil {
		return fmt.Errorf("start NATS node %s: %w", name, err)
	}
	return nil
}

// nodeIndex maps a server name to its cluster index: node i is s<i+1>.
func (s *System) nodeIndex(name string) (int, error) {
	if s.cluster == nil {
		return 0, fmt.Errorf("%w: this system is a single server (run 'sagascope scenario run' to start a cluster)", scenario.ErrNotAvailable)
	}
	for i := range s.cluster.Servers() {
		if "s"+strconv.Itoa(i+1) == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no NATS node %q (the nodes are s1, s2, s3)", name)
}
