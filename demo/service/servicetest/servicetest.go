// Package servicetest runs one service's handlers on a real NATS server, for
// the unit tests of the services and the steps they share: the demo
// topology with a small seed, a service bound as service.Instance binds it,
// deliveries handed straight to its handlers, and the events they publish,
// in order. The whole saga is demo/systemtest's job. Import it only from
// _test.go files.
package servicetest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/breaker"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/fault"
	"github.com/sagascope/sagascope/demo/ledgerstep"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/worker"
)

// Seed is the topology's starting money and stock: two customers with 1,000
// cents each (topology.CustomerID(0) and (1)) and two SKUs with 10 units
// each (topology.SKU(0) and (1)), small enough to run out of on purpose.
var Seed = contract.Seed{Accounts: 2, AccountBalance: 1000, SKUs: 2, StockPerSKU: 10}

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// replyWait bounds how long Reply waits for an event: generous, because
// other test binaries share the machine; an event that comes returns at once.
const replyWait = 15 * time.Second

// Rig is a real server with the demo topology, a connection to it, and
// the fault table and counters of one service. Everything it holds is
// released when the test ends.
type Rig struct {
	Service  contract.Service
	Server   *embedded.Server
	NC       *nats.Conn
	JS       jetstream.JetStream
	Faults   *fault.Table
	Counters *worker.Counters
	// Topology is what the server was set up with.
	Topology topology.Options
	events   *nats.Subscription
}

// New starts a server with the demo topology (seeded with Seed) and follows
// every event published on it, for svc's tests.
func New(t testing.TB, svc contract.Service) *Rig {
	t.Helper()
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	opts := topology.Options{Seed: Seed}
	if err := topology.Ensure(t.Context(), js, opts); err != nil {
		t.Fatalf("servicetest: create topology: %v", err)
	}
	// Subscribed before any handler runs, so no event is missed; core NATS
	// sees what JetStream stores, in the order it was stored.
	events, err := nc.SubscribeSync(contract.Prefix + ".*.evt.>")
	if err != nil {
		t.Fatalf("servicetest: follow events: %v", err)
	}
	t.Cleanup(func() { _ = events.Unsubscribe() })
	return &Rig{
		Service: svc, Server: srv, NC: nc, JS: js, Topology: opts, events: events,
		Faults: fault.NewTable(svc, nil), Counters: &worker.Counters{},
	}
}

// Env is the environment the rig's service is bound with.
func (r *Rig) Env() service.Env {
	return service.Env{NC: r.NC, JS: r.JS, Faults: r.Faults, Counters: r.Counters, Log: Quiet, Now: time.Now}
}

// Bind binds svc over the rig and returns its binding and the route of its
// command consumer, failing the test if it has none.
func (r *Rig) Bind(t testing.TB, svc service.Service) (service.Binding, service.Route) {
	t.Helper()
	b, err := svc.Bind(t.Context(), r.Env())
	if err != nil {
		t.Fatalf("servicetest: bind %s: %v", svc.Name(), err)
	}
	route, ok := b.Routes[contract.CommandConsumer(svc.Name())]
	if !ok || route.Handle == nil {
		t.Fatalf("servicetest: %s has no handler for %s", svc.Name(), contract.CommandConsumer(svc.Name()))
	}
	return b, route
}

// SetFault puts a fault of kind on the rig's service, in force until
// cleared with r.Faults.Remove; probability 0 means always.
func (r *Rig) SetFault(kind contract.FaultKind, probability float64) {
	if probability == 0 {
		probability = 1
	}
	r.Faults.Put(contract.Fault{Service: r.Service, Kind: kind, Probability: probability, Set: time.Now()})
}

// Order returns an order of customer 0 for amount cents and qty units of
// SKU 0.
func Order(id string, amount, qty int64) contract.Order {
	return contract.Order{ID: id, Customer: topology.CustomerID(0), SKU: topology.SKU(0), Qty: qty, Amount: amount}
}

// Delivery is the first delivery of a command of type typ for o, as a pool
// hands it to a handler.
func Delivery(typ string, o contract.Order) worker.Delivery {
	return worker.Delivery{
		Env: contract.NewEnvelope(typ, o, nil, 0, time.Now()), Subject: contract.Subject(typ),
		NumDelivered: 1,
	}
}

// Reply returns the next event published on the server, failing the test
// if none comes.
func (r *Rig) Reply(t testing.TB) contract.Envelope {
	t.Helper()
	m, err := r.events.NextMsg(replyWait)
	if err != nil {
		t.Fatalf("servicetest: waiting for an event: %v", err)
	}
	env, err := contract.Decode(m.Subject, m.Data)
	if err != nil {
		t.Fatalf("servicetest: event on %s does not decode: %v", m.Subject, err)
	}
	return env
}

