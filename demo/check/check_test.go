package check

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestRunFindsEachBrokenInvariant(t *testing.T) {
	o1, o2 := order(1, 1, 1), order(2, 2, 0)
	tests := []struct {
		name  string
		build func(f *fixture)
		// want lists "rule subject" of every violation, in report order.
		want []string
		// detail, when set, must appear in the first violation's Detail.
		detail string
		// warning, when set, must appear in the only warning.
		warning string
	}{
		{
			name:  "a seeded server with no sagas yet passes",
			build: func(*fixture) {},
		},
		{
			name:  "a completed saga whose charge, reservation and shipment all landed passes",
			build: func(f *fixture) { f.completed(o1); f.completed(o2) },
		},
		{
			name:  "a cancelled saga whose charge was refunded and whose reservation was voided passes",
			build: func(f *fixture) { f.cancelled(o1) },
		},
		{
			name: "a saga in flight before its deadline passes even with its charge applied",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryApplied)
				f.saga(o1, contract.SagaReserving)
			},
		},
		{
			name: "a refunded charge whose saga does not exist is no orphan, because it holds nothing",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryReverted)
			},
		},
		{
			name: "an order charged twice shows as a short account and missing money",
			build: func(f *fixture) {
				f.completed(o1)
				f.adjust(contract.AccountBucket, o1.Customer, -o1.Amount)
			},
			want:   []string{"money-conserved saga_accounts", "account-balance cust-0001"},
			detail: "1250 cents missing",
		},
		{
			name: "a charge on a customer without an account breaks account-balance",
			build: func(f *fixture) {
				o := order(3, 7, 0)
				f.chargeEntry(o, contract.EntryApplied)
				f.reserve(o, contract.EntryApplied)
				f.ship(o)
				f.saga(o, contract.SagaCompleted)
			},
			want: []string{"money-conserved saga_accounts", "account-balance cust-0007"},
		},
		{
			name: "stock taken without a reservation breaks stock-conserved and stock-balance",
			build: func(f *fixture) {
				f.completed(o1)
				f.adjust(contract.StockBucket, "sku-001", -3)
			},
			want:   []string{"stock-conserved saga_stock", "stock-balance sku-001"},
			detail: "3 units missing",
		},
		{
			name: "a completed saga without a shipment breaks completed-effects",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryApplied)
				f.reserve(o1, contract.EntryApplied)
				f.saga(o1, contract.SagaCompleted)
			},
			want:   []string{"completed-effects order-1"},
			detail: "no shipment",
		},
		{
			name: "a completed saga whose charge was refunded breaks completed-effects",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryReverted)
				f.reserve(o1, contract.EntryApplied)
				f.ship(o1)
				f.saga(o1, contract.SagaCompleted)
			},
			want:   []string{"completed-effects order-1"},
			detail: "charge is reverted; want applied",
		},
		{
			name: "a completed saga charged a different amount than its order breaks completed-effects",
			build: func(f *fixture) {
				wrong := o1
				wrong.Amount = 999
				f.charge(wrong, contract.EntryApplied)
				f.reserve(o1, contract.EntryApplied)
				f.ship(o1)
				f.saga(o1, contract.SagaCompleted)
			},
			want:   []string{"completed-effects order-1"},
			detail: "charge of 999 cents on cust-0001; want 1250 cents on cust-0001",
		},
		{
			name: "a cancelled saga whose charge is still applied breaks cancelled-nets-zero",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryApplied)
				f.reserve(o1, contract.EntryVoided)
				f.saga(o1, contract.SagaCancelled)
			},
			want:   []string{"cancelled-nets-zero order-1"},
			detail: "charge of 1250 cents on cust-0001 is still applied",
		},
		{
			name: "a cancelled saga that shipped breaks cancelled-nets-zero",
			build: func(f *fixture) {
				f.cancelled(o1)
				f.ship(o1)
			},
			want:   []string{"cancelled-nets-zero order-1"},
			detail: "a cancelled order ships nothing",
		},
		{
			name: "a saga in flight past its deadline plus grace is stuck",
			build: func(f *fixture) {
				f.put(contract.SagaBucket, o1.ID, contract.Saga{ID: o1.ID, Order: o1, Status: contract.SagaCharging,
					Updated: testNow.Add(-2 * time.Minute), Deadline: testNow.Add(-31 * time.Second)})
			},
			want:   []string{"saga-finished order-1"},
			detail: "still charging 31s past its deadline (grace 30s)",
		},
		{
			name: "a saga in flight without a deadline is judged by its last update",
			build: func(f *fixture) {
				f.put(contract.SagaBucket, o1.ID, contract.Saga{ID: o1.ID, Order: o1, Status: contract.SagaCompensating,
					Updated: testNow.Add(-5 * time.Minute)})
			},
			want:   []string{"saga-finished order-1"},
			detail: "still compensating 5m0s since its last update",
		},
		{
			name: "an applied charge whose saga does not exist is an orphan",
			build: func(f *fixture) {
				f.charge(o1, contract.EntryApplied)
			},
			want:   []string{"orphan-effect order-1"},
			detail: "applied charge of 1250 cents on cust-0001 but no saga",
		},
		{
			name: "a shipment whose saga does not exist is an orphan",
			build: func(f *fixture) {
				f.ship(o2)
			},
			want:   []string{"orphan-effect order-2"},
			detail: "shipment but no saga",
		},
		{
			name: "an undecodable saga is reported as malformed, not as an error",
			build: func(f *fixture) {
				f.putRaw(contract.SagaBucket, o1.ID, []byte("{not json"))
			},
			want: []string{"malformed-record saga_sagas/order-1"},
		},
		{
			name: "a saga parked as compensation_failed is a warning, not a violation",
			build: func(f *fixture) {
				// The refund kept failing, so the money is still charged:
				// conserved, but someone has to settle it by hand.
				f.charge(o1, contract.EntryApplied)
				f.reserve(o1, contract.EntryReverted)
				f.saga(o1, contract.SagaCompensationFailed)
			},
			warning: "1 saga parked as compensation_failed (a compensation kept failing; settle by hand): order-1",
		},
		{
			name: "seven parked sagas are all counted and five are named",
			build: func(f *fixture) {
				for n := range 7 {
					f.saga(order(n, 0, 0), contract.SagaCompensationFailed)
				}
			},
			warning: "7 sagas parked as compensation_failed (a compensation kept failing; settle by hand): order-0, order-1, order-2, order-3, order-4 and 2 more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, smallSeed)
			tt.build(f)
			r := f.run(Options{})

			if got := ruleSubjects(r.Violations); !slices.Equal(got, tt.want) {
				t.Errorf("violations %q, want %q\nfull: %v", got, tt.want, r.Violations)
			}
			if r.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with violations %v", r.OK(), r.Violations)
			}
			if tt.detail != "" && len(r.Violations) > 0 && !strings.Contains(r.Violations[0].Detail, tt.detail) {
				t.Errorf("first violation detail %q, want it to contain %q", r.Violations[0].Detail, tt.detail)
			}
			for _, v := range r.Violations {
				if v.Detail == "" || strings.Contains(v.Detail, "\n") {
					t.Errorf("violation %q: detail must be one non-empty line", v)
				}
			}
			wantStuck := 0
			for _, w := range tt.want {
				if strings.HasPrefix(w, string(RuleSagaFinished)) {
					wantStuck++
				}
			}
			if r.Stuck != wantStuck {
				t.Errorf("Stuck = %d, want %d", r.Stuck, wantStuck)
			}
			switch {
			case tt.warning == "" && len(r.Warnings) > 0:
				t.Errorf("unexpected warnings %q", r.Warnings)
			case tt.warning != "" && !slices.Equal(r.Warnings, []string{tt.warning}):
				t.Errorf("warnings %q, want exactly %q", r.Warnings, tt.warning)
			}
		})
	}
}

