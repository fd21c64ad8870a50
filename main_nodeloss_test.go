package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/orders"
)

// Three nats-server processes in a cluster, the orders service in one
// sagascope process and the other services, two instances each, in
// another: the node leading the orders stream is killed with SIGKILL
// under load and restarted on its own store, and `sagascope check` still
// finds every saga, charge and reservation exact. The time completions
// stopped after the kill is logged as the measured node-loss recovery.
func TestANodeKilledUnderLoadAndRestartedLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs five processes")
	}
	bin := binary(t)
	srv := natsServerBinary(t)
	cl := startProcessCluster(t, srv, 3)
	urls := cl.urls()

	// Both service processes declare the R3 topology; the load runs in
	// the orders process, so the orders it places cross to the others.
	common := []string{"demo", "--replicas", "3", "--server", urls, "--log-level", "error"}
	startProcess(t, "orders", bin, append(common, "--services", "orders", "--load", "50")...)
	startProcess(t, "steps", bin, append(common, "--services", "payment,inventory,shipping", "--instances", "2", "--no-load")...)

	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	c := sampleCompletions(ctx, js, 200*time.Millisecond)
	defer c.stop()

	// Two processes declaring fifteen R3 streams and buckets at once took
	// 36s on a loaded two-core machine before the first saga completed.
	before := c.waitFor(t, ctx, func(n uint64) bool { return n >= 100 }, 60*time.Second, "100 sagas completed")
	leader := ordersLeader(t, ctx, js)
	killed := time.Now()
	cl.kill(t, leader)
	t.Logf("killed %s, the SAGA_ORDERS leader, with %d sagas completed", leader, before)
	elected := timeNewLeader(ctx, js, leader, killed)

	after := c.waitFor(t, ctx, func(n uint64) bool { return n >= before+100 }, 45*time.Second, "100 more sagas completed after the kill")
	stall := c.longestStallSince(killed)
	t.Logf("node-loss recovery: completions stopped for %s after the kill (sampled every 200ms); %d completed by then",
		stall.Round(100*time.Millisecond), after)
	if d, ok := <-elected; ok {
		t.Logf("SAGA_ORDERS had a new leader %s after the kill (the servers' raft election: 4 to 9 s)", d.Round(100*time.Millisecond))
	}

	cl.start(t, leader)
	c.waitFor(t, ctx, func(n uint64) bool { return n >= after+100 }, 30*time.Second, "100 more sagas completed after the restart")
	if out, err := exec.CommandContext(ctx, bin, "load", "--rate", "0", "--server", urls).CombinedOutput(); err != nil {
		t.Fatalf("load --rate 0: %v\n%s", err, out)
	}
	// With the load paused, every saga in flight finishes: check then
	// accounts for all of them, none left to settle. A saga whose answer
	// was in a pull the kill cut off waits for its redelivery (AckWait)
	// or its step timeout, so check runs again until none is in flight.
	c.waitQuiet(t, ctx, 2*time.Second, 30*time.Second)
	paused := time.Now()
	for {
		out, err := exec.CommandContext(ctx, bin, "check", "--server", urls, "--settle", "20s").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "sagascope check: OK") {
			t.Fatalf("check after the node loss (%v):\n%s\nreplicas:\n%s\nlogs:\n%s", err, out, cl.replicaBalances(ctx), cl.logs(leader))
		}
		if strings.Contains(string(out), " 0 in flight") {
			t.Logf("check, %s after the load paused:\n%s\nreplicas:\n%s", time.Since(paused).Round(100*time.Millisecond), out, cl.replicaBalances(ctx))
			return
		}
		// Two step timeouts: a step's and the compensation it starts.
		if time.Since(paused) > 2*orders.DefaultStepTimeout+10*time.Second {
			t.Fatalf("sagas still in flight %s after the load paused:\n%s\nlogs:\n%s", time.Since(paused).Round(time.Second), out, cl.logs(leader))
		}
		time.Sleep(2 * time.Second)
	}
}

// timeNewLeader sends the time from killed until the orders stream has a
// leader other than old, then closes; it closes without one when ctx ends.
func timeNewLeader(ctx context.Context, js jetstream.JetStream, old string, killed time.Time) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			s, err := js.Stream(rctx, contract.StreamName(contract.Orders))
			cancel()
			if err == nil {
				if c := s.CachedInfo().Cluster; c != nil && c.Leader != "" && c.Leader != old {
					out <- time.Since(killed)
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return out
}

// natsServerBinary builds nats-server from the module cache into a
// temporary directory: go's build cache makes every build after the first
// a link only.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return bin
}

