package embedded

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterName is the NATS cluster name every Cluster node shares.
const clusterName = "sagascope"

// clusterReadyTimeout bounds how long StartCluster and WaitReady wait for a
// JetStream meta leader that sees every node. On loopback an election takes
// 2-4 s; the margin covers a loaded CI machine.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a set of embedded servers routed to each other on loopback,
// forming one JetStream cluster, for reliability tests that need R3 streams
// and node failures. Nodes are indexed from 0; node i is named "s<i+1>".
// Its methods are safe for concurrent use. The owner must call Shutdown.
type Cluster struct {
	servers []*Server
}

// StartCluster starts n servers named s1..sN on 127.0.0.1 with free client
// and cluster ports, each with its own store under baseDir/sN, and returns
// once a JetStream meta leader is elected and every node is current.
func StartCluster(n int, baseDir string) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("start NATS cluster: need at least 1 server, got %d", n)
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, fmt.Errorf("start NATS cluster: %w", err)
	}
	// Every node lists every node (itself included; the server ignores a
	// route to itself), so the full mesh forms whichever node starts first
	// and a restarted node finds its peers again.
	routes := make([]*url.URL, n)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats", Host: net.JoinHostPort(defaultHost, strconv.Itoa(p))}
	}

	c := &Cluster{}
	system := login(SystemUser, "") // one login on every node: a client may reconnect to any
	for i := range n {
		name := "s" + strconv.Itoa(i+1)
		s := &Server{
			host:    defaultHost,
			name:    name,
			dataDir: filepath.Join(baseDir, name),
			cluster: &memberConfig{name: name, port: ports[i], routes: routes},
			system:  system,
		}
		if err := prepareDataDir(s.dataDir, false); err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start NATS cluster node %s: %w", name, err)
		}
		s.mu.Lock()
		err := s.startLocked(server.RANDOM_PORT)
		s.mu.Unlock()
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start NATS cluster node %s: %w", name, err)
		}
		c.servers = append(c.servers, s)
	}
	if err := c.WaitReady(clusterReadyTimeout); err != nil {
		c.Shutdown()
		return nil, fmt.Errorf("start NATS cluster: %w", err)
	}
	return c, nil
}

// DefaultClusterDir returns the per-user directory of the stores of a
// Cluster started by the default command, <user cache dir>/sagascope/cluster:
// beside the single server's, so the two never share a store.
func DefaultClusterDir() (string, error) {
	dir, err := DefaultDataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(dir), "cluster"), nil
}

// WipeCluster removes the JetStream stores that StartCluster(n, baseDir)
// keeps, as Options.Fresh does for one server: only what the servers
// created below each node's directory.
func WipeCluster(n int, baseDir string) error {
	for i := range n {
		if err := prepareDataDir(filepath.Join(baseDir, "s"+strconv.Itoa(i+1)), true); err != nil {
			return fmt.Errorf("wipe the store of cluster node s%d: %w", i+1, err)
		}
	}
	return nil
}

// freePorts reserves n distinct free loopback ports by holding listeners on
// all of them at once, then releases them for the servers to bind. Another
// process could grab one in between; on loopback that window is negligible.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(defaultHost, "0"))
		if err != nil {
			return nil, fmt.Errorf("reserve a free cluster port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Servers returns the nodes, in index order. The slice is a copy; the
// Servers are shared.
func (c *Cluster) Servers() []*Server {
	return append([]*Server(nil), c.servers...)
}

// ClientURLs returns every node's client URL, comma separated, the form
// nats.Connect and --server accept. Stopped nodes are included: their ports
// are kept, and clients skip them until they return.
func (c *Cluster) ClientURLs() string {
	urls := make([]string, len(c.servers))
	for i, s := range c.servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Leader returns the index of the node that is the JetStream meta leader, or
// -1 if no running node is leader right now.
func (c *Cluster) Leader() int {
	for i, s := range c.servers {
		if ns := s.NATS(); ns != nil && ns.Running() && ns.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// WaitReady waits until a meta leader sees all running nodes as peers and
// every running node is current, or timeout passes.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no JetStream meta leader with all %d nodes current after %s", len(c.servers), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) ready() bool {
	leader := c.Leader()
	if leader < 0 {
		return false
	}
	if len(c.servers[leader].NATS().JetStreamClusterPeers()) != len(c.servers) {
		return false
	}
	for _, s := range c.servers {
		if ns := s.NATS(); ns != nil && ns.Running() && !ns.JetStreamIsCurrent() {
			return false
		}
	}
	return true
}

// Stop shuts node i (0 <= i < n) down and waits until it is fully down,
// keeping its store and ports so Start can bring it back. Stopping a stopped
// node does nothing.
func (c *Cluster) Stop(i int) {
	c.servers[i].Shutdown()
}

// Start restarts node i (stopped or not) on the same ports and store. It
// returns once the node accepts clients; use WaitReady to wait until it has
// caught up with the cluster.
func (c *Cluster) Start(i int) error {
	if i < 0 || i >= len(c.servers) {
		return fmt.Errorf("start cluster node %d: no such node (have %d)", i, len(c.servers))
	}
	if err := c.servers[i].Restart(); err != nil {
		return fmt.Errorf("start cluster node %s: %w", c.servers[i].name, err)
	}
	return nil
}

// Shutdown stops every node and waits until all are down. Nodes shut down
// concurrently: one at a time, each remaining node would first try to elect
// new leaders, which only slows the teardown. Safe to call twice.
func (c *Cluster) Shutdown() {
	var wg sync.WaitGroup
	for _, s := range c.servers {
		wg.Go(s.Shutdown)
	}
	wg.Wait()
}
