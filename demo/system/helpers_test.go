package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/check"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/demo/topology"
)

// Deadlines for polling (systemtest's): something that takes a second or
// two on an idle machine, and a whole system settling after a fault.
const (
	quickly    = systemtest.Quickly
	eventually = systemtest.Eventually
)

// rig is a running demo system and a test connection to its server.
type rig struct {
	srv  *embedded.Server
	cfg  system.Config
	nc   *nats.Conn
	js   jetstream.JetStream
	ctl  *control.Client
	feed *statusFeed
}

// requestCtx bounds one request of the test; it ends with the test.
func requestCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), quickly)
	t.Cleanup(cancel)
	return c
}

// sagas reads every saga in the sagas bucket.
func sagas(t *testing.T, js jetstream.JetStream) map[string]contract.Saga {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), quickly)
	defer cancel()
	kv, err := js.KeyValue(c, contract.SagaBucket)
	if err != nil {
		t.Fatalf("open %s: %v", contract.SagaBucket, err)
	}
	out, bad, err := check.ReadBucket[contract.Saga](c, kv)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("saga records that do not decode: %v", bad)
	}
	return out
}

// countByStatus counts sagas by status.
func countByStatus(all map[string]contract.Saga) map[contract.SagaStatus]int {
	counts := map[contract.SagaStatus]int{}
	for _, s := range all {
		counts[s.Status]++
	}
	return counts
}

// allFinal says which sagas are still in flight, or nil when every saga is
// final and there is at least one.
func allFinal(all map[string]contract.Saga) error {
	if len(all) == 0 {
		return errors.New("no saga yet")
	}
	var inFlight []string
	for id, s := range all {
		if !s.Status.Final() {
			inFlight = append(inFlight, id+" "+string(s.Status))
		}
	}
	if len(inFlight) > 0 {
		slices.Sort(inFlight)
		return fmt.Errorf("%d of %d sagas in flight, e.g. %s (%v)", len(inFlight), len(all), inFlight[0], countByStatus(all))
	}
	return nil
}

// waitCompleted waits until at least n more sagas completed than when it
// was called: the pipeline is moving.
func (r *rig) waitCompleted(t *testing.T, n int, what string) {
	t.Helper()
	from := countByStatus(sagas(t, r.js))[contract.SagaCompleted]
	systemtest.WaitFor(t, eventually, what, func() error {
		c := countByStatus(sagas(t, r.js))
		if got := c[contract.SagaCompleted] - from; got < n {
			return fmt.Errorf("%d more completed, want %d (%v)", got, n, c)
		}
		return nil
	})
}

// setLoad sets the load rate, as `sagascope load` does.
func (r *rig) setLoad(t *testing.T, rate float64) {
	t.Helper()
	if _, err := r.ctl.SetLoad(requestCtx(t), contract.LoadRequest{Rate: &rate}); err != nil {
		t.Fatalf("set load to %v/s: %v", rate, err)
	}
}

// settle stops the load and waits until the generator has stopped placing
// orders, every consumer has nothing left to deliver or to be acked, and
// every saga is final. It returns the sagas.
func (r *rig) settle(t *testing.T) map[string]contract.Saga {
	t.Helper()
	r.stopLoad(t)
	var all map[string]contract.Saga
	systemtest.WaitFor(t, eventually, "every consumer drained and every saga final", func() error {
		if err := r.consumersIdle(t); err != nil {
			return err
		}
		all = sagas(t, r.js)
		return allFinal(all)
	})
	return all
}

// stopLoad sets the load to 0 and waits until the generator has stopped
// placing orders.
func (r *rig) stopLoad(t *testing.T) {
	t.Helper()
	r.setLoad(t, 0)
	// Two statuses in a row at rate 0 with the same count placed: the
	// generator has seen the setting and its last publishes are acked.
	var last *contract.LoadStatus
	r.feed.wait(t, r.feed.mark(), eventually, "the load generator stops", func(s contract.Status) bool {
		if s.Load == nil {
			return false
		}
		stopped := last != nil && last.Rate == 0 && s.Load.Rate == 0 && last.Placed == s.Load.Placed
		last = s.Load
		return stopped
	})
}