// processCluster is n nats-server processes routed to each other on
// loopback, each with its own config file, store and log in a temporary
// directory, named s1…sn.
type processCluster struct {
	bin   string
	dir   string
	ports []int // client ports, by node index
	procs map[string]*exec.Cmd
}

func startProcessCluster(t *testing.T, bin string, n int) *processCluster {
	t.Helper()
	cl := &processCluster{bin: bin, dir: t.TempDir(), procs: map[string]*exec.Cmd{}}
	routes := make([]int, n)
	for i := range n {
		cl.ports = append(cl.ports, natstest.FreePort(t))
		routes[i] = natstest.FreePort(t)
	}
	for i := range n {
		var peers []string
		for j, p := range routes {
			if j != i {
				peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		name := fmt.Sprintf("s%d", i+1)
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: c
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, cl.ports[i], filepath.Join(cl.dir, name), routes[i], strings.Join(peers, ", "))
		if err := os.WriteFile(cl.conf(name), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cl.start(t, name)
	}
	cl.waitForJetStream(t)
	return cl
}

func (cl *processCluster) conf(name string) string { return filepath.Join(cl.dir, name+".conf") }
func (cl *processCluster) log(name string) string  { return filepath.Join(cl.dir, name+".log") }

// logs is the end of a node's log, for a failure message.
func (cl *processCluster) logs(name string) string {
	b, _ := os.ReadFile(cl.log(name))
	return string(b[max(0, len(b)-4000):])
}

func (cl *processCluster) urls() string {
	var urls []string
	for _, p := range cl.ports {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(urls, ",")
}

// start starts node name (again) on its config and store; the test's
// cleanup kills it and waits for it.
func (cl *processCluster) start(t *testing.T, name string) {
	t.Helper()
	log, err := os.OpenFile(cl.log(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	cmd := exec.Command(cl.bin, "-c", cl.conf(name))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	cl.procs[name] = cmd
	t.Cleanup(func() { stopProcess(cmd) })
}

// kill kills node name with SIGKILL, as a lost machine would go.
func (cl *processCluster) kill(t *testing.T, name string) {
	t.Helper()
	cmd := cl.procs[name]
	if cmd == nil {
		t.Fatalf("no node %q", name)
	}
	stopProcess(cmd)
}

// waitForJetStream waits until the cluster has a meta leader: until then
// no stream can be created.
func (cl *processCluster) waitForJetStream(t *testing.T) {
	t.Helper()
	nc, err := nats.Connect(cl.urls(), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JetStream on the cluster within 30s: %v\n%s", err, cl.logs("s1"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startProcess starts a sagascope process whose output goes to the test
// log when the test fails; it is killed and waited for when the test ends.
func startProcess(t *testing.T, label, bin string, args ...string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	t.Cleanup(func() {
		stopProcess(cmd)
		if t.Failed() {
			t.Logf("%s output:\n%s", label, out.tail(4000))
		}
	})
}

// stopProcess kills cmd and waits for it; a second call does nothing.
func stopProcess(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// ordersLeader is the server leading SAGA_ORDERS.
func ordersLeader(t *testing.T, ctx context.Context, js jetstream.JetStream) string {
	t.Helper()
	s, err := js.Stream(ctx, contract.StreamName(contract.Orders))
	if err != nil {
		t.Fatalf("orders stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("orders stream's leader: %v (cluster %+v)", err, info)
	}
	return info.Cluster.Leader
}

// lockedBuffer is a process's output, written by exec's copier goroutine
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b[max(0, len(l.b)-n):])
}

// completions samples how many orders.completed events the orders stream
// holds, from a goroutine that stop ends and waits for. A sample that
// fails (no leader to answer) repeats the last count: no completion was
// seen to land.
type completions struct {
	mu      sync.Mutex
	samples []completionSample
	cancel  context.CancelFunc
	done    chan struct{}
}

type completionSample struct {
	at time.Time
	n  uint64
}

func sampleCompletions(ctx context.Context, js jetstream.JetStream, every time.Duration) *completions {
	ctx, cancel := context.WithCancel(ctx)
	c := &completions{cancel: cancel, done: make(chan struct{})}
	subject := contract.Subject(contract.OrderCompleted)
	go func() {
		defer close(c.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			n, ok := c.last()
			rctx, rcancel := context.WithTimeout(ctx, every)
			if s, err := js.Stream(rctx, contract.StreamName(contract.Orders)); err == nil {
				if info, err := s.Info(rctx, jetstream.WithSubjectFilter(subject)); err == nil {
					n, ok = info.State.Subjects[subject], true
				}
			}
			rcancel()
			if ok {
				c.mu.Lock()
				c.samples = append(c.samples, completionSample{at: time.Now(), n: n})
				c.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *completions) stop() {
	c.cancel()
	<-c.done
}

func (c *completions) last() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return 0, false
	}
	return c.samples[len(c.samples)-1].n, true
}

// waitFor waits until the count satisfies ok and returns it.
func (c *completions) waitFor(t *testing.T, ctx context.Context, ok func(uint64) bool, within time.Duration, what string) uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, _ := c.last()
		if ok(n) {
			return n
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("not %s within %s: %d completed", what, within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitQuiet waits until the count has not grown for quiet.
func (c *completions) waitQuiet(t *testing.T, ctx context.Context, quiet, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		var grew time.Time
		for i := len(c.samples) - 1; i > 0; i-- {
			if c.samples[i].n != c.samples[i-1].n {
				grew = c.samples[i].at
				break
			}
		}
		c.mu.Unlock()
		if !grew.IsZero() && time.Since(grew) >= quiet {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n, _ := c.last()
			t.Fatalf("completions still growing %s after the load stopped: %d completed", within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// longestStallSince is the longest time, from since to the last sample,
// that the count did not grow: how long sagas stopped flowing.
func (c *completions) longestStallSince(since time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var longest time.Duration
	grew := since
	for i := 1; i < len(c.samples); i++ {
		s := c.samples[i]
		if s.at.Before(since) || s.n <= c.samples[i-1].n {
			continue
		}
		// The count grew at s and had not since grew: at the sampling
		// period this reads 200ms while sagas flow.
		longest = max(longest, s.at.Sub(grew))
		grew = s.at
	}
	return longest
}

// replicaBalances compares every account's balance as each node's replica
// of the accounts bucket holds it with what the bucket's leader holds, for
// a failure message: a direct get asked of a client's own server is
// answered by that server's replica, STREAM.MSG.GET by the leader.
func (cl *processCluster) replicaBalances(ctx context.Context) string {
	var out strings.Builder
	stream := "KV_" + contract.AccountBucket
	read := func(nc *nats.Conn, api, key string) (rev uint64, avail int64, err error) {
		req := fmt.Sprintf(`{"last_by_subj":"$KV.%s.%s"}`, contract.AccountBucket, key)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		m, err := nc.RequestWithContext(rctx, api, []byte(req))
		if err != nil {
			return 0, 0, err
		}
		var b contract.Balance
		if api == "$JS.API.STREAM.MSG.GET."+stream {
			var r struct {
				Message struct {
					Seq  uint64 `json:"seq"`
					Data []byte `json:"data"`
				} `json:"message"`
			}
			if err := json.Unmarshal(m.Data, &r); err != nil {
				return 0, 0, err
			}
			err = json.Unmarshal(r.Message.Data, &b)
			return r.Message.Seq, b.Available, err
		}
		seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		err = json.Unmarshal(m.Data, &b)
		return seq, b.Available, err
	}
	leader := map[string][2]int64{}
	for i, port := range cl.ports {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.NoReconnect())
		if err != nil {
			fmt.Fprintf(&out, "s%d: %v\n", i+1, err)
			continue
		}
		var sum int64
		var diffs []string
		for k := range 1000 {
			key := fmt.Sprintf("cust-%04d", k)
			if i == 0 {
				rev, avail, err := read(nc, "$JS.API.STREAM.MSG.GET."+stream, key)
				if err != nil {
					fmt.Fprintf(&out, "leader %s: %v\n", key, err)
				}
				leader[key] = [2]int64{int64(rev), avail}
			}
			rev, avail, err := read(nc, "$JS.API.DIRECT.GET."+stream, key)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: %v", key, err))
				continue
			}
			sum += avail
			if l := leader[key]; l != [2]int64{int64(rev), avail} {
				diffs = append(diffs, fmt.Sprintf("%s seq %d %d, leader seq %d %d", key, rev, avail, l[0], l[1]))
			}
		}
		nc.Close()
		fmt.Fprintf(&out, "s%d: balances sum %d, %d keys differ from the leader %v\n", i+1, sum, len(diffs), diffs[:min(len(diffs), 5)])
	}
	return out.String()
}
