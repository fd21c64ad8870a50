package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/tui/feed"
)

// refusedWithin bounds a call the server refuses: a refused publish is
// dropped, so a JetStream API call waits for an answer that never comes.
const refusedWithin = 3 * time.Second

// session is a shared session: a server with Auth, the demo's streams and
// buckets, and a payment control service, all made through the services'
// own login.
type session struct {
	srv   *embedded.Server
	roles embedded.Roles
	svc   *client // the in-process services' connection
}

func startSession(t *testing.T) *session {
	t.Helper()
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	roles, ok := srv.Roles()
	if !ok {
		t.Fatal("Roles: no roles on a server started with Auth")
	}
	s := &session{srv: srv, roles: roles}
	s.svc = dialWith(t, srv.ClientURL(), "services", srv.ClientOptions()...)
	ctx := testContext(t, 30*time.Second)
	tiny := contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}
	if err := topology.Ensure(ctx, s.svc.js, topology.Options{Seed: tiny}); err != nil {
		t.Fatalf("create the demo's streams as the service user: %v", err)
	}
	kv, err := s.svc.js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := control.Serve(s.svc.nc, control.Config{Service: contract.Payment, Instance: "p1", Version: "1.0.0", Control: kv})
	if err != nil {
		t.Fatalf("serve the control API as the service user: %v", err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	dead := nats.NewMsg(contract.DeadLetterSubject(contract.Payment))
	dead.Header.Set(contract.DeadLetterReason, "role test")
	dead.Data = []byte("x")
	if _, err := s.svc.js.PublishMsg(ctx, dead); err != nil {
		t.Fatal(err)
	}
	return s
}

// client is a connection that records the asynchronous errors the server
// sends it, such as permissions violations.
type client struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu   sync.Mutex
	errs []error
}

func (s *session) dial(t *testing.T, u embedded.User) *client {
	t.Helper()
	return dialWith(t, s.srv.ClientURL(), u.Name, nats.UserInfo(u.Name, u.Password))
}

func dialWith(t *testing.T, url, name string, opts ...nats.Option) *client {
	t.Helper()
	c := &client{}
	opts = append([]nats.Option{nats.Name(name), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	})}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// violations returns the permissions violations the server reported.
func (c *client) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, err := range c.errs {
		if errors.Is(err, nats.ErrPermissionViolation) {
			out = append(out, err.Error())
		}
	}
	return out
}

