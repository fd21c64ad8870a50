package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/tui"
)

// clusterFlags checks the default command's flags for --cluster n and
// gives the streams and buckets three replicas unless --replicas says
// otherwise. The nodes listen on free loopback ports with no logins: a
// cluster is for trying replication on one machine, not for sharing.
func clusterFlags(fs *flag.FlagSet, n int, d *demoFlags) error {
	if n != 3 && n != 5 {
		return cli.Usagef("--cluster %d: use 3 or 5 (a majority must outlive a node)", n)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"port", "listen", "operator-password", "observer-password", "tlscert", "tlskey"} {
		if set[name] {
			return cli.Usagef("--%s does not go with --cluster: the nodes listen on free loopback ports, unshared", name)
		}
	}
	if !set["replicas"] {
		d.replicas = 3
	}
	if d.replicas > n {
		return cli.Usagef("--replicas %d is more than the %d nodes of --cluster", d.replicas, n)
	}
	return nil
}

// clusterRun is what runCluster needs from the default command's flags.
type clusterRun struct {
	nodes   int
	dir     string // "" for embedded.DefaultClusterDir
	fresh   bool
	withTUI bool
	d       demoFlags
}

// runCluster is the default command with --cluster: n embedded servers
// routed to each other in this process, the demo services on them, and
// the dashboard, whose scenarios may stop and start the nodes.
func runCluster(ctx context.Context, c clusterRun, stdout, stderr io.Writer) error {
	dir := c.dir
	if dir == "" {
		var err error
		if dir, err = embedded.DefaultClusterDir(); err != nil {
			return err
		}
	}
	if c.fresh {
		if err := embedded.WipeCluster(c.nodes, dir); err != nil {
			return err
		}
	}
	if !c.withTUI {
		fmt.Fprintf(stdout, "sagascope: starting %d clustered NATS servers (data in %s)…\n", c.nodes, dir)
	}
	cluster, err := embedded.StartCluster(c.nodes, dir)
	if err != nil {
		return err
	}
	defer cluster.Shutdown()
	logOut, closeLog, err := logTo(c.withTUI, dir, stdout, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	cfg, err := c.d.config(logOut)
	if err != nil {
		return err
	}
	urls := cluster.ClientURLs()
	if !c.withTUI {
		fmt.Fprintf(stdout, "sagascope: a JetStream cluster of %d servers on %s, streams and buckets R%d\n", c.nodes, urls, cfg.Topology.Replicas)
		fmt.Fprintf(stdout, "sagascope: try 'sagascope tui --server %s' in another terminal\n", urls)
	}
	run := runner{cfg: cfg, tel: c.d.telemetry(cfg.Log), conn: connect.Options{Servers: urls}, stdout: stdout, cluster: cluster}
	run.system, _ = cluster.Servers()[0].SystemClientOptions()
	if c.withTUI {
		run.dashboard = &tui.Options{Title: fmt.Sprintf("embedded cluster of %d on %s", c.nodes, urls)}
	}
	return run.run(ctx)
}