// Record reads key from bucket into v; it reports false when there is no
// such key.
func (r *Rig) Record(t testing.TB, bucket, key string, v any) bool {
	t.Helper()
	kv, err := r.JS.KeyValue(t.Context(), bucket)
	if err != nil {
		t.Fatalf("servicetest: open %s: %v", bucket, err)
	}
	e, err := kv.Get(t.Context(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("servicetest: read %s/%s: %v", bucket, key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		t.Fatalf("servicetest: decode %s/%s: %v", bucket, key, err)
	}
	return true
}

// Available is the balance left on key in bucket.
func (r *Rig) Available(t testing.TB, bucket, key string) int64 {
	t.Helper()
	var b contract.Balance
	if !r.Record(t, bucket, key, &b) {
		t.Fatalf("servicetest: no balance %s/%s", bucket, key)
	}
	return b.Available
}

// Entry is the status of order's entry in bucket (a charge or a
// reservation), "" when there is none.
func (r *Rig) Entry(t testing.TB, bucket, order string) contract.EntryStatus {
	t.Helper()
	var e contract.Entry
	r.Record(t, bucket, order, &e)
	return e.Status
}

// Handle hands handle the first delivery of a command of type typ for o,
// fails the test if it returns an error, and returns the event it published.
func (r *Rig) Handle(t testing.TB, handle worker.Handler, typ string, o contract.Order) contract.Envelope {
	t.Helper()
	if err := handle(t.Context(), Delivery(typ, o)); err != nil {
		t.Fatalf("servicetest: %s %s: %v", typ, o.ID, err)
	}
	return r.Reply(t)
}

// WantEvent fails the test unless got is an event of type typ with reason.
func WantEvent(t testing.TB, got contract.Envelope, typ, reason string) {
	t.Helper()
	if got.Type != typ || got.Reason != reason {
		t.Fatalf("event = %s %q, want %s %q", got.Type, got.Reason, typ, reason)
	}
}

// Ledger names where a ledger step (payment, inventory) keeps its
// balances and its entries, and its messages.
type Ledger struct {
	Types             ledgerstep.Types
	Balances, Entries string // buckets
}

// RoundTrip applies o through handle and reverts it, failing the test
// unless each replies its event, the balance falls by o's amount and comes
// back, and the entry records both.
func (r *Rig) RoundTrip(t testing.TB, handle worker.Handler, l Ledger, o contract.Order) {
	t.Helper()
	key, amount := l.Types.KeyOf(o), l.Types.AmountOf(o)
	before := r.Available(t, l.Balances, key)
	for _, op := range []struct {
		command, event string
		available      int64
		entry          contract.EntryStatus
	}{
		{l.Types.Apply, l.Types.Applied, before - amount, contract.EntryApplied},
		{l.Types.Revert, l.Types.Reverted, before, contract.EntryReverted},
	} {
		WantEvent(t, r.Handle(t, handle, op.command, o), op.event, "")
		if got := r.Available(t, l.Balances, key); got != op.available {
			t.Fatalf("after %s: %s/%s = %d, want %d", op.command, l.Balances, key, got, op.available)
		}
		if got := r.Entry(t, l.Entries, o.ID); got != op.entry {
			t.Fatalf("after %s: entry = %q, want %q", op.command, got, op.entry)
		}
	}
}

// Refused applies o through handle, failing the test unless it replies
// event with reason, or, when event is "", fails transiently (left to the
// retries, wrapping sim.ErrUnavailable); and unless the balance is
// untouched either way.
func (r *Rig) Refused(t testing.TB, handle worker.Handler, l Ledger, o contract.Order, event, reason string) {
	t.Helper()
	key := l.Types.KeyOf(o)
	before := r.Available(t, l.Balances, key)
	if event != "" {
		WantEvent(t, r.Handle(t, handle, l.Types.Apply, o), event, reason)
	} else {
		Transient(t, handle, l.Types.Apply, o)
	}
	if got := r.Available(t, l.Balances, key); got != before {
		t.Fatalf("%s/%s = %d, want %d: nothing may be taken", l.Balances, key, got, before)
	}
}

// Transient hands handle a command of type typ for o, failing the test
// unless it fails transiently (left to the retries) because the dependency
// is unavailable.
func Transient(t testing.TB, handle worker.Handler, typ string, o contract.Order) {
	t.Helper()
	if err := handle(t.Context(), Delivery(typ, o)); !errors.Is(err, sim.ErrUnavailable) || worker.IsPermanent(err) {
		t.Fatalf("%s %s: error = %v, want a transient one wrapping %v", typ, o.ID, err, sim.ErrUnavailable)
	}
}

// TripOnFirstFailure is a breaker that opens on the first failure and
// stays open for the rest of a test.
var TripOnFirstFailure = breaker.Config{FailureThreshold: 1, FailureWindow: 1, Delay: time.Hour}

// OpenBreaker takes the rig's dependency down and makes one call through
// handle (a command of type typ for order "o0"), which fails and so opens
// a TripOnFirstFailure breaker.
func (r *Rig) OpenBreaker(t testing.TB, handle worker.Handler, typ string) {
	t.Helper()
	r.SetFault(contract.FaultDependencyDown, 1)
	Transient(t, handle, typ, Order("o0", 100, 1))
}