// refused waits until the server has reported a violation naming subject.
func (c *client) refused(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(refusedWithin)
	for {
		for _, v := range c.violations() {
			if strings.Contains(v, `"`+subject+`"`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server reported no violation for %q; it reported %q", subject, c.violations())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func validOrder(id string) []byte {
	o := contract.Order{ID: id, Customer: topology.CustomerID(0), SKU: topology.SKU(0), Qty: 1, Amount: 100}
	data, _ := contract.NewEnvelope(contract.PlaceOrder, o, nil, 0, time.Now()).Encode()
	return data
}

// change is something only the operator may do. do runs it as c; subject
// is the one the server refuses an observer; unchanged (read through the
// services' connection) says whether it had no effect.
type change struct {
	name    string
	subject string
	do      func(ctx context.Context, c *client) error
	// fireAndForget: a core publish, which the client cannot see refused;
	// only the server's asynchronous violation says so.
	fireAndForget bool
	unchanged     func(ctx context.Context, s *session) error
}

func changes() []change {
	ordersStream := contract.StreamName(contract.Orders)
	ordersMsgs := func(ctx context.Context, s *session) (uint64, error) {
		st, err := s.svc.js.Stream(ctx, ordersStream)
		if err != nil {
			return 0, err
		}
		return st.CachedInfo().State.Msgs, nil
	}
	noFaults := func(ctx context.Context, s *session) error {
		faults, err := control.NewClient(s.svc.nc).Faults(ctx)
		if err != nil || len(faults) > 0 {
			return fmt.Errorf("faults %v, %v", faults, err)
		}
		return nil
	}
	streamKept := func(name string) func(context.Context, *session) error {
		return func(ctx context.Context, s *session) error {
			_, err := s.svc.js.Stream(ctx, name)
			return err
		}
	}
	return []change{
		{
			name:    "inject a fault",
			subject: contract.FaultSetSubject,
			do: func(ctx context.Context, c *client) error {
				_, err := control.NewClient(c.nc).SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultDependencyDown})
				return err
			},
			unchanged: noFaults,
		},
		{
			name:    "reset the faults",
			subject: contract.FaultResetSubject,
			do:      func(ctx context.Context, c *client) error { return control.NewClient(c.nc).Reset(ctx) },
		},
		{
			name:    "change the load",
			subject: contract.LoadSetSubject,
			do: func(ctx context.Context, c *client) error {
				rate := 5.0
				_, err := control.NewClient(c.nc).SetLoad(ctx, contract.LoadRequest{Rate: &rate})
				return err
			},
		},
		{
			name:    "publish into a saga stream",
			subject: contract.Subject(contract.PlaceOrder),
			do: func(ctx context.Context, c *client) error {
				_, err := c.js.Publish(ctx, contract.Subject(contract.PlaceOrder), validOrder("role-test"))
				return err
			},
			unchanged: func(ctx context.Context, s *session) error {
				if n, err := ordersMsgs(ctx, s); err != nil || n != 0 {
					return fmt.Errorf("%s holds %d messages (%v)", ordersStream, n, err)
				}
				return nil
			},
		},
		{
			name:          "publish a service status",
			subject:       contract.StatusSubject(contract.Payment, "fake"),
			fireAndForget: true,
			do: func(ctx context.Context, c *client) error {
				if err := c.nc.Publish(contract.StatusSubject(contract.Payment, "fake"), []byte(`{}`)); err != nil {
					return err
				}
				return c.nc.FlushWithContext(ctx)
			},
		},
		{
			name:    "create a consumer on a service's stream",
			subject: "$JS.API.CONSUMER.CREATE." + ordersStream + ".spy",
			do: func(ctx context.Context, c *client) error {
				_, err := c.js.CreateOrUpdateConsumer(ctx, ordersStream, jetstream.ConsumerConfig{Name: "spy"})
				return err
			},
			unchanged: func(ctx context.Context, s *session) error {
				if _, err := s.svc.js.Consumer(ctx, ordersStream, "spy"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
					return fmt.Errorf("consumer spy: %v", err)
				}
				return nil
			},
		},
		{
			// The replay attack a consumer would allow: a push consumer
			// on the dead letters delivering onto a saga subject.
			name:    "replay stored messages onto a saga subject",
			subject: "$JS.API.CONSUMER.CREATE." + contract.DeadLetterStream + ".replay",
			do: func(ctx context.Context, c *client) error {
				_, err := c.js.CreateOrUpdatePushConsumer(ctx, contract.DeadLetterStream, jetstream.ConsumerConfig{
					Name: "replay", DeliverSubject: contract.Subject(contract.PlaceOrder),
				})
				return err
			},
			unchanged: noConsumers(contract.DeadLetterStream),
		},
		{
			name:    "follow the saga bucket with a consumer",
			subject: "$JS.API.CONSUMER.CREATE.KV_" + contract.SagaBucket + ".watch_1",
			do: func(ctx context.Context, c *client) error {
				cons, err := c.js.OrderedConsumer(ctx, "KV_"+contract.SagaBucket, jetstream.OrderedConsumerConfig{NamePrefix: "watch"})
				if err != nil {
					return err
				}
				// The ordered consumer is created by its first fetch.
				batch, err := cons.FetchNoWait(1)
				if err != nil {
					return err
				}
				for range batch.Messages() {
				}
				return batch.Error()
			},
			unchanged: noConsumers("KV_" + contract.SagaBucket),
		},
		{
			name:    "delete a service's durable consumer",
			subject: "$JS.API.CONSUMER.DELETE." + ordersStream + "." + contract.CommandConsumer(contract.Orders),
			do: func(ctx context.Context, c *client) error {
				return c.js.DeleteConsumer(ctx, ordersStream, contract.CommandConsumer(contract.Orders))
			},
			unchanged: func(ctx context.Context, s *session) error {
				_, err := s.svc.js.Consumer(ctx, ordersStream, contract.CommandConsumer(contract.Orders))
				return err
			},
		},
		{
			name:    "purge a stream",
			subject: "$JS.API.STREAM.PURGE." + contract.DeadLetterStream,
			do:      func(ctx context.Context, c *client) error { return purge(ctx, c, contract.DeadLetterStream) },
			unchanged: func(ctx context.Context, s *session) error {
				st, err := s.svc.js.Stream(ctx, contract.DeadLetterStream)
				if err != nil || st.CachedInfo().State.Msgs != 1 {
					return fmt.Errorf("the dead letter is gone (%v)", err)
				}
				return nil
			},
		},
		{
			name:      "delete a stream",
			subject:   "$JS.API.STREAM.DELETE." + contract.DeadLetterStream,
			do:        func(ctx context.Context, c *client) error { return c.js.DeleteStream(ctx, contract.DeadLetterStream) },
			unchanged: streamKept(contract.DeadLetterStream),
		},
		{
			name:      "delete the saga bucket",
			subject:   "$JS.API.STREAM.DELETE.KV_" + contract.SagaBucket,
			do:        func(ctx context.Context, c *client) error { return c.js.DeleteKeyValue(ctx, contract.SagaBucket) },
			unchanged: streamKept("KV_" + contract.SagaBucket),
		},
	}
}

// noConsumers checks that stream has no consumer.
func noConsumers(stream string) func(context.Context, *session) error {
	return func(ctx context.Context, s *session) error {
		st, err := s.svc.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Consumers; n != 0 {
			return fmt.Errorf("%s has %d consumers", stream, n)
		}
		return nil
	}
}

func purge(ctx context.Context, c *client, name string) error {
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		return err
	}
	return s.Purge(ctx)
}

