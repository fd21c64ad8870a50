package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/embedded/sessiontest"
	"github.com/sagascope/sagascope/demo/topology"
)

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
	do      func(ctx context.Context, c *sessiontest.Client) error
	// fireAndForget: a core publish, which the client cannot see refused;
	// only the server's asynchronous violation says so.
	fireAndForget bool
	unchanged     func(ctx context.Context, s *sessiontest.Session) error
}

func changes() []change {
	ordersStream := contract.StreamName(contract.Orders)
	ordersMsgs := func(ctx context.Context, s *sessiontest.Session) (uint64, error) {
		st, err := s.Services.JS.Stream(ctx, ordersStream)
		if err != nil {
			return 0, err
		}
		return st.CachedInfo().State.Msgs, nil
	}
	noFaults := func(ctx context.Context, s *sessiontest.Session) error {
		faults, err := control.NewClient(s.Services.NC).Faults(ctx)
		if err != nil || len(faults) > 0 {
			return fmt.Errorf("faults %v, %v", faults, err)
		}
		return nil
	}
	streamKept := func(name string) func(context.Context, *sessiontest.Session) error {
		return func(ctx context.Context, s *sessiontest.Session) error {
			_, err := s.Services.JS.Stream(ctx, name)
			return err
		}
	}
	return []change{
		{
			name:    "inject a fault",
			subject: contract.FaultSetSubject,
			do: func(ctx context.Context, c *sessiontest.Client) error {
				_, err := control.NewClient(c.NC).SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultDependencyDown})
				return err
			},
			unchanged: noFaults,
		},
		{
			name:    "reset the faults",
			subject: contract.FaultResetSubject,
			do:      func(ctx context.Context, c *sessiontest.Client) error { return control.NewClient(c.NC).Reset(ctx) },
		},
		{
			name:    "change the load",
			subject: contract.LoadSetSubject,
			do: func(ctx context.Context, c *sessiontest.Client) error {
				rate := 5.0
				_, err := control.NewClient(c.NC).SetLoad(ctx, contract.LoadRequest{Rate: &rate})
				return err
			},
		},
		{
			name:    "publish into a saga stream",
			subject: contract.Subject(contract.PlaceOrder),
			do: func(ctx context.Context, c *sessiontest.Client) error {
				_, err := c.JS.Publish(ctx, contract.Subject(contract.PlaceOrder), validOrder("role-test"))
				return err
			},
			unchanged: func(ctx context.Context, s *sessiontest.Session) error {
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
			do: func(ctx context.Context, c *sessiontest.Client) error {
				if err := c.NC.Publish(contract.StatusSubject(contract.Payment, "fake"), []byte(`{}`)); err != nil {
					return err
				}
				return c.NC.FlushWithContext(ctx)
			},
		},
		{
			name:          "start a scenario run",
			subject:       contract.ScenarioStartSubject,
			fireAndForget: true,
			do:            publish(contract.ScenarioStartSubject),
			unchanged:     noRunEvents,
		},
		{
			name:          "publish a scenario run's event",
			subject:       contract.ScenarioEventSubject,
			fireAndForget: true,
			do:            publish(contract.ScenarioEventSubject),
			unchanged:     noRunEvents,
		},
		{
			name:          "move a scenario run on to its next phase",
			subject:       contract.ScenarioNextSubject,
			fireAndForget: true,
			do:            publish(contract.ScenarioNextSubject),
		},
		{
			name:          "reveal a question's answer",
			subject:       contract.ScenarioRevealSubject,
			fireAndForget: true,
			do:            publish(contract.ScenarioRevealSubject),
		},
		{
			name:    "create a consumer on a service's stream",
			subject: "$JS.API.CONSUMER.CREATE." + ordersStream + ".spy",
			do: func(ctx context.Context, c *sessiontest.Client) error {
				_, err := c.JS.CreateOrUpdateConsumer(ctx, ordersStream, jetstream.ConsumerConfig{Name: "spy"})
				return err
			},
			unchanged: func(ctx context.Context, s *sessiontest.Session) error {
				if _, err := s.Services.JS.Consumer(ctx, ordersStream, "spy"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
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
			do: func(ctx context.Context, c *sessiontest.Client) error {
				_, err := c.JS.CreateOrUpdatePushConsumer(ctx, contract.DeadLetterStream, jetstream.ConsumerConfig{
					Name: "replay", DeliverSubject: contract.Subject(contract.PlaceOrder),
				})
				return err
			},
			unchanged: noConsumers(contract.DeadLetterStream),
		},
		{
			name:    "follow the saga bucket with a consumer",
			subject: "$JS.API.CONSUMER.CREATE.KV_" + contract.SagaBucket + ".watch_1",
			do: func(ctx context.Context, c *sessiontest.Client) error {
				cons, err := c.JS.OrderedConsumer(ctx, "KV_"+contract.SagaBucket, jetstream.OrderedConsumerConfig{NamePrefix: "watch"})
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
			do: func(ctx context.Context, c *sessiontest.Client) error {
				return c.JS.DeleteConsumer(ctx, ordersStream, contract.CommandConsumer(contract.Orders))
			},
			unchanged: func(ctx context.Context, s *sessiontest.Session) error {
				_, err := s.Services.JS.Consumer(ctx, ordersStream, contract.CommandConsumer(contract.Orders))
				return err
			},
		},
		{
			name:    "purge a stream",
			subject: "$JS.API.STREAM.PURGE." + contract.DeadLetterStream,
			do: func(ctx context.Context, c *sessiontest.Client) error {
				return purge(ctx, c, contract.DeadLetterStream)
			},
			unchanged: func(ctx context.Context, s *sessiontest.Session) error {
				st, err := s.Services.JS.Stream(ctx, contract.DeadLetterStream)
				if err != nil || st.CachedInfo().State.Msgs != 1 {
					return fmt.Errorf("the dead letter is gone (%v)", err)
				}
				return nil
			},
		},
		{
			name:    "delete a stream",
			subject: "$JS.API.STREAM.DELETE." + contract.DeadLetterStream,
			do: func(ctx context.Context, c *sessiontest.Client) error {
				return c.JS.DeleteStream(ctx, contract.DeadLetterStream)
			},
			unchanged: streamKept(contract.DeadLetterStream),
		},
		{
			name:    "delete the saga bucket",
			subject: "$JS.API.STREAM.DELETE.KV_" + contract.SagaBucket,
			do: func(ctx context.Context, c *sessiontest.Client) error {
				return c.JS.DeleteKeyValue(ctx, contract.SagaBucket)
			},
			unchanged: streamKept("KV_" + contract.SagaBucket),
		},
	}
}

// publish is a core publish of an empty run message on subject.
func publish(subject string) func(context.Context, *sessiontest.Client) error {
	return func(ctx context.Context, c *sessiontest.Client) error {
		if err := c.NC.Publish(subject, []byte(`{"v":1}`)); err != nil {
			return err
		}
		return c.NC.FlushWithContext(ctx)
	}
}

// noRunEvents checks that the scenario run stream stored nothing.
func noRunEvents(ctx context.Context, s *sessiontest.Session) error {
	st, err := s.Services.JS.Stream(ctx, contract.ScenarioRunStream)
	if err != nil {
		return err
	}
	if n := st.CachedInfo().State.Msgs; n != 0 {
		return fmt.Errorf("%s holds %d events", contract.ScenarioRunStream, n)
	}
	return nil
}

// noConsumers checks that stream has no consumer.
func noConsumers(stream string) func(context.Context, *sessiontest.Session) error {
	return func(ctx context.Context, s *sessiontest.Session) error {
		st, err := s.Services.JS.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Consumers; n != 0 {
			return fmt.Errorf("%s has %d consumers", stream, n)
		}
		return nil
	}
}

func purge(ctx context.Context, c *sessiontest.Client, name string) error {
	s, err := c.JS.Stream(ctx, name)
	if err != nil {
		return err
	}
	return s.Purge(ctx)
}

func TestTheServerRefusesAnObserverEveryChange(t *testing.T) {
	s := sessiontest.Start(t)
	for _, ch := range changes() {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			obs := s.Dial(t, s.Roles.Observer)
			ctx := testContext(t, sessiontest.RefusedWithin)
			if err := ch.do(ctx, obs); err == nil && !ch.fireAndForget {
				t.Fatal("the observer's change succeeded")
			}
			obs.Refused(t, ch.subject)
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
			s := sessiontest.Start(t)
			op := s.Dial(t, s.Roles.Operator)
			if err := ch.do(testContext(t, 10*time.Second), op); err != nil {
				t.Fatalf("the operator's change failed: %v", err)
			}
			if v := op.Violations(); len(v) > 0 {
				t.Fatalf("the server refused the operator: %q", v)
			}
			if ch.unchanged != nil && ch.unchanged(testContext(t, 10*time.Second), s) == nil {
				t.Fatal("the operator's change had no effect")
			}
		})
	}
}