// consumersIdle says which durable consumer still has messages to deliver
// or awaiting an ack, or nil when none has.
func (r *rig) consumersIdle(t *testing.T) error {
	t.Helper()
	for _, c := range topology.Consumers(r.cfg.Topology) {
		if err := r.consumerIdle(t, c.Stream, c.Config.Durable); err != nil {
			return err
		}
	}
	return nil
}

// consumerIdle says what one consumer still has to deliver or to be acked,
// or nil when it has nothing.
func (r *rig) consumerIdle(t *testing.T, stream, durable string) error {
	t.Helper()
	info := r.consumerInfo(t, stream, durable)
	if info.NumPending > 0 || info.NumAckPending > 0 || info.Paused {
		return fmt.Errorf("consumer %s has %d pending, %d awaiting ack, paused %v", durable, info.NumPending, info.NumAckPending, info.Paused)
	}
	return nil
}

func (r *rig) consumerInfo(t *testing.T, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), quickly)
	defer cancel()
	cons, err := r.js.Consumer(c, stream, durable)
	if err != nil {
		t.Fatalf("consumer %s on %s: %v", durable, stream, err)
	}
	info, err := cons.Info(c)
	if err != nil {
		t.Fatalf("info of consumer %s on %s: %v", durable, stream, err)
	}
	return info
}