func TestTheServerRefusesAnObserverEveryChange(t *testing.T) {
	s := startSession(t)
	for _, ch := range changes() {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			obs := s.dial(t, s.roles.Observer)
			ctx := testContext(t, refusedWithin)
			if err := ch.do(ctx, obs); err == nil && !ch.fireAndForget {
				t.Fatal("the observer's change succeeded")
			}
			obs.refused(t, ch.subject)
			if ch.unchanged != nil {
				if err := ch.unchanged(testContext(t, 10*time.Second), s); err != nil {
					t.Fatalf("the refused change had an effect: %v", err)
				}
			}
		})
	}
}

func TestTheOperatorMayChangeTheSystem(t *testing.T) {
	for _, ch := range changes() {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			s := startSession(t)
			op := s.dial(t, s.roles.Operator)
			if err := ch.do(testContext(t, 10*time.Second), op); err != nil {
				t.Fatalf("the operator's change failed: %v", err)
			}
			if v := op.violations(); len(v) > 0 {
				t.Fatalf("the server refused the operator: %q", v)
			}
			if ch.unchanged != nil && ch.unchanged(testContext(t, 10*time.Second), s) == nil {
				t.Fatal("the operator's change had no effect")
			}
		})
	}
}

// TestAnObserverCanWatchEverything runs the dashboard's own feed as an
// observer and reads what the dashboard and `sagascope status` read.
func TestAnObserverCanWatchEverything(t *testing.T) {
	s := startSession(t)
	ctx := testContext(t, 60*time.Second)

	// Something for each followed source: a saga, a status report, a span,
	// the session's dead letter, and the advisories of its set-up.
	sagas, err := s.svc.js.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	saga, _ := json.Marshal(contract.Saga{V: contract.Version, ID: "o-1", Status: contract.SagaCharging, Started: time.Now()})
	if _, err := sagas.Put(ctx, "o-1", saga); err != nil {
		t.Fatal(err)
	}
	stopStatus := publishStatus(t, s.svc.nc)
	defer stopStatus()
	if _, err := s.svc.js.PublishMsg(ctx, &nats.Msg{
		Subject: contract.SpanSubject(contract.Payment),
		Header:  nats.Header{contract.ContentTypeHeader: []string{contract.SpanContentType}},
		Data:    spanBatch(t),
	}); err != nil {
		t.Fatal(err)
	}

	obs := s.dial(t, s.roles.Observer)
	tel, err := feed.NewTelemetry(obs.nc, feed.TelemetryOptions{ReadEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.New(obs.nc, feed.Options{RefreshEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	last := latest[feed.Snapshot]{}
	lastTel := latest[feed.TelemetrySnapshot]{}
	done := make(chan error, 2)
	go func() { done <- f.Run(runCtx, last.set) }()
	go func() { done <- tel.Run(runCtx, lastTel.set) }()
	seen := func() bool {
		sn, tsn := last.get(), lastTel.get()
		return sn.Reporting && len(sn.Recent) > 0 && len(sn.DeadLetters) > 0 && len(sn.Advisories) > 0 &&
			sn.Sources.Advisories == "stream" && len(sn.Streams) > 0 && len(sn.Consumers) > 0 && !sn.Polled.IsZero() &&
			tsn.Spans > 0
	}
	for !seen() && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("feed: %v", err)
		}
	}
	sn, tsn := last.get(), lastTel.get()
	if !seen() {
		t.Fatalf("the observer's dashboard never saw the system: reporting %v, %d sagas, %d dead letters, %d advisories from %q, %d streams, %d consumers, %d spans, problems %v %v",
			sn.Reporting, len(sn.Recent), len(sn.DeadLetters), len(sn.Advisories), sn.Sources.Advisories, len(sn.Streams), len(sn.Consumers), tsn.Spans, sn.Problems, tsn.Problems)
	}
	if len(sn.Problems) > 0 || len(tsn.Problems) > 0 || sn.Connection.LastError != "" {
		t.Fatalf("the observer's dashboard had problems %v %v, last error %q", sn.Problems, tsn.Problems, sn.Connection.LastError)
	}

	// The reads the control client and the NATS CLI make.
	cc := control.NewClient(obs.nc)
	reads := []struct {
		name string
		read func(context.Context) error
	}{
		{"list faults", func(ctx context.Context) error { _, err := cc.Faults(ctx); return err }},
		{"get the load", func(ctx context.Context) error { _, err := cc.Load(ctx); return err }},
		{"ask a service's status", func(ctx context.Context) error { _, err := cc.Status(ctx, contract.Payment); return err }},
		{"discover the micro services", func(ctx context.Context) error {
			_, err := obs.nc.RequestWithContext(ctx, "$SRV.PING."+contract.ServiceName(contract.Payment), nil)
			return err
		}},
		{"read account info", func(ctx context.Context) error { _, err := obs.js.AccountInfo(ctx); return err }},
		{"get a saga by key", func(ctx context.Context) error {
			kv, err := obs.js.KeyValue(ctx, contract.SagaBucket)
			if err == nil {
				_, err = kv.Get(ctx, "o-1")
			}
			return err
		}},
		{"get a stored message", func(ctx context.Context) error {
			st, err := obs.js.Stream(ctx, contract.DeadLetterStream)
			if err == nil {
				_, err = st.GetMsg(ctx, 1)
			}
			return err
		}},
		{"read a consumer's info", func(ctx context.Context) error {
			_, err := obs.js.Consumer(ctx, contract.StreamName(contract.Orders), contract.CommandConsumer(contract.Orders))
			return err
		}},
	}
	for _, r := range reads {
		if err := r.read(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("%s as observer: %v", r.name, err)
		}
	}
	if v := obs.violations(); len(v) > 0 {
		t.Fatalf("the server refused the observer a read: %q", v)
	}
}

// latest holds the last value a feed sent.
type latest[T any] struct {
	mu sync.Mutex
	v  T
}

func (l *latest[T]) set(v T) { l.mu.Lock(); l.v = v; l.mu.Unlock() }

func (l *latest[T]) get() T { l.mu.Lock(); defer l.mu.Unlock(); return l.v }

// spanBatch is one finished span, encoded as the services publish it.
func spanBatch(t *testing.T) []byte {
	t.Helper()
	now := uint64(time.Now().UnixNano())
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte("0123456789abcdef"), SpanId: []byte("01234567"), Name: "charge",
			StartTimeUnixNano: now - 1e6, EndTimeUnixNano: now,
		}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishStatus publishes a payment status every 100 ms until stopped, as
// a running instance does.
func publishStatus(t *testing.T, nc *nats.Conn) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			st, _ := json.Marshal(contract.Status{V: contract.Version, Service: contract.Payment, Instance: "p1", Time: time.Now(), State: contract.StateRunning})
			_ = nc.Publish(contract.StatusSubject(contract.Payment, "p1"), st)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return sync.OnceFunc(func() { close(done); wg.Wait() })
}

func TestOnlyTheRightLoginIsAdmitted(t *testing.T) {
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{ObserverPassword: "watch-only"}})
	roles, _ := srv.Roles()
	tests := []struct {
		name  string
		opts  []nats.Option
		admit bool
	}{
		{name: "no login is refused"},
		{name: "a wrong password is refused", opts: []nats.Option{nats.UserInfo(embedded.OperatorUser, "guess")}},
		{name: "the observer's password does not open the operator", opts: []nats.Option{nats.UserInfo(embedded.OperatorUser, "watch-only")}},
		{name: "an unknown user is refused", opts: []nats.Option{nats.UserInfo("admin", roles.Operator.Password)}},
		{name: "the given observer password is admitted", opts: []nats.Option{nats.UserInfo(embedded.ObserverUser, "watch-only")}, admit: true},
		{name: "the generated operator password is admitted", opts: []nats.Option{nats.UserInfo(embedded.OperatorUser, roles.Operator.Password)}, admit: true},
		{name: "the in-process services are admitted", opts: srv.ClientOptions(), admit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(srv.ClientURL(), append(tt.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
			}
			switch {
			case tt.admit && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.admit && !errors.Is(err, nats.ErrAuthorization):
				t.Fatalf("error %v, want an authorization violation", err)
			}
		})
	}
}