// TestAnObserverMayMakeTheReadsOfTheControlClientAndTheCLI reads, as an
// observer, what `sagascope status` and the NATS CLI read. What the
// dashboard reads is tested with its feed, in tui/feed.
func TestAnObserverMayMakeTheReadsOfTheControlClientAndTheCLI(t *testing.T) {
	s := sessiontest.Start(t)
	obs := s.Dial(t, s.Roles.Observer)
	cc := control.NewClient(obs.NC)
	reads := []struct {
		name string
		read func(context.Context) error
	}{
		{"list faults", func(ctx context.Context) error { _, err := cc.Faults(ctx); return err }},
		{"get the load", func(ctx context.Context) error { _, err := cc.Load(ctx); return err }},
		{"ask a service's status", func(ctx context.Context) error { _, err := cc.Status(ctx, contract.Payment); return err }},
		{"discover the micro services", func(ctx context.Context) error {
			_, err := obs.NC.RequestWithContext(ctx, "$SRV.PING."+contract.ServiceName(contract.Payment), nil)
			return err
		}},
		{"read account info", func(ctx context.Context) error { _, err := obs.JS.AccountInfo(ctx); return err }},
		{"get a saga by key", func(ctx context.Context) error {
			kv, err := obs.JS.KeyValue(ctx, contract.SagaBucket)
			if err == nil {
				_, err = kv.Get(ctx, sessiontest.SagaID)
			}
			return err
		}},
		{"get a stored message", func(ctx context.Context) error {
			st, err := obs.JS.Stream(ctx, contract.DeadLetterStream)
			if err == nil {
				_, err = st.GetMsg(ctx, 1)
			}
			return err
		}},
		{"read a consumer's info", func(ctx context.Context) error {
			_, err := obs.JS.Consumer(ctx, contract.StreamName(contract.Orders), contract.CommandConsumer(contract.Orders))
			return err
		}},
	}
	for _, r := range reads {
		if err := r.read(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("%s as observer: %v", r.name, err)
		}
	}
	if v := obs.Violations(); len(v) > 0 {
		t.Fatalf("the server refused the observer a read: %q", v)
	}
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
	svc := sessiontest.Dial(t, srv.ClientURL(), "services", append(srv.ClientOptions(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))...)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Roles()
	if after != before {
		t.Fatalf("roles changed across a restart: %+v -> %+v", before, after)
	}
	if _, err := svc.JS.AccountInfo(testContext(t, 30*time.Second)); err != nil {
		t.Fatalf("the services' connection did not log in again after the restart: %v", err)
	}
	obs := sessiontest.Dial(t, srv.ClientURL(), "observer", nats.UserInfo(after.Observer.Name, after.Observer.Password), nats.CustomInboxPrefix(after.Observer.InboxPrefix()))
	if _, err := obs.JS.AccountInfo(testContext(t, 10*time.Second)); err != nil {
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

// TestNoRoleMaySubscribeToAnotherRolesInbox: replies go to the requester's
// inbox, so a role that could subscribe to another's would read its
// answers (an observer the operator's, as `nats sub '_INBOX.>'` once did).
func TestNoRoleMaySubscribeToAnotherRolesInbox(t *testing.T) {
	s := sessiontest.Start(t)
	services := embedded.User{Name: embedded.ServiceUser}
	tests := []struct {
		name    string
		as      embedded.User
		subject string
	}{
		{"an observer may not subscribe to the default inboxes", s.Roles.Observer, nats.InboxPrefix + ">"},
		{"an observer may not subscribe to the operator's inboxes", s.Roles.Observer, s.Roles.Operator.InboxPrefix() + ".>"},
		{"an observer may not subscribe to the services' inboxes", s.Roles.Observer, services.InboxPrefix() + ".>"},
		{"an observer may not subscribe to everything", s.Roles.Observer, ">"},
		{"an observer may not subscribe to every first token", s.Roles.Observer, "*.>"},
		{"the operator may not subscribe to the default inboxes", s.Roles.Operator, nats.InboxPrefix + ">"},
		{"the operator may not subscribe to the observers' inboxes", s.Roles.Operator, s.Roles.Observer.InboxPrefix() + ".>"},
		{"the operator may not subscribe to the services' inboxes", s.Roles.Operator, services.InboxPrefix() + ".>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := s.Dial(t, tt.as)
			if _, err := c.NC.SubscribeSync(tt.subject); err != nil {
				t.Fatal(err)
			}
			if err := c.NC.Flush(); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, tt.subject)
		})
	}
}

