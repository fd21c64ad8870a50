package fault_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fault"
	"github.com/sagascope/sagascope/demo/internal/testclock"
	"github.com/sagascope/sagascope/demo/service/servicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func kinds(fs []contract.Fault) []contract.FaultKind {
	var out []contract.FaultKind
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

func TestAFaultIsInForceUntilItExpiresOrIsRemoved(t *testing.T) {
	c := testclock.At(t0)
	tab := fault.NewTable(contract.Payment, c.Now)
	tab.Put(contract.Fault{Service: contract.Payment, Kind: contract.FaultLatency, Latency: time.Second, Set: t0, Expires: t0.Add(time.Minute)})
	tab.Put(contract.Fault{Service: contract.Payment, Kind: contract.FaultError, Probability: 1, Set: t0})

	if got := kinds(tab.List()); !slices.Equal(got, []contract.FaultKind{contract.FaultError, contract.FaultLatency}) {
		t.Fatalf("faults in force = %v, want error and latency", got)
	}
	if f, ok := tab.Active(contract.FaultLatency); !ok || f.Latency != time.Second {
		t.Fatalf("latency = %+v, %v; want in force with its latency", f, ok)
	}
	c.Advance(time.Minute)
	if _, ok := tab.Active(contract.FaultLatency); ok {
		t.Fatal("latency still in force at its expiry")
	}
	if got := kinds(tab.List()); !slices.Equal(got, []contract.FaultKind{contract.FaultError}) {
		t.Fatalf("faults in force after the expiry = %v, want error", got)
	}
	tab.Remove(contract.FaultError)
	if got := tab.List(); len(got) != 0 {
		t.Fatalf("faults in force after removing error = %v, want none", got)
	}
}

func TestRollFiresAtTheFaultsProbabilityAndCountsWhatFired(t *testing.T) {
	tests := []struct {
		name  string
		fault *contract.Fault
		rolls int
		fired uint64 // of the rolls
	}{
		{name: "no fault never fires", rolls: 10},
		{name: "probability 1 always fires",
			fault: &contract.Fault{Service: contract.Payment, Kind: contract.FaultDuplicate, Probability: 1, Set: t0},
			rolls: 10, fired: 10},
		{name: "probability 0 never fires",
			fault: &contract.Fault{Service: contract.Payment, Kind: contract.FaultDuplicate, Probability: 0, Set: t0},
			rolls: 10},
		{name: "an expired fault never fires",
			fault: &contract.Fault{Service: contract.Payment, Kind: contract.FaultDuplicate, Probability: 1, Set: t0, Expires: t0},
			rolls: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := fault.NewTable(contract.Payment, func() time.Time { return t0 })
			if tt.fault != nil {
				tab.Put(*tt.fault)
			}
			var hits uint64
			for range tt.rolls {
				if tab.Roll(contract.FaultDuplicate) {
					hits++
				}
			}
			if hits != tt.fired {
				t.Errorf("%d of %d rolls fired, want %d", hits, tt.rolls, tt.fired)
			}
			if got := tab.Injected()[contract.FaultDuplicate]; got != tt.fired {
				t.Errorf("injected = %d, want %d", got, tt.fired)
			}
		})
	}
}

func TestFiredCountsEveryKindAndIgnoresUnknownOnes(t *testing.T) {
	tab := fault.NewTable(contract.Orders, nil)
	tab.Fired(contract.FaultCrash)
	tab.Fired(contract.FaultCrash)
	tab.Fired("no-such-kind")
	got := tab.Injected()
	if len(got) != len(contract.FaultKinds) {
		t.Errorf("injected has %d kinds, want every kind (%d)", len(got), len(contract.FaultKinds))
	}
	if got[contract.FaultCrash] != 2 {
		t.Errorf("crash fired %d times, want 2", got[contract.FaultCrash])
	}
}

func TestListenersHearEverySetAndClear(t *testing.T) {
	tab := fault.NewTable(contract.Shipping, nil)
	type change struct {
		kind   contract.FaultKind
		active bool
	}
	var heard []change
	tab.OnChange(func(f contract.Fault, active bool) { heard = append(heard, change{f.Kind, active}) })
	tab.Put(contract.Fault{Service: contract.Shipping, Kind: contract.FaultPause})
	tab.Remove(contract.FaultPause)
	tab.Remove(contract.FaultPause) // nothing to clear: not heard
	want := []change{{contract.FaultPause, true}, {contract.FaultPause, false}}
	if !slices.Equal(heard, want) {
		t.Fatalf("heard %v, want %v", heard, want)
	}
}