func TestRolesSurviveARestart(t *testing.T) {
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	before, _ := srv.Roles()
	svc := dialWith(t, srv.ClientURL(), "services", append(srv.ClientOptions(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))...)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Roles()
	if after != before {
		t.Fatalf("roles changed across a restart: %+v -> %+v", before, after)
	}
	if _, err := svc.js.AccountInfo(testContext(t, 30*time.Second)); err != nil {
		t.Fatalf("the services' connection did not log in again after the restart: %v", err)
	}
	obs := dialWith(t, srv.ClientURL(), "observer", nats.UserInfo(after.Observer.Name, after.Observer.Password))
	if _, err := obs.js.AccountInfo(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestGeneratedPasswordsAreDistinctAndStrong(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
		r, _ := srv.Roles()
		for _, u := range []embedded.User{r.Operator, r.Observer} {
			if !u.Generated || len(u.Password) < 20 || seen[u.Password] {
				t.Fatalf("password of %s %q: generated %v, want a fresh one of 20+ characters", u.Name, u.Password, u.Generated)
			}
			seen[u.Password] = true
		}
		srv.Shutdown()
	}
}

func TestStartRefusesAnUnsafeSession(t *testing.T) {
	tests := []struct {
		name string
		opts embedded.Options
		want error
	}{
		{name: "every interface without logins", opts: embedded.Options{Host: "0.0.0.0"}, want: embedded.ErrExposedWithoutAuth},
		{name: "a LAN address without logins", opts: embedded.Options{Host: "192.0.2.1"}, want: embedded.ErrExposedWithoutAuth},
		{name: "the same password for both roles", opts: embedded.Options{Auth: &embedded.Auth{OperatorPassword: "same", ObserverPassword: "same"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Port, tt.opts.DataDir = -1, t.TempDir()
			srv, err := embedded.Start(tt.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}