// TestTheOperatorsRepliesReachNoOneElse sniffs with every subscription the
// server lets an observer and the operator make that covers another's
// inbox, while the operator and an observer ask the services: each gets
// its own answer and nobody another's.
func TestTheOperatorsRepliesReachNoOneElse(t *testing.T) {
	s := sessiontest.Start(t)
	op, obs := s.Dial(t, s.Roles.Operator), s.Dial(t, s.Roles.Observer)
	// A subscription to > is the operator's to make (it may read every
	// saga subject); the server keeps the others' inboxes out of it.
	opSeen := sniff(t, op, ">")
	obsSeen := sniff(t, obs, contract.Prefix+".>", nats.InboxPrefix+">", s.Roles.Operator.InboxPrefix()+".>")
	for _, c := range []*sessiontest.Client{op, obs} {
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	ctx := testContext(t, 10*time.Second)
	if _, err := control.NewClient(op.NC).SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultDependencyDown}); err != nil {
		t.Fatalf("the operator's fault: %v", err)
	}
	if _, err := control.NewClient(obs.NC).Faults(ctx); err != nil {
		t.Fatalf("the observer's fault list: %v", err)
	}
	if _, err := obs.JS.AccountInfo(ctx); err != nil {
		t.Fatalf("the observer's account info: %v", err)
	}
	// Both connections' deliveries are in order behind these round trips.
	for _, c := range []*sessiontest.Client{op, obs} {
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := opSeen(); len(got) > 0 {
		t.Errorf("the operator read replies to others: %q", got)
	}
	if got := obsSeen(); len(got) > 0 {
		t.Errorf("an observer read replies to others: %q", got)
	}
	if v := op.Violations(); len(v) > 0 {
		t.Errorf("the server refused the operator: %q", v)
	}
}

