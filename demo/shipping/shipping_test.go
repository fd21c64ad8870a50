package shipping_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/service/servicetest"
	"github.com/sagascope/sagascope/demo/shipping"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/demo/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bind binds shipping on a fresh server.
func bind(t *testing.T) (*servicetest.Rig, service.Binding, service.Route) {
	t.Helper()
	r := servicetest.New(t, contract.Shipping)
	b, route := r.Bind(t, shipping.New(shipping.Config{Breaker: servicetest.TripOnFirstFailure}))
	return r, b, route
}

// shipment is o1's record, "" status when there is none.
func shipment(t *testing.T, r *servicetest.Rig) contract.Shipment {
	t.Helper()
	var s contract.Shipment
	r.Record(t, contract.ShipmentBucket, "o1", &s)
	return s
}

var o1 = servicetest.Order("o1", 100, 1)

func TestRepeatedAndReorderedShippingCommandsBookAndCancelOnce(t *testing.T) {
	type reply struct{ command, event, reason string }
	tests := []struct {
		name       string
		replies    []reply
		status     contract.ShipmentStatus
		duplicates uint64
	}{
		{name: "a schedule books a shipment",
			replies: []reply{{contract.ScheduleShipment, contract.ShipmentScheduled, ""}},
			status:  contract.ShipmentBooked},
		{name: "a schedule delivered twice books once",
			replies: []reply{
				{contract.ScheduleShipment, contract.ShipmentScheduled, ""},
				{contract.ScheduleShipment, contract.ShipmentScheduled, ""},
			},
			status: contract.ShipmentBooked, duplicates: 1},
		{name: "a cancel delivered twice cancels the booking once",
			replies: []reply{
				{contract.ScheduleShipment, contract.ShipmentScheduled, ""},
				{contract.CancelShipment, contract.ShipmentCancelled, ""},
				{contract.CancelShipment, contract.ShipmentCancelled, ""},
			},
			status: contract.ShipmentVoided, duplicates: 1},
		{name: "a schedule arriving after its cancel is refused",
			replies: []reply{
				{contract.CancelShipment, contract.ShipmentCancelled, ""},
				{contract.ScheduleShipment, contract.ShipmentFailed, "order already cancelled"},
			},
			status: contract.ShipmentVoided, duplicates: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, route := bind(t)
			for _, rep := range tt.replies {
				servicetest.WantEvent(t, r.Handle(t, route.Handle, rep.command, o1), rep.event, rep.reason)
			}
			if got := shipment(t, r).Status; got != tt.status {
				t.Errorf("shipment = %q, want %q", got, tt.status)
			}
			if got := r.Counters.Duplicates.Load(); got != tt.duplicates {
				t.Errorf("duplicates = %d, want %d", got, tt.duplicates)
			}
		})
	}
}

func TestABookedShipmentHasATrackingNumber(t *testing.T) {
	r, _, route := bind(t)
	r.Handle(t, route.Handle, contract.ScheduleShipment, o1)
	if s := shipment(t, r); s.Tracking != "TRK-o1" || s.Carrier == "" {
		t.Fatalf("shipment = %+v, want carrier and tracking TRK-o1", s)
	}
}

func TestAFaultOnTheCarrierFailsTheScheduleOrLeavesItToTheRetries(t *testing.T) {
	tests := []struct {
		name  string
		fault contract.FaultKind
		// event and reason of the schedule, and the record it leaves;
		// "" when it fails transiently and leaves nothing.
		event, reason string
		status        contract.ShipmentStatus
	}{
		{name: "a reject fault is no carrier, and voids the shipment", fault: contract.FaultReject,
			event: contract.ShipmentFailed, reason: sim.ReasonNoCarrier, status: contract.ShipmentVoided},
		{name: "an error fault is a transient failure", fault: contract.FaultError},
		{name: "a carrier that is down is a transient failure", fault: contract.FaultDependencyDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, route := bind(t)
			r.SetFault(tt.fault, 1)
			if tt.event != "" {
				servicetest.WantEvent(t, r.Handle(t, route.Handle, contract.ScheduleShipment, o1), tt.event, tt.reason)
			} else {
				servicetest.Transient(t, route.Handle, contract.ScheduleShipment, o1)
			}
			if got := shipment(t, r).Status; got != tt.status {
				t.Errorf("shipment = %q, want %q", got, tt.status)
			}
			if got := r.Faults.Injected()[tt.fault]; got != 1 {
				t.Errorf("%s fired %d times, want 1", tt.fault, got)
			}
		})
	}
}

func TestACarrierThatKeepsFailingOpensTheBreakerAndSchedulesFailAtOnce(t *testing.T) {
	r, b, route := bind(t)
	r.OpenBreaker(t, route.Handle, contract.ScheduleShipment)
	servicetest.WantEvent(t, r.Handle(t, route.Handle, contract.ScheduleShipment, o1),
		contract.ShipmentFailed, "carrier unavailable (circuit open)")
	if got := shipment(t, r).Status; got != contract.ShipmentVoided {
		t.Errorf("shipment = %q, want %q so a duplicate cannot book later", got, contract.ShipmentVoided)
	}
	if bs := b.Breakers(); len(bs) != 1 || bs[0].Name != "carrier" || bs[0].State != contract.BreakerOpen {
		t.Errorf("breakers = %+v, want the carrier's, open", bs)
	}
}

func TestGivingUpFailsAScheduleButNotACancel(t *testing.T) {
	r, _, route := bind(t)
	cause := errors.New("carrier timeout")
	if err := route.GiveUp(t.Context(), servicetest.Delivery(contract.ScheduleShipment, o1), cause); err != nil {
		t.Fatal(err)
	}
	servicetest.WantEvent(t, r.Reply(t), contract.ShipmentFailed, "gave up: carrier timeout")
	if got := shipment(t, r).Status; got != contract.ShipmentVoided {
		t.Errorf("shipment = %q, want %q", got, contract.ShipmentVoided)
	}
	// A cancel has no failure event: giving up on one publishes nothing,
	// so the next event is that of the cancel handled after it.
	if err := route.GiveUp(t.Context(), servicetest.Delivery(contract.CancelShipment, o1), cause); err != nil {
		t.Fatal(err)
	}
	servicetest.WantEvent(t, r.Handle(t, route.Handle, contract.CancelShipment, o1), contract.ShipmentCancelled, "")
}

func TestACommandOfAnotherServiceIsRefusedForGood(t *testing.T) {
	_, _, route := bind(t)
	if err := route.Handle(t.Context(), servicetest.Delivery(contract.ChargePayment, o1)); !worker.IsPermanent(err) {
		t.Fatalf("error = %v, want a permanent one", err)
	}
}