func TestRunCountsWhatItRead(t *testing.T) {
	f := newFixture(t, smallSeed)
	f.completed(order(1, 0, 0))
	f.completed(order(2, 1, 1))
	f.cancelled(order(3, 2, 0))
	f.charge(order(4, 0, 1), contract.EntryApplied)
	f.saga(order(4, 0, 1), contract.SagaReserving)
	f.saga(order(5, 1, 0), contract.SagaCompensationFailed)
	if _, err := f.js.Publish(t.Context(), contract.Subject(contract.PlaceOrder), []byte("{}")); err != nil {
		t.Fatalf("publish to the orders stream: %v", err)
	}
	if _, err := f.js.Publish(t.Context(), contract.DeadLetterSubject(contract.Payment), []byte("poison")); err != nil {
		t.Fatalf("publish a dead letter: %v", err)
	}

	r := f.run(Options{})

	if !r.OK() {
		t.Fatalf("want OK, got %v", r.Violations)
	}
	wantSagas := map[contract.SagaStatus]int{
		contract.SagaCompleted: 2, contract.SagaCancelled: 1, contract.SagaReserving: 1, contract.SagaCompensationFailed: 1,
	}
	if !mapsEqual(r.Sagas, wantSagas) {
		t.Errorf("Sagas = %v, want %v", r.Sagas, wantSagas)
	}
	if want := map[contract.EntryStatus]int{contract.EntryApplied: 3, contract.EntryReverted: 1}; !mapsEqual(r.Charges, want) {
		t.Errorf("Charges = %v, want %v", r.Charges, want)
	}
	if want := map[contract.EntryStatus]int{contract.EntryApplied: 2, contract.EntryVoided: 1}; !mapsEqual(r.Reservations, want) {
		t.Errorf("Reservations = %v, want %v", r.Reservations, want)
	}
	if r.Shipments != 2 || r.InFlight() != 1 || r.Stuck != 0 {
		t.Errorf("Shipments %d, InFlight %d, Stuck %d; want 2, 1, 0", r.Shipments, r.InFlight(), r.Stuck)
	}
	if r.MoneyStart != smallSeed.TotalMoney() || r.MoneyNow != r.MoneyStart || r.StockStart != smallSeed.TotalStock() || r.StockNow != r.StockStart {
		t.Errorf("money %d -> %d, stock %d -> %d; want %d and %d unchanged",
			r.MoneyStart, r.MoneyNow, r.StockStart, r.StockNow, smallSeed.TotalMoney(), smallSeed.TotalStock())
	}
	if r.DeadLetters != 1 {
		t.Errorf("DeadLetters = %d, want 1", r.DeadLetters)
	}
	wantStreams := map[string]uint64{"SAGA_ORDERS": 1, "SAGA_PAYMENT": 0, "SAGA_INVENTORY": 0, "SAGA_SHIPPING": 0}
	if !mapsEqual(r.Streams, wantStreams) {
		t.Errorf("Streams = %v, want %v", r.Streams, wantStreams)
	}
	if r.Reads != 1 {
		t.Errorf("Reads = %d, want 1", r.Reads)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRunWithoutSagascopeDataSaysSo(t *testing.T) {
	tests := []struct {
		name  string
		build func(f *fixture)
		want  string
	}{
		{
			name:  "a server without the buckets names the saga bucket",
			build: func(*fixture) {},
			want:  "no sagascope data found: bucket saga_sagas does not exist (is this the right server?)",
		},
		{
			name: "buckets without the seed record name the seed",
			build: func(f *fixture) {
				for _, cfg := range topology.Buckets(topology.Options{}) {
					if _, err := f.js.CreateKeyValue(f.t.Context(), cfg); err != nil {
						f.t.Fatalf("create bucket %s: %v", cfg.Bucket, err)
					}
				}
			},
			want: `no sagascope data found: bucket saga_control has no "seed" record (topology.Ensure writes it after seeding)`,
		},
		{
			name: "a missing saga stream is named",
			build: func(f *fixture) {
				if err := topology.Ensure(f.t.Context(), f.js, topology.Options{Seed: smallSeed}); err != nil {
					f.t.Fatalf("topology.Ensure: %v", err)
				}
				if err := f.js.DeleteStream(f.t.Context(), "SAGA_SHIPPING"); err != nil {
					f.t.Fatalf("delete stream: %v", err)
				}
			},
			want: "no sagascope data found: stream SAGA_SHIPPING does not exist (is this the right server?)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := bareFixture(t)
			tt.build(f)
			_, err := Run(t.Context(), f.js, Options{})
			if !errors.Is(err, ErrNoData) {
				t.Fatalf("err = %v, want one wrapping ErrNoData", err)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
		})
	}
}

func TestRunStopsWhenItsContextIsCancelled(t *testing.T) {
	f := newFixture(t, smallSeed)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Run(ctx, f.js, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Run must not confuse "no such bucket" with a bucket it cannot read for
// another reason, or a network fault would be reported as an empty server.
func TestRunDoesNotCallAnUnreachableServerEmpty(t *testing.T) {
	f := newFixture(t, smallSeed)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	js, err := jetstream.NewWithDomain(f.js.Conn(), "nowhere")
	if err != nil {
		t.Fatalf("jetstream on a missing domain: %v", err)
	}
	_, err = Run(ctx, js, Options{})
	if err == nil || errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want an I/O error that does not claim the data is missing", err)
	}
	t.Logf("Run on an unreachable JetStream: %v", err)
}
