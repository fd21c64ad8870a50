package ledgerstep_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/breaker"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/ledgerstep"
	"github.com/sagascope/sagascope/demo/payment"
	"github.com/sagascope/sagascope/demo/service/servicetest"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard stands where the step's dependency does (payment's gateway behind
// its breaker): it decides whether the ledger operation runs.
type guard = func(ctx context.Context, fn func(context.Context) error) error

func passThrough(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }

// failWith is a dependency that fails every call with err.
func failWith(err error) guard {
	return func(context.Context, func(context.Context) error) error { return err }
}

// failOnce is a dependency that fails its first call with err and lets the
// others through.
func failOnce(err error) guard {
	var calls atomic.Int32
	return func(ctx context.Context, fn func(context.Context) error) error {
		if calls.Add(1) == 1 {
			return err
		}
		return fn(ctx)
	}
}

// step is payment's charge and refund as a ledger step, on the payment
// buckets of a real server, with g as its dependency.
type step struct {
	*servicetest.Rig
	h *ledgerstep.Handler
}

func newStep(t *testing.T, g guard) step {
	t.Helper()
	r := servicetest.New(t, contract.Payment)
	accounts, err := r.JS.KeyValue(t.Context(), contract.AccountBucket)
	if err != nil {
		t.Fatal(err)
	}
	charges, err := r.JS.KeyValue(t.Context(), contract.ChargeBucket)
	if err != nil {
		t.Fatal(err)
	}
	h := ledgerstep.New(ledgerstep.Config{
		Types: payment.Types, Ledger: ledger.New(accounts, charges, nil), Guard: g,
		JetStream: r.JS, Counters: r.Counters,
	})
	return step{Rig: r, h: h}
}

func (s step) handle(t *testing.T, typ string, o contract.Order) error {
	t.Helper()
	return s.h.Handle(t.Context(), servicetest.Delivery(typ, o))
}

// must handles a command that must succeed and returns the event it
// published.
func (s step) must(t *testing.T, typ string, o contract.Order) contract.Envelope {
	t.Helper()
	return s.Handle(t, s.h.Handle, typ, o)
}

func (s step) available(t *testing.T) int64 {
	t.Helper()
	return s.Available(t, contract.AccountBucket, topology.CustomerID(0))
}

func TestAChargeRepliesWhatTheLedgerAndTheDependencySaid(t *testing.T) {
	tests := []struct {
		name      string
		guard     guard
		order     contract.Order
		event     string
		reason    string
		available int64
		entry     contract.EntryStatus
	}{
		{name: "a charge the balance covers is taken",
			guard: passThrough, order: servicetest.Order("o1", 100, 1),
			event: contract.PaymentCharged, available: 900, entry: contract.EntryApplied},
		{name: "a charge above the balance is declined as insufficient funds",
			guard: passThrough, order: servicetest.Order("o1", 1001, 1),
			event: contract.PaymentDeclined, reason: payment.Types.Insufficient, available: 1000, entry: contract.EntryVoided},
		{name: "a charge of an unknown customer is declined",
			guard: passThrough, order: contract.Order{ID: "o1", Customer: "nobody", SKU: topology.SKU(0), Qty: 1, Amount: 100},
			event: contract.PaymentDeclined, reason: payment.Types.Unknown, available: 1000, entry: contract.EntryVoided},
		{name: "a rejection by the dependency is a decline with its reason",
			guard: failWith(fmt.Errorf("call gateway: %w", &sim.RejectedError{Reason: sim.ReasonCardDeclined})), order: servicetest.Order("o1", 100, 1),
			event: contract.PaymentDeclined, reason: sim.ReasonCardDeclined, available: 1000, entry: contract.EntryVoided},
		{name: "an open breaker fails the step at once",
			guard: failWith(fmt.Errorf("gateway: %w", breaker.ErrOpen)), order: servicetest.Order("o1", 100, 1),
			event: contract.PaymentFailed, reason: payment.Types.Disabled, available: 1000, entry: contract.EntryVoided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStep(t, tt.guard)
			servicetest.WantEvent(t, s.must(t, contract.ChargePayment, tt.order), tt.event, tt.reason)
			if got := s.available(t); got != tt.available {
				t.Errorf("available = %d, want %d", got, tt.available)
			}
			if got := s.Entry(t, contract.ChargeBucket, "o1"); got != tt.entry {
				t.Errorf("entry = %q, want %q", got, tt.entry)
			}
		})
	}
}

func TestRepeatedAndReorderedCommandsTakeAndGiveBackOnce(t *testing.T) {
	type reply struct{ command, event, reason string }
	tests := []struct {
		name       string
		replies    []reply
		available  int64
		entry      contract.EntryStatus
		duplicates uint64
	}{
		{name: "a charge delivered twice is taken once",
			replies: []reply{
				{contract.ChargePayment, contract.PaymentCharged, ""},
				{contract.ChargePayment, contract.PaymentCharged, ""},
			},
			available: 900, entry: contract.EntryApplied, duplicates: 1},
		{name: "a refund delivered twice gives the charge back once",
			replies: []reply{
				{contract.ChargePayment, contract.PaymentCharged, ""},
				{contract.RefundPayment, contract.PaymentRefunded, ""},
				{contract.RefundPayment, contract.PaymentRefunded, ""},
			},
			available: 1000, entry: contract.EntryReverted, duplicates: 1},
		{name: "a charge arriving after its refund is refused",
			replies: []reply{
				{contract.RefundPayment, contract.PaymentRefunded, ""},
				{contract.ChargePayment, contract.PaymentDeclined, "order already cancelled"},
			},
			available: 1000, entry: contract.EntryVoided, duplicates: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStep(t, passThrough)
			o := servicetest.Order("o1", 100, 1)
			for _, r := range tt.replies {
				servicetest.WantEvent(t, s.must(t, r.command, o), r.event, r.reason)
			}
			if got := s.available(t); got != tt.available {
				t.Errorf("available = %d, want %d", got, tt.available)
			}
			if got := s.Entry(t, contract.ChargeBucket, "o1"); got != tt.entry {
				t.Errorf("entry = %q, want %q", got, tt.entry)
			}
			if got := s.Counters.Duplicates.Load(); got != tt.duplicates {
				t.Errorf("duplicates = %d, want %d", got, tt.duplicates)
			}
		})
	}
}

