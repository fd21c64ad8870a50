package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	ledger   *ledger.Ledger
	balances jetstream.KeyValue
	entries  jetstream.KeyValue
}

// newLedger opens a ledger on fresh buckets with one balance "acct" of 1000.
func newLedger(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	js := natstest.JetStream(t, natstest.Connect(t, natstest.Server(t).ClientURL()))
	balances, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "balances"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "entries"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, balances, "acct", contract.Balance{Available: 1000})
	return fixture{ledger: ledger.New(balances, entries, nil), balances: balances, entries: entries}
}

func put(t *testing.T, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := kv.Put(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) balance(t *testing.T) contract.Balance {
	t.Helper()
	e, err := f.balances.Get(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	var b contract.Balance
	if err := json.Unmarshal(e.Value(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (f fixture) status(t *testing.T, order string) contract.EntryStatus {
	t.Helper()
	e, err := f.ledger.Entry(context.Background(), order)
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return ""
	}
	return e.Status
}

func TestLedgerOperations(t *testing.T) {
	ctx := context.Background()
	type step struct {
		op      string // apply, revert, void
		order   string
		amount  int64
		outcome ledger.Outcome
		err     error
	}
	tests := []struct {
		name      string
		steps     []step
		available int64
		statuses  map[string]contract.EntryStatus
	}{
		{name: "apply takes the amount once",
			steps:     []step{{op: "apply", order: "o1", amount: 100, outcome: ledger.Done}},
			available: 900, statuses: map[string]contract.EntryStatus{"o1": contract.EntryApplied}},
		{name: "a repeated apply takes nothing more",
			steps:     []step{{op: "apply", order: "o1", amount: 100}, {op: "apply", order: "o1", amount: 100, outcome: ledger.Repeated}},
			available: 900},
		{name: "revert gives it back once",
			steps: []step{{op: "apply", order: "o1", amount: 100}, {op: "revert", order: "o1", amount: 100, outcome: ledger.Done},
				{op: "revert", order: "o1", amount: 100, outcome: ledger.Repeated}},
			available: 1000, statuses: map[string]contract.EntryStatus{"o1": contract.EntryReverted}},
		{name: "revert before apply voids, and the late apply is refused",
			steps:     []step{{op: "revert", order: "o1", amount: 100, outcome: ledger.Done}, {op: "apply", order: "o1", amount: 100, err: ledger.ErrCancelled}},
			available: 1000, statuses: map[string]contract.EntryStatus{"o1": contract.EntryVoided}},
		{name: "apply after a revert is refused",
			steps:     []step{{op: "apply", order: "o1", amount: 100}, {op: "revert", order: "o1", amount: 100}, {op: "apply", order: "o1", amount: 100, err: ledger.ErrCancelled}},
			available: 1000},
		{name: "an amount above the balance is insufficient and takes nothing",
			steps:     []step{{op: "apply", order: "o1", amount: 1001, err: ledger.ErrInsufficient}},
			available: 1000, statuses: map[string]contract.EntryStatus{"o1": ""}},
		{name: "void leaves a tombstone that refuses the apply",
			steps:     []step{{op: "void", order: "o1", amount: 100}, {op: "apply", order: "o1", amount: 100, err: ledger.ErrCancelled}},
			available: 1000, statuses: map[string]contract.EntryStatus{"o1": contract.EntryVoided}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLedger(t)
			for i, s := range tt.steps {
				var out ledger.Outcome
				var err error
				switch s.op {
				case "apply":
					out, err = f.ledger.Apply(ctx, s.order, "acct", s.amount)
				case "revert":
					out, err = f.ledger.Revert(ctx, s.order, "acct", s.amount)
				case "void":
					_, err = f.ledger.Void(ctx, s.order, "acct", s.amount)
				}
				if !errors.Is(err, s.err) {
					t.Fatalf("step %d %s: err %v, want %v", i, s.op, err, s.err)
				}
				if err == nil && out != s.outcome {
					t.Fatalf("step %d %s: outcome %v, want %v", i, s.op, out, s.outcome)
				}
			}
			if got := f.balance(t).Available; got != tt.available {
				t.Errorf("available = %d, want %d", got, tt.available)
			}
			for order, want := range tt.statuses {
				if got := f.status(t, order); got != want {
					t.Errorf("entry %s = %q, want %q", order, got, want)
				}
			}
		})
	}
}

// A handler that crashed after writing the balance but before the entry is
// redelivered: the retry must complete the entry without taking twice.
func TestApplyAfterACrashBetweenItsWritesTakesOnce(t *testing.T) {
	f := newLedger(t)
	put(t, f.balances, "acct", contract.Balance{Available: 900, Applied: []string{"o1"}})
	out, err := f.ledger.Apply(context.Background(), "o1", "acct", 100)
	if err != nil || out != ledger.Repeated {
		t.Fatalf("Apply = %v, %v; want Repeated", out, err)
	}
	if got := f.balance(t).Available; got != 900 {
		t.Fatalf("available = %d, want 900", got)
	}
	if got := f.status(t, "o1"); got != contract.EntryApplied {
		t.Fatalf("entry = %q, want applied", got)
	}
}

func TestConcurrentDeliveriesOfOneOrderTakeOnce(t *testing.T) {
	f := newLedger(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := f.ledger.Apply(context.Background(), "o1", "acct", 10); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := f.balance(t).Available; got != 990 {
		t.Fatalf("available = %d after 16 concurrent deliveries of one order, want 990", got)
	}
}

func TestConcurrentOrdersOnOneKeyAllCount(t *testing.T) {
	f := newLedger(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := f.ledger.Apply(context.Background(), fmt.Sprintf("o%d", i), "acct", 5); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b := f.balance(t)
	if b.Available != 800 {
		t.Fatalf("available = %d after 40 orders of 5, want 800", b.Available)
	}
	if len(b.Applied) != 40 || len(b.Applied) > contract.AppliedWindow {
		t.Fatalf("applied list has %d ids", len(b.Applied))
	}
}

func TestApplyToAMissingBalanceIsUnknown(t *testing.T) {
	f := newLedger(t)
	if _, err := f.ledger.Apply(context.Background(), "o1", "nobody", 1); !errors.Is(err, ledger.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
}

// A ledger remembers the balances it wrote; these writes by others must
// still be seen, and the remembered balance never decides an outcome alone.
func TestLedgerSeesBalanceWritesItDidNotMake(t *testing.T) {
	type step struct {
		by      int               // which ledger applies; -1: put balance instead
		balance *contract.Balance // put by someone else when by is -1
		order   string
		amount  int64
		wantErr error
		want    int64 // available afterwards
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"another ledger on the same buckets", []step{
			{by: 0, order: "o1", amount: 100, want: 900},
			{by: 1, order: "o2", amount: 100, want: 800},
			{by: 0, order: "o3", amount: 100, want: 700},
			{by: 1, order: "o4", amount: 100, want: 600},
		}},
		{"a top-up after a remembered low balance", []step{
			{by: 0, order: "o1", amount: 950, want: 50},
			{by: -1, balance: &contract.Balance{Available: 1000, Applied: []string{"o1"}}, want: 1000},
			{by: 0, order: "o2", amount: 500, want: 500},
		}},
		{"a withdrawal after a remembered high balance", []step{
			{by: 0, order: "o1", amount: 100, want: 900},
			{by: -1, balance: &contract.Balance{Available: 50, Applied: []string{"o1"}}, want: 50},
			{by: 0, order: "o2", amount: 100, wantErr: ledger.ErrInsufficient, want: 50},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newLedger(t)
			ledgers := []*ledger.Ledger{f.ledger, ledger.New(f.balances, f.entries, nil)}
			for i, s := range tc.steps {
				if s.by < 0 {
					put(t, f.balances, "acct", *s.balance)
				} else if _, err := ledgers[s.by].Apply(context.Background(), s.order, "acct", s.amount); !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: Apply = %v, want %v", i, err, s.wantErr)
				}
				if got := f.balance(t).Available; got != s.want {
					t.Fatalf("step %d: available = %d, want %d", i, got, s.want)
				}
			}
		})
	}
}