// sniff subscribes c to subjects and returns the subjects of the messages
// it received in inboxes not its own.
func sniff(t *testing.T, c *sessiontest.Client, subjects ...string) func() []string {
	t.Helper()
	var (
		mu  sync.Mutex
		got []string
	)
	for _, subj := range subjects {
		if _, err := c.NC.Subscribe(subj, func(m *nats.Msg) {
			if strings.HasPrefix(m.Subject, "_INBOX") && !strings.HasPrefix(m.Subject, c.NC.Opts.InboxPrefix+".") {
				mu.Lock()
				got = append(got, m.Subject)
				mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// An attendee predicts: an observer's answer reaches whoever counts the
// answers (the runner, as the services' or the operator's login), but the
// observer may not read the others' answers nor the live tally, and a run's
// events reach it. What else it may not do is TestTheServerRefusesAnObserverEveryChange.
func TestAnObserverMayAnswerAQuestionAndFollowARun(t *testing.T) {
	s := sessiontest.Start(t)
	obs := s.Dial(t, s.Roles.Observer)
	ctx := testContext(t, 10*time.Second)

	answers, err := s.Services.NC.SubscribeSync(contract.ScenarioAnswerSubject)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := obs.NC.SubscribeSync(contract.ScenarioRunSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.Services.NC.FlushWithContext(ctx), obs.NC.FlushWithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	if err := obs.NC.Publish(contract.ScenarioAnswerSubject, []byte(`{"v":1,"run":"r","phase":1,"choice":0,"name":"ada"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := answers.NextMsgWithContext(ctx); err != nil {
		t.Fatalf("the observer's answer did not reach the runner: %v", err)
	}
	if err := s.Services.NC.Publish(contract.ScenarioEventSubject, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.NextMsgWithContext(ctx); err != nil {
		t.Fatalf("a run's event did not reach the observer: %v", err)
	}
	if v := obs.Violations(); len(v) > 0 {
		t.Fatalf("the server refused the observer an answer or a run's event: %q", v)
	}

	for _, subject := range []string{contract.ScenarioAnswerSubject, contract.ScenarioTallySubject} {
		if _, err := obs.NC.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		obs.Refused(t, subject)
	}
}
