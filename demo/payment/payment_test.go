package payment_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/payment"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/service/servicetest"
	"github.com/sagascope/sagascope/demo/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var accounts = servicetest.Ledger{Types: payment.Types, Balances: contract.AccountBucket, Entries: contract.ChargeBucket}

// bind binds payment on a fresh server.
func bind(t *testing.T) (*servicetest.Rig, service.Binding, service.Route) {
	t.Helper()
	r := servicetest.New(t, contract.Payment)
	b, route := r.Bind(t, payment.New(payment.Config{Breaker: servicetest.TripOnFirstFailure}))
	return r, b, route
}

func TestPaymentChargesTheCustomersAccountAndRefundsIt(t *testing.T) {
	r, _, route := bind(t)
	r.RoundTrip(t, route.Handle, accounts, servicetest.Order("o1", 250, 1))
}

func TestAFaultOnTheGatewayDeclinesOrFailsTheCharge(t *testing.T) {
	tests := []struct {
		name  string
		fault contract.FaultKind
		// event and reason of the charge; "" when it fails transiently.
		event, reason string
	}{
		{name: "a reject fault declines the card", fault: contract.FaultReject,
			event: contract.PaymentDeclined, reason: sim.ReasonCardDeclined},
		{name: "an error fault is a transient failure", fault: contract.FaultError},
		{name: "a gateway that is down is a transient failure", fault: contract.FaultDependencyDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, route := bind(t)
			r.SetFault(tt.fault, 1)
			r.Refused(t, route.Handle, accounts, servicetest.Order("o1", 100, 1), tt.event, tt.reason)
			if got := r.Faults.Injected()[tt.fault]; got != 1 {
				t.Errorf("%s fired %d times, want 1", tt.fault, got)
			}
		})
	}
}

func TestAGatewayThatKeepsFailingOpensTheBreakerAndChargesFailAtOnce(t *testing.T) {
	r, b, route := bind(t)
	r.OpenBreaker(t, route.Handle, contract.ChargePayment)
	r.Refused(t, route.Handle, accounts, servicetest.Order("o2", 100, 1), contract.PaymentFailed, payment.Types.Disabled)
	if got := r.Entry(t, contract.ChargeBucket, "o2"); got != contract.EntryVoided {
		t.Errorf("charge of o2 = %q, want %q so a duplicate cannot charge later", got, contract.EntryVoided)
	}
	bs := b.Breakers()
	if len(bs) != 1 || bs[0].Name != "gateway" || bs[0].State != contract.BreakerOpen || bs[0].Rejected != 1 {
		t.Errorf("breakers = %+v, want the gateway's, open, with one call refused", bs)
	}
	// The open breaker did not call the gateway for o2.
	if got := r.Faults.Injected()[contract.FaultDependencyDown]; got != 1 {
		t.Errorf("dependency_down fired %d times, want 1", got)
	}
}
