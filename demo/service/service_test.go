package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/service/servicetest"
	"github.com/sagascope/sagascope/demo/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every poll: generous, as other test binaries share the
// machine; a condition that holds returns at once.
const wait = 30 * time.Second

// shipper is a service under shipping's name (one command consumer) whose
// handler reports every delivery and, while hold is set, keeps the first
// delivery of each message in hand until release is closed.
type shipper struct {
	binds    atomic.Int32
	bindErr  error
	noRoutes bool
	hold     bool
	handled  chan worker.Delivery
	release  chan struct{}
}

func newShipper() *shipper {
	return &shipper{handled: make(chan worker.Delivery, 16), release: make(chan struct{})}
}

func (*shipper) Name() contract.Service { return contract.Shipping }

func (s *shipper) Bind(_ context.Context, env service.Env) (service.Binding, error) {
	s.binds.Add(1)
	if s.bindErr != nil {
		return service.Binding{}, s.bindErr
	}
	if s.noRoutes {
		return service.Binding{}, nil
	}
	handle := func(ctx context.Context, d worker.Delivery) error {
		s.handled <- d
		if s.hold && d.NumDelivered == 1 {
			<-s.release
		}
		return nil
	}
	return service.Binding{Routes: map[string]service.Route{contract.CommandConsumer(contract.Shipping): {Handle: handle}}}, nil
}

func config(r *servicetest.Rig, svc service.Service) service.Config {
	url := r.Server.ClientURL()
	return service.Config{
		Service: svc, Instance: "i1", Workers: 2, Topology: r.Topology,
		StatusEvery: 20 * time.Millisecond, Log: servicetest.Quiet,
		Connect: func(ctx context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name))
		},
	}
}