func TestATransientFailureIsLeftToTheRetriesAndRepliesNothing(t *testing.T) {
	cause := fmt.Errorf("call gateway: %w", sim.ErrUnavailable)
	for _, typ := range []string{contract.ChargePayment, contract.RefundPayment} {
		t.Run(typ, func(t *testing.T) {
			s := newStep(t, failOnce(cause))
			err := s.handle(t, typ, servicetest.Order("o1", 100, 1))
			if !errors.Is(err, sim.ErrUnavailable) || worker.IsPermanent(err) {
				t.Fatalf("error = %v, want a transient one wrapping %v", err, sim.ErrUnavailable)
			}
			if got := s.Entry(t, contract.ChargeBucket, "o1"); got != "" {
				t.Errorf("entry = %q, want none: a retry may still apply it", got)
			}
			// The next event is the one of another order: the failure
			// published nothing.
			servicetest.WantEvent(t, s.must(t, contract.RefundPayment, servicetest.Order("o2", 100, 1)), contract.PaymentRefunded, "")
		})
	}
}

func TestGivingUpReportsTheStepFailedAndRefusesALateDuplicate(t *testing.T) {
	tests := []struct {
		name, command, event string
	}{
		{name: "a charge that gave up fails the step", command: contract.ChargePayment, event: contract.PaymentFailed},
		{name: "a refund that gave up fails the compensation", command: contract.RefundPayment, event: contract.RefundFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStep(t, passThrough)
			o := servicetest.Order("o1", 100, 1)
			if err := s.h.GiveUp(t.Context(), servicetest.Delivery(tt.command, o), errors.New("gateway down")); err != nil {
				t.Fatal(err)
			}
			servicetest.WantEvent(t, s.Reply(t), tt.event, "gave up: gateway down")
		})
	}
	t.Run("a charge delivered after giving up on it is refused", func(t *testing.T) {
		s := newStep(t, passThrough)
		o := servicetest.Order("o1", 100, 1)
		if err := s.h.GiveUp(t.Context(), servicetest.Delivery(contract.ChargePayment, o), errors.New("gateway down")); err != nil {
			t.Fatal(err)
		}
		s.Reply(t)
		servicetest.WantEvent(t, s.must(t, contract.ChargePayment, o), contract.PaymentDeclined, "order already cancelled")
		if got := s.available(t); got != 1000 {
			t.Errorf("available = %d, want 1000: nothing may be taken for a failed step", got)
		}
	})
}

func TestACommandOfAnotherServiceIsRefusedForGood(t *testing.T) {
	s := newStep(t, passThrough)
	err := s.handle(t, contract.ReserveStock, servicetest.Order("o1", 100, 1))
	if !worker.IsPermanent(err) {
		t.Fatalf("error = %v, want a permanent one", err)
	}
}

// Two deliveries of one charge (a redelivery, an injected duplicate) run at
// once. One charges; the other's dependency call says no, but only after the
// first charged. The loser's refusal finds the charge already applied and
// must reply charged too: replying declined would cancel a saga whose money
// was taken, and the orchestrator would hear both answers.
func TestARefusalThatLosesTheRaceToAConcurrentChargeRepliesCharged(t *testing.T) {
	tests := []struct {
		name  string
		cause error
	}{
		{name: "declined by the gateway", cause: &sim.RejectedError{Reason: sim.ReasonCardDeclined}},
		{name: "refused by the open breaker", cause: breaker.ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			charged := make(chan struct{})
			var calls atomic.Int32
			race := func(ctx context.Context, fn func(context.Context) error) error {
				if calls.Add(1) == 1 {
					// The first call answers last, and says no.
					select {
					case <-charged:
						return tt.cause
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				defer close(charged)
				return fn(ctx)
			}
			s := newStep(t, race)
			o := servicetest.Order("o1", 100, 1)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { errs[i] = s.handle(t, contract.ChargePayment, o) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			for range 2 {
				servicetest.WantEvent(t, s.Reply(t), contract.PaymentCharged, "")
			}
			if got := s.available(t); got != 900 {
				t.Errorf("available = %d, want 900", got)
			}
			if got := s.Entry(t, contract.ChargeBucket, "o1"); got != contract.EntryApplied {
				t.Errorf("entry = %q, want %q", got, contract.EntryApplied)
			}
		})
	}
	t.Run("giving up after another delivery charged", func(t *testing.T) {
		s := newStep(t, passThrough)
		o := servicetest.Order("o1", 100, 1)
		servicetest.WantEvent(t, s.must(t, contract.ChargePayment, o), contract.PaymentCharged, "")
		if err := s.h.GiveUp(t.Context(), servicetest.Delivery(contract.ChargePayment, o), errors.New("timeout")); err != nil {
			t.Fatal(err)
		}
		servicetest.WantEvent(t, s.Reply(t), contract.PaymentCharged, "")
	})
}
