package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

// TestMain fails the package if a watcher, a server or a connection
// outlives the tests: Run must stop every ordered consumer it starts. Two
// loops of a clustered nats-server end a moment after its Shutdown returns
// (the cluster test's file stores' state flush and the access-time
// ticker); they are the server's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}

// smallSeed keeps sums easy to follow in failure messages: 3 customers
// with 1000.00 each and 2 SKUs with 50 units each.
var smallSeed = contract.Seed{Accounts: 3, AccountBalance: 100_000, SKUs: 2, StockPerSKU: 50}

// testNow is the clock the rules judge deadlines by in tests.
var testNow = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

// fixture is a real server with the demo's topology, and helpers that write
// KV records the way the services would, or deliberately not.
type fixture struct {
	t  testing.TB
	js jetstream.JetStream
	// buckets is filled by newFixture and only read afterwards, so helpers
	// can run in goroutines without an error path that would need Fatalf.
	buckets map[string]jetstream.KeyValue
}

// newFixture starts a server and runs topology.Ensure with seed.
func newFixture(t testing.TB, seed contract.Seed) *fixture {
	t.Helper()
	return newFixtureWith(t, topology.Options{Seed: seed})
}

// newFixtureWith starts a server and runs topology.Ensure with o.
func newFixtureWith(t testing.TB, o topology.Options) *fixture {
	t.Helper()
	f := bareFixture(t)
	if err := topology.Ensure(t.Context(), f.js, o); err != nil {
		t.Fatalf("topology.Ensure: %v", err)
	}
	f.buckets = map[string]jetstream.KeyValue{}
	for _, cfg := range topology.Buckets(topology.Options{}) {
		kv, err := f.js.KeyValue(t.Context(), cfg.Bucket)
		if err != nil {
			t.Fatalf("open %s: %v", cfg.Bucket, err)
		}
		f.buckets[cfg.Bucket] = kv
	}
	return f
}

// bareFixture starts a server with nothing on it.
func bareFixture(t testing.TB) *fixture {
	t.Helper()
	s := natstest.Server(t)
	return &fixture{t: t, js: natstest.JetStream(t, natstest.Connect(t, s.ClientURL()))}
}

// run runs the check with the test clock and a short Settle, so a test that
// fails a conservation rule with sagas in flight does not wait 10s.
func (f *fixture) run(opt Options) Report {
	f.t.Helper()
	if opt.Now == nil {
		opt.Now = func() time.Time { return testNow }
	}
	if opt.Settle == 0 {
		opt.Settle = -1
	}
	r, err := Run(f.t.Context(), f.js, opt)
	if err != nil {
		f.t.Fatalf("Run: %v", err)
	}
	return r
}

func (f *fixture) kv(bucket string) jetstream.KeyValue { return f.buckets[bucket] }

// put writes v as JSON at key. Like every writing helper it reports with
// Errorf and writes with no test-scoped context, so it may run in a
// goroutine the test waits for.
func (f *fixture) put(bucket, key string, v any) {
	f.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		f.t.Errorf("marshal %T: %v", v, err)
		return
	}
	f.putRaw(bucket, key, b)
}

func (f *fixture) putRaw(bucket, key string, b []byte) {
	f.t.Helper()
	if _, err := f.kv(bucket).Put(context.Background(), key, b); err != nil {
		f.t.Errorf("put %s/%s: %v", bucket, key, err)
	}
}

// adjust adds delta to a balance, as the ledger's balance write does.
func (f *fixture) adjust(bucket, key string, delta int64) {
	f.t.Helper()
	kv := f.kv(bucket)
	e, err := kv.Get(context.Background(), key)
	var b contract.Balance
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		f.t.Errorf("get %s/%s: %v", bucket, key, err)
		return
	default:
		if err := json.Unmarshal(e.Value(), &b); err != nil {
			f.t.Errorf("decode %s/%s: %v", bucket, key, err)
			return
		}
	}
	b.Available += delta
	f.put(bucket, key, b)
}

// order returns order n of customer c for sku s: 2 units for 12.50.
func order(n, c, s int) contract.Order {
	return contract.Order{ID: fmt.Sprintf("order-%d", n), Customer: topology.CustomerID(c), SKU: topology.SKU(s), Qty: 2, Amount: 1250}
}

// saga writes o's saga with status. In-flight sagas get a deadline a minute
// after testNow, so they are not stuck.
func (f *fixture) saga(o contract.Order, status contract.SagaStatus) {
	f.t.Helper()
	sg := contract.Saga{V: contract.Version, ID: o.ID, Order: o, Status: status, Started: testNow.Add(-time.Second), Updated: testNow}
	if !status.Final() {
		sg.Deadline = testNow.Add(time.Minute)
	}
	f.put(contract.SagaBucket, o.ID, sg)
}

// chargeEntry writes o's charge entry only, as if the balance write had
// happened (or not) separately.
func (f *fixture) chargeEntry(o contract.Order, status contract.EntryStatus) {
	f.t.Helper()
	f.put(contract.ChargeBucket, o.ID, contract.Entry{Order: o.ID, Key: o.Customer, Amount: o.Amount, Status: status, Updated: testNow})
}

// charge records o's charge with status and moves the money the way the
// ledger does: debited while applied, given back when reverted, untouched
// when voided.
func (f *fixture) charge(o contract.Order, status contract.EntryStatus) {
	f.t.Helper()
	if status == contract.EntryApplied {
		f.adjust(contract.AccountBucket, o.Customer, -o.Amount)
	}
	f.chargeEntry(o, status)
}

// reserve is charge for stock.
func (f *fixture) reserve(o contract.Order, status contract.EntryStatus) {
	f.t.Helper()
	if status == contract.EntryApplied {
		f.adjust(contract.StockBucket, o.SKU, -o.Qty)
	}
	f.put(contract.ReservationBucket, o.ID, contract.Entry{Order: o.ID, Key: o.SKU, Amount: o.Qty, Status: status, Updated: testNow})
}

func (f *fixture) ship(o contract.Order) {
	f.t.Helper()
	f.put(contract.ShipmentBucket, o.ID, contract.Shipment{Order: o.ID, Carrier: "acme", Tracking: "T-" + o.ID, Created: testNow})
}

// completed writes a saga that completed with every effect in place.
func (f *fixture) completed(o contract.Order) {
	f.t.Helper()
	f.charge(o, contract.EntryApplied)
	f.reserve(o, contract.EntryApplied)
	f.ship(o)
	f.saga(o, contract.SagaCompleted)
}

// cancelled writes a saga whose stock was refused and whose charge was
// refunded: the common compensation.
func (f *fixture) cancelled(o contract.Order) {
	f.t.Helper()
	f.charge(o, contract.EntryReverted)
	f.reserve(o, contract.EntryVoided)
	f.saga(o, contract.SagaCancelled)
}

// ruleSubjects returns "rule subject" for each violation, in order.
func ruleSubjects(vs []Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, string(v.Rule)+" "+v.Subject)
	}
	return out
}
