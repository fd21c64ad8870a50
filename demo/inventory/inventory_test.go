package inventory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/inventory"
	"github.com/sagascope/sagascope/demo/service/servicetest"
	"github.com/sagascope/sagascope/demo/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var stock = servicetest.Ledger{Types: inventory.Types, Balances: contract.StockBucket, Entries: contract.ReservationBucket}

func TestInventoryReservesStockAndReleasesIt(t *testing.T) {
	r := servicetest.New(t, contract.Inventory)
	_, route := r.Bind(t, inventory.New(inventory.Config{Conns: 1}))
	r.RoundTrip(t, route.Handle, stock, servicetest.Order("o1", 100, 4))
}

func TestAReservationThatCannotBeMadeTakesNoStock(t *testing.T) {
	tests := []struct {
		name  string
		fault contract.FaultKind // "": none
		qty   int64
		// event and reason of the reservation; "" when it fails
		// transiently.
		event, reason string
	}{
		{name: "more than the stock is out of stock", qty: servicetest.Seed.StockPerSKU + 1,
			event: contract.StockRejected, reason: sim.ReasonOutOfStock},
		{name: "a reject fault is out of stock", fault: contract.FaultReject, qty: 1,
			event: contract.StockRejected, reason: sim.ReasonOutOfStock},
		{name: "an error fault is a transient failure", fault: contract.FaultError, qty: 1},
		{name: "a database that is down is a transient failure", fault: contract.FaultDependencyDown, qty: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servicetest.New(t, contract.Inventory)
			_, route := r.Bind(t, inventory.New(inventory.Config{Conns: 1}))
			if tt.fault != "" {
				r.SetFault(tt.fault, 1)
			}
			r.Refused(t, route.Handle, stock, servicetest.Order("o1", 100, tt.qty), tt.event, tt.reason)
			if got := r.Faults.Injected()[tt.fault]; tt.fault != "" && got != 1 {
				t.Errorf("%s fired %d times, want 1", tt.fault, got)
			}
		})
	}
}