// run runs an instance until stop is called or the test ends; stop
// returns what Run returned.
func run(t *testing.T, cfg service.Config) (in *service.Instance, stop func() error) {
	t.Helper()
	in = service.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var err error
	var stopped atomic.Bool
	stop = func() error {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return in, stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not so after %v: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func received(t *testing.T, s *shipper) worker.Delivery {
	t.Helper()
	select {
	case d := <-s.handled:
		return d
	case <-time.After(wait):
		t.Fatal("no delivery reached the handler")
		return worker.Delivery{}
	}
}

func schedule(t *testing.T, r *servicetest.Rig, id string) {
	t.Helper()
	env := contract.NewEnvelope(contract.ScheduleShipment, servicetest.Order(id, 100, 1), nil, 0, time.Now())
	if err := worker.Publish(t.Context(), r.JS, env); err != nil {
		t.Fatal(err)
	}
}

// commandConsumer is the server's view of the command consumer now.
func commandConsumer(t *testing.T, r *servicetest.Rig) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := r.JS.Consumer(t.Context(), contract.StreamName(contract.Shipping), contract.CommandConsumer(contract.Shipping))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// acked is the stream sequence up to which the command consumer has acked
// every message.
func acked(t *testing.T, r *servicetest.Rig) uint64 {
	t.Helper()
	return commandConsumer(t, r).AckFloor.Stream
}

// statuses follows the instance's status feed; until reads it until a
// status satisfies cond.
type statuses struct{ sub *nats.Subscription }

func followStatus(t *testing.T, r *servicetest.Rig) statuses {
	t.Helper()
	sub, err := r.NC.SubscribeSync(contract.StatusSubject(contract.Shipping, "i1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return statuses{sub}
}

func (f statuses) until(t *testing.T, what string, cond func(contract.Status) bool) contract.Status {
	t.Helper()
	for {
		m, err := f.sub.NextMsg(wait)
		if err != nil {
			t.Fatalf("no status %s: %v", what, err)
		}
		var st contract.Status
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
	}
}

// noInstanceConns waits until the server has no connection made by an
// instance (the test's own are named natstest:...): the server notices a
// client's close a little after it.
func noInstanceConns(t *testing.T, r *servicetest.Rig) {
	t.Helper()
	waitUntil(t, "the instance's connections are closed", func() bool { return instanceConns(t, r) == 0 })
}

func instanceConns(t *testing.T, r *servicetest.Rig) int {
	t.Helper()
	cz, err := r.Server.NATS().Connz(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cz.Conns {
		if strings.HasPrefix(c.Name, "sagascope ") {
			n++
		}
	}
	return n
}

func TestAnInstanceHandlesItsCommandsAndPublishesItsStatus(t *testing.T) {
	r := servicetest.New(t, contract.Shipping)
	feed := followStatus(t, r)
	s := newShipper()
	in, _ := run(t, config(r, s))
	waitUntil(t, "the instance is ready", in.Ready)
	schedule(t, r, "o1")
	if d := received(t, s); d.Env.Type != contract.ScheduleShipment || d.Env.SagaID != "o1" {
		t.Fatalf("delivery = %s of %s, want %s of o1", d.Env.Type, d.Env.SagaID, contract.ScheduleShipment)
	}
	waitUntil(t, "the command is acked", func() bool { return acked(t, r) == 1 })
	st := feed.until(t, "counting the command processed", func(st contract.Status) bool { return st.Counters.Processed == 1 })
	want := contract.StreamName(contract.Shipping) + "/" + contract.CommandConsumer(contract.Shipping)
	if st.State != contract.StateRunning || len(st.Consumers) != 1 || st.Consumers[0] != want || st.Pool.Capacity != 2 {
		t.Fatalf("status = %+v, want running on %s with 2 workers", st, want)
	}
}

func TestAGracefulStopFinishesTheWorkInHandAndSaysDraining(t *testing.T) {
	r := servicetest.New(t, contract.Shipping)
	feed := followStatus(t, r)
	s := newShipper()
	s.hold = true
	in, stop := run(t, config(r, s))
	schedule(t, r, "o1")
	received(t, s)
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitUntil(t, "the instance drains", func() bool { return in.Status().State == contract.StateDraining })
	if in.Ready() {
		t.Error("a draining instance reports ready")
	}
	close(s.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v, want nil after a graceful stop", err)
	}
	if got := acked(t, r); got != 1 {
		t.Errorf("acked = %d, want 1: the work in hand is finished and acked", got)
	}
	noInstanceConns(t, r)
	feed.until(t, "draining before the instance went away", func(st contract.Status) bool { return st.State == contract.StateDraining })
}

func TestACrashFaultDropsTheWorkInHandAndTheRestartedInstanceRedoesIt(t *testing.T) {
	r := servicetest.New(t, contract.Shipping)
	s := newShipper()
	s.hold = true
	in, stop := run(t, config(r, s))
	schedule(t, r, "o1")
	first := received(t, s)

	control, err := r.JS.KeyValue(t.Context(), contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	crash, _ := json.Marshal(contract.Fault{Service: contract.Shipping, Kind: contract.FaultCrash, RestartAfter: 100 * time.Millisecond, Set: time.Now()})
	if _, err := control.Put(t.Context(), contract.FaultKey(contract.Shipping, contract.FaultCrash), crash); err != nil {
		t.Fatal(err)
	}
	// The connection goes while the message is still in hand, so the
	// handler's success comes too late to ack it.
	noInstanceConns(t, r)
	close(s.release)

	again := received(t, s)
	if again.Seq != first.Seq || again.NumDelivered != 2 {
		t.Fatalf("after the restart: message %d delivery %d, want message %d again, delivery 2", again.Seq, again.NumDelivered, first.Seq)
	}
	waitUntil(t, "the redelivery is acked", func() bool { return acked(t, r) == 1 })
	if got := s.binds.Load(); got != 2 {
		t.Errorf("bound %d times, want 2 (start and one restart): the crash fault still set must not crash the restarted instance", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if in.Ready() {
		t.Error("a stopped instance reports ready")
	}
}

func TestAPauseFaultPausesTheCommandConsumerOnTheServerUntilCleared(t *testing.T) {
	r := servicetest.New(t, contract.Shipping)
	in, _ := run(t, config(r, newShipper()))
	waitUntil(t, "the instance is ready", in.Ready)
	control, err := r.JS.KeyValue(t.Context(), contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	paused := func() bool { return commandConsumer(t, r).Paused }
	key := contract.FaultKey(contract.Shipping, contract.FaultPause)
	pause, _ := json.Marshal(contract.Fault{Service: contract.Shipping, Kind: contract.FaultPause, Set: time.Now()})
	if _, err := control.Put(t.Context(), key, pause); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the consumer is paused on the server", paused)
	if err := control.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the consumer resumes", func() bool { return !paused() })
}

func TestAnInstanceThatCannotStartSaysWhyAndLeavesNothingOpen(t *testing.T) {
	errBind := errors.New("bucket missing")
	tests := []struct {
		name     string
		topology bool
		tune     func(*service.Config, *shipper)
		want     string
		wantErr  error
	}{
		{name: "without the topology it asks for it",
			want: "shipping: open control bucket (run topology first)"},
		{name: "a service that cannot bind",
			topology: true, tune: func(_ *service.Config, s *shipper) { s.bindErr = errBind },
			want: "shipping: bucket missing", wantErr: errBind},
		{name: "a service without a handler for its consumer",
			topology: true, tune: func(_ *service.Config, s *shipper) { s.noRoutes = true },
			want: "shipping: no handler for consumer " + contract.CommandConsumer(contract.Shipping)},
		{name: "a connection that cannot be made",
			topology: true, tune: func(c *service.Config, _ *shipper) {
				c.Connect = func(context.Context, string) (*nats.Conn, error) { return nil, nats.ErrNoServers }
			},
			want: "shipping: " + nats.ErrNoServers.Error(), wantErr: nats.ErrNoServers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &servicetest.Rig{Server: natstest.Server(t)} // an empty server
			if tt.topology {
				r = servicetest.New(t, contract.Shipping)
			}
			s := newShipper()
			cfg := config(r, s)
			if tt.tune != nil {
				tt.tune(&cfg, s)
			}
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			err := service.New(cfg).Run(ctx)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
			noInstanceConns(t, r)
		})
	}
}