// mustCheck runs `sagascope check` and fails the test on any violation.
func (r *rig) mustCheck(t *testing.T) check.Report {
	t.Helper()
	rep, err := check.Run(requestCtx(t), r.js, check.Options{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var b strings.Builder
	rep.Print(&b)
	if !rep.OK() {
		t.Fatalf("check found violations:\n%s", b.String())
	}
	t.Logf("check:\n%s", b.String())
	return rep
}

// setFault injects f through the control API and waits until every
// instance of its service reports it in force.
func (r *rig) setFault(t *testing.T, f contract.Fault) {
	t.Helper()
	mark := r.feed.mark()
	r.injectFault(t, f)
	r.feed.wait(t, mark, quickly, fmt.Sprintf("%s reports fault %s", f.Service, f.Kind), func(s contract.Status) bool {
		return s.Service == f.Service && hasFault(s, f.Kind)
	})
}

// injectFault sets f through the control API without waiting for its
// service: for a service that is not running, which applies it when it
// starts.
func (r *rig) injectFault(t *testing.T, f contract.Fault) {
	t.Helper()
	if _, err := r.ctl.SetFault(requestCtx(t), f); err != nil {
		t.Fatalf("set fault %s on %s: %v", f.Kind, f.Service, err)
	}
}

// clearFault clears a fault through the control API and waits until its
// service no longer reports it.
func (r *rig) clearFault(t *testing.T, svc contract.Service, kind contract.FaultKind) {
	t.Helper()
	mark := r.feed.mark()
	if _, err := r.ctl.ClearFault(requestCtx(t), svc, kind); err != nil {
		t.Fatalf("clear fault %s on %s: %v", kind, svc, err)
	}
	r.feed.wait(t, mark, quickly, fmt.Sprintf("%s no longer reports fault %s", svc, kind), func(s contract.Status) bool {
		return s.Service == svc && !hasFault(s, kind)
	})
}

func hasFault(s contract.Status, kind contract.FaultKind) bool {
	return slices.ContainsFunc(s.Faults, func(f contract.Fault) bool { return f.Kind == kind })
}

// statusFeed records every status the instances publish on
// contract.StatusSubjects, as the dashboard receives them.
type statusFeed struct {
	mu  sync.Mutex
	all []contract.Status
}

func followStatus(t *testing.T, nc *nats.Conn) *statusFeed {
	t.Helper()
	f := &statusFeed{}
	sub, err := nc.Subscribe(contract.StatusSubjects, func(m *nats.Msg) {
		var s contract.Status
		if json.Unmarshal(m.Data, &s) == nil {
			f.mu.Lock()
			f.all = append(f.all, s)
			f.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("follow the status feed: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("follow the status feed: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

// mark is the position of the next status to arrive.
func (f *statusFeed) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}

// wait waits for a status received after mark that satisfies ok, and
// returns it. ok sees every status once, in arrival order.
func (f *statusFeed) wait(t *testing.T, mark int, timeout time.Duration, what string, ok func(contract.Status) bool) contract.Status {
	t.Helper()
	next := mark
	var found *contract.Status
	systemtest.WaitFor(t, timeout, what, func() error {
		f.mu.Lock()
		seen := f.all[next:]
		f.mu.Unlock()
		for _, s := range seen {
			next++
			if ok(s) {
				found = &s
				return nil
			}
		}
		return fmt.Errorf("%d statuses received, none matching", next-mark)
	})
	return *found
}

// streamMessages reads every message stored in a stream, in order.
func streamMessages(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), quickly)
	defer cancel()
	s, err := js.Stream(c, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	st := s.CachedInfo().State
	var out []*jetstream.RawStreamMsg
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(c, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("read %s #%d: %v", name, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// sent is one saga message as stored, with the server's timestamp.
type sent struct {
	typ  string
	time time.Time
}

// sagaMessages reads the given streams and returns, per saga, the saga
// messages stored, each type once (its first copy).
func sagaMessages(t *testing.T, js jetstream.JetStream, streams ...string) map[string]map[string]sent {
	t.Helper()
	out := map[string]map[string]sent{}
	for _, name := range streams {
		for _, m := range streamMessages(t, js, name) {
			typ, ok := contract.TypeOf(m.Subject)
			id := m.Header.Get(contract.SagaHeader)
			if !ok || id == "" {
				continue
			}
			if out[id] == nil {
				out[id] = map[string]sent{}
			}
			if _, dup := out[id][typ]; !dup {
				out[id][typ] = sent{typ: typ, time: m.Time}
			}
		}
	}
	return out
}

// connID returns the client id of the connection with the given name, or 0.
func connID(t *testing.T, srv *embedded.Server, name string) uint64 {
	t.Helper()
	cz, err := srv.NATS().Connz(&server.ConnzOptions{Limit: 1024})
	if err != nil {
		t.Fatalf("connz: %v", err)
	}
	for _, c := range cz.Conns {
		if c.Name == name {
			return c.Cid
		}
	}
	return 0
}

// waitRunning waits until an instance of each of svcs reports running in a
// status received after mark: it is consuming and serves the control API.
func (r *rig) waitRunning(t *testing.T, mark int, svcs ...contract.Service) {
	t.Helper()
	for _, svc := range svcs {
		r.feed.wait(t, mark, quickly, string(svc)+" is running", func(s contract.Status) bool {
			return s.Service == svc && s.State == contract.StateRunning
		})
	}
}

// startService runs svc's instance on its own, beside the rig's system, as
// another process would, and waits until it is running. The returned stop
// shuts it down gracefully and returns what its run returned; the test's
// cleanup stops it too if the test did not.
func (r *rig) startService(t *testing.T, svc contract.Service) (stop func() error) {
	t.Helper()
	cfg := r.cfg
	cfg.Services = []contract.Service{svc}
	mark := r.feed.mark()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- system.RunInstances(runCtx, system.Instances(cfg)) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
	})
	r.waitRunning(t, mark, svc)
	return stop
}

// waitHeldOnServer checks that svc, stopped gracefully, left nothing
// delivered and unacked but what was in the air, and waits until at least n
// of its commands wait on the server for an instance to start.
func (r *rig) waitHeldOnServer(t *testing.T, svc contract.Service, n uint64) {
	t.Helper()
	stream, durable := contract.StreamName(svc), contract.CommandConsumer(svc)
	// The stop returned after the connection drained, so the server has
	// every ack the instance sent. A message the server sent for a pull
	// request as the instance stopped, which it never received, is still
	// ack pending, and stays so until an instance pulls it again after
	// AckWait (the server counts a message waiting for redelivery as ack
	// pending). At most one pull batch, a worker's worth each, can be in the
	// air; more means the work in hand was dropped instead of finished.
	if got := r.consumerInfo(t, stream, durable).NumAckPending; got > max(r.cfg.Workers, 1) {
		t.Fatalf("%d %s commands delivered and not acked after a graceful stop; the work in hand was not finished", got, svc)
	}
	systemtest.WaitFor(t, quickly, string(svc)+" commands wait on the server while no instance runs", func() error {
		if got := r.consumerInfo(t, stream, durable).NumPending; got < n {
			return fmt.Errorf("%d pending", got)
		}
		return nil
	})
}

// without is every service but svc, for a rig that runs svc separately.
func without(svc contract.Service) []contract.Service {
	return slices.DeleteFunc(slices.Clone(contract.Services), func(s contract.Service) bool { return s == svc })
}
