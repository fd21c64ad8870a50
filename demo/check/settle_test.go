package check

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
)

func TestRunLetsInFlightSagasSettleConservationOnly(t *testing.T) {
	o1, o2 := order(1, 1, 1), order(2, 2, 0)
	// halfCharged is a charge caught between its two writes: the account is
	// debited, the entry not yet written.
	halfCharged := func(f *fixture) {
		f.adjust(contract.AccountBucket, o1.Customer, -o1.Amount)
	}
	tests := []struct {
		name   string
		settle time.Duration
		build  func(f *fixture)
		// heal, when set, runs 200ms after Run starts.
		heal      func(f *fixture)
		wantOK    bool
		wantReads func(int) bool
		readsDesc string
	}{
		{
			name:   "a mismatch healed 200ms later passes when Settle is 2s and the saga is in flight",
			settle: 2 * time.Second,
			build: func(f *fixture) {
				f.saga(o1, contract.SagaCharging)
				halfCharged(f)
			},
			heal:      func(f *fixture) { f.chargeEntry(o1, contract.EntryApplied) },
			wantOK:    true,
			wantReads: func(n int) bool { return n > 1 }, readsDesc: "more than 1",
		},
		{
			name:   "a mismatch that never heals is reported once Settle has passed",
			settle: 300 * time.Millisecond,
			build: func(f *fixture) {
				f.saga(o1, contract.SagaCharging)
				halfCharged(f)
			},
			wantReads: func(n int) bool { return n > 1 }, readsDesc: "more than 1",
		},
		{
			name:   "a mismatch with no saga in flight is reported from the first read",
			settle: 10 * time.Second,
			build: func(f *fixture) {
				f.saga(o1, contract.SagaCancelled)
				halfCharged(f)
			},
			wantReads: func(n int) bool { return n == 1 }, readsDesc: "exactly 1",
		},
		{
			name:   "a violation that is not about conservation is not re-read even with a saga in flight",
			settle: 10 * time.Second,
			build: func(f *fixture) {
				f.saga(o1, contract.SagaCharging)
				f.charge(o2, contract.EntryApplied)
				f.reserve(o2, contract.EntryApplied)
				f.saga(o2, contract.SagaCompleted) // but never shipped
			},
			wantReads: func(n int) bool { return n == 1 }, readsDesc: "exactly 1",
		},
		{
			name:   "a negative Settle checks once",
			settle: -1,
			build: func(f *fixture) {
				f.saga(o1, contract.SagaCharging)
				halfCharged(f)
			},
			wantReads: func(n int) bool { return n == 1 }, readsDesc: "exactly 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, smallSeed)
			tt.build(f)
			if tt.heal != nil {
				healed := make(chan struct{})
				go func() {
					defer close(healed)
					time.Sleep(200 * time.Millisecond)
					tt.heal(f)
				}()
				t.Cleanup(func() { <-healed })
			}

			r := f.run(Options{Settle: tt.settle})

			if r.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v; violations %v", r.OK(), tt.wantOK, r.Violations)
			}
			if !tt.wantReads(r.Reads) {
				t.Errorf("Reads = %d, want %s", r.Reads, tt.readsDesc)
			}
		})
	}
}

// TestRunUnderLoadReportsNoFalseViolations drives the real ledger from
// several goroutines, in the order the orchestrator writes (saga, then its
// effects, then its outcome), while Run checks repeatedly. Every check must
// pass: the saga bucket is read before the effects, and conservation
// mismatches between a balance write and its entry write settle.
func TestRunUnderLoadReportsNoFalseViolations(t *testing.T) {
	if testing.Short() {
		t.Skip("drives load for a few seconds")
	}
	seed := contract.Seed{Accounts: 3, AccountBalance: 1_000_000_000, SKUs: 2, StockPerSKU: 1_000_000}
	f := newFixture(t, seed)
	payments := ledger.New(f.kv(contract.AccountBucket), f.kv(contract.ChargeBucket), nil)
	inventory := ledger.New(f.kv(contract.StockBucket), f.kv(contract.ReservationBucket), nil)

	ctx, stopLoad := context.WithCancel(t.Context())
	defer stopLoad()
	var load errgroup.Group
	var placed sync.WaitGroup
	placed.Add(4) // each worker places a first saga before the checks start
	for w := range 4 {
		load.Go(func() error {
			for n := 0; ctx.Err() == nil; n++ {
				o := order(0, w%seed.Accounts, n%seed.SKUs)
				o.ID = fmt.Sprintf("w%d-%d", w, n)
				if err := runSaga(ctx, f, payments, inventory, o, n%3 == 0); err != nil && ctx.Err() == nil {
					return err
				}
				if n == 0 {
					placed.Done()
				}
			}
			return nil
		})
	}
	placed.Wait()

	for i := range 5 {
		// The shipped settle time (DefaultSettle): on a loaded machine five
		// re-reads in 5 s all caught a write between a balance and its entry.
		r, err := Run(t.Context(), f.js, Options{})
		if err != nil {
			t.Fatalf("check %d under load: %v", i, err)
		}
		if !r.OK() {
			t.Errorf("check %d under load (%d reads): %v", i, r.Reads, r.Violations)
		}
		t.Logf("check %d: %d reads, %d sagas in flight, sagas %v", i, r.Reads, r.InFlight(), r.Sagas)
	}
	stopLoad()
	if err := load.Wait(); err != nil {
		t.Fatalf("load: %v", err)
	}
}

// runSaga writes one saga the way the orchestrator and the services do:
// the saga first, each effect through the ledger, the outcome last. A
// cancelled saga is charged, refused stock and refunded. The clock is the
// real one here, so in-flight sagas are judged against real deadlines.
func runSaga(ctx context.Context, f *fixture, payments, inventory *ledger.Ledger, o contract.Order, cancel bool) error {
	put := func(status contract.SagaStatus) {
		sg := contract.Saga{V: contract.Version, ID: o.ID, Order: o, Status: status, Updated: time.Now()}
		if !status.Final() {
			sg.Deadline = time.Now().Add(time.Minute)
		}
		f.put(contract.SagaBucket, o.ID, sg)
	}
	put(contract.SagaCharging)
	if _, err := payments.Apply(ctx, o.ID, o.Customer, o.Amount); err != nil {
		return fmt.Errorf("charge %s: %w", o.ID, err)
	}
	if cancel {
		put(contract.SagaCompensating)
		if _, err := inventory.Revert(ctx, o.ID, o.SKU, o.Qty); err != nil {
			return fmt.Errorf("void reservation %s: %w", o.ID, err)
		}
		if _, err := payments.Revert(ctx, o.ID, o.Customer, o.Amount); err != nil {
			return fmt.Errorf("refund %s: %w", o.ID, err)
		}
		put(contract.SagaCancelled)
		return nil
	}
	put(contract.SagaReserving)
	if _, err := inventory.Apply(ctx, o.ID, o.SKU, o.Qty); err != nil {
		return fmt.Errorf("reserve %s: %w", o.ID, err)
	}
	put(contract.SagaScheduling)
	f.ship(o)
	put(contract.SagaCompleted)
	return nil
}