func TestSortFaultsOrdersBySagaThenKind(t *testing.T) {
	fs := []contract.Fault{
		{Service: contract.Shipping, Kind: contract.FaultError},
		{Service: "elsewhere", Kind: contract.FaultError},
		{Service: contract.Payment, Kind: contract.FaultReject},
		{Service: contract.Orders, Kind: contract.FaultBurst},
		{Service: contract.Payment, Kind: contract.FaultCrash},
	}
	fault.SortFaults(fs)
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Service)+"/"+string(f.Kind))
	}
	want := []string{"orders/burst", "payment/crash", "payment/reject", "shipping/error", "elsewhere/error"}
	if !slices.Equal(got, want) {
		t.Fatalf("sorted = %v, want %v", got, want)
	}
}

// watch runs fault.Watch for payment on the control bucket of a real
// server until the test ends, and returns the bucket and the table.
func watch(t *testing.T, before func(kv jetstream.KeyValue)) (jetstream.KeyValue, *fault.Table) {
	t.Helper()
	r := servicetest.New(t, contract.Payment)
	kv, err := r.JS.KeyValue(t.Context(), contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(kv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := fault.Watch(ctx, kv, r.Faults, servicetest.Quiet)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return kv, r.Faults
}

func put(t *testing.T, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), key, b); err != nil {
		t.Fatal(err)
	}
}

// changes returns a table listener and the channel it reports on.
func changes(tab *fault.Table) <-chan contract.FaultKind {
	ch := make(chan contract.FaultKind, 16)
	tab.OnChange(func(f contract.Fault, active bool) { ch <- f.Kind })
	return ch
}

func next(t *testing.T, ch <-chan contract.FaultKind) contract.FaultKind {
	t.Helper()
	select {
	case k := <-ch:
		return k
	case <-time.After(15 * time.Second):
		t.Fatal("no change of the fault table")
		return ""
	}
}

func TestWatchLoadsTheFaultsAlreadySetBeforeItReturns(t *testing.T) {
	_, tab := watch(t, func(kv jetstream.KeyValue) {
		put(t, kv, contract.FaultKey(contract.Payment, contract.FaultReject),
			contract.Fault{Service: contract.Payment, Kind: contract.FaultReject, Probability: 1, Set: time.Now()})
	})
	if _, ok := tab.Active(contract.FaultReject); !ok {
		t.Fatal("a fault set before the watch started is not in force when Watch returns")
	}
}

func TestWatchFollowsSetsAndClearsAndIgnoresWhatIsNotItsServicesFault(t *testing.T) {
	kv, tab := watch(t, nil)
	ch := changes(tab)
	payment := func(k contract.FaultKind) string { return contract.FaultKey(contract.Payment, k) }

	// Ignored, each of them: another service's fault (not watched), a
	// record whose kind disagrees with its key, one for another service
	// under payment's key, one that does not decode.
	put(t, kv, contract.FaultKey(contract.Shipping, contract.FaultError), contract.Fault{Service: contract.Shipping, Kind: contract.FaultError})
	put(t, kv, payment(contract.FaultLatency), contract.Fault{Service: contract.Payment, Kind: contract.FaultReject})
	put(t, kv, payment(contract.FaultPause), contract.Fault{Service: contract.Shipping, Kind: contract.FaultPause})
	if _, err := kv.Put(t.Context(), payment(contract.FaultCrash), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	// Then one that is payment's: the first change heard must be it.
	put(t, kv, payment(contract.FaultError), contract.Fault{Service: contract.Payment, Kind: contract.FaultError, Probability: 1})
	if got := next(t, ch); got != contract.FaultError {
		t.Fatalf("first change = %s, want error (the records before it are not payment's faults)", got)
	}
	if got := kinds(tab.List()); !slices.Equal(got, []contract.FaultKind{contract.FaultError}) {
		t.Fatalf("faults in force = %v, want error only", got)
	}
	if err := kv.Delete(t.Context(), payment(contract.FaultError)); err != nil {
		t.Fatal(err)
	}
	if got := next(t, ch); got != contract.FaultError {
		t.Fatalf("change = %s, want error cleared", got)
	}
	if got := tab.List(); len(got) != 0 {
		t.Fatalf("faults in force after the delete = %v, want none", got)
	}
}
