package system_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// The streams that hold every saga message, in saga order.
var sagaStreams = []string{
	contract.StreamName(contract.Orders), contract.StreamName(contract.Payment),
	contract.StreamName(contract.Inventory), contract.StreamName(contract.Shipping),
}

// Each step refused for good (reject at probability 1) must undo the steps
// before it, last first, and end the saga cancelled with the refusal as its
// reason.
func TestARejectedStepCompensatesThePreviousStepsInReverse(t *testing.T) {
	tests := []struct {
		name   string
		reject contract.Service
		reason string
		steps  map[contract.Step]contract.StepState
		// sequence is the messages every saga stores, in the order they
		// must have been stored.
		sequence []string
		// never are messages no saga may send.
		never []string
	}{
		{
			name:   "a declined card cancels the saga without charging anything",
			reject: contract.Payment, reason: "payment: card declined",
			steps:    map[contract.Step]contract.StepState{contract.StepCharge: contract.StepRejected},
			sequence: []string{contract.PlaceOrder, contract.ChargePayment, contract.PaymentDeclined, contract.OrderCancelled},
			never:    []string{contract.RefundPayment, contract.ReserveStock, contract.ScheduleShipment},
		},
		{
			name:   "an order out of stock is refunded, then cancelled",
			reject: contract.Inventory, reason: "inventory: out of stock",
			steps: map[contract.Step]contract.StepState{contract.StepCharge: contract.StepCompensated, contract.StepReserve: contract.StepRejected},
			sequence: []string{
				contract.PlaceOrder, contract.ChargePayment, contract.PaymentCharged, contract.ReserveStock, contract.StockRejected,
				contract.RefundPayment, contract.PaymentRefunded, contract.OrderCancelled,
			},
			never: []string{contract.ReleaseStock, contract.ScheduleShipment},
		},
		{
			name:   "an order no carrier takes releases its stock, then is refunded, then cancelled",
			reject: contract.Shipping, reason: "shipping: no carrier available",
			steps: map[contract.Step]contract.StepState{
				contract.StepCharge: contract.StepCompensated, contract.StepReserve: contract.StepCompensated, contract.StepSchedule: contract.StepRejected,
			},
			sequence: []string{
				contract.PlaceOrder, contract.ChargePayment, contract.PaymentCharged, contract.ReserveStock, contract.StockReserved,
				contract.ScheduleShipment, contract.ShipmentFailed,
				contract.ReleaseStock, contract.StockReleased, contract.RefundPayment, contract.PaymentRefunded, contract.OrderCancelled,
			},
			never: []string{contract.CancelShipment},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := demo(t, 0, nil)
			r.setFault(t, contract.Fault{Service: tt.reject, Kind: contract.FaultReject, Probability: 1})
			r.setLoad(t, 20)
			systemtest.WaitFor(t, quickly, "ten orders placed", func() error {
				if n := len(sagas(t, r.js)); n < 10 {
					return fmt.Errorf("%d sagas", n)
				}
				return nil
			})
			all := r.settle(t)

			msgs := sagaMessages(t, r.js, sagaStreams...)
			for id, s := range all {
				if s.Status != contract.SagaCancelled || s.Reason != tt.reason || !maps.Equal(s.Steps, tt.steps) {
					t.Fatalf("saga %s ended %s, reason %q, steps %v; want cancelled, reason %q, steps %v",
						id, s.Status, s.Reason, s.Steps, tt.reason, tt.steps)
				}
				checkSequence(t, id, msgs[id], tt.sequence, tt.never)
			}
			rep := r.mustCheck(t)
			if rep.Charges[contract.EntryApplied] != 0 || rep.Reservations[contract.EntryApplied] != 0 {
				t.Fatalf("charges %v, reservations %v: a cancelled saga must hold nothing", rep.Charges, rep.Reservations)
			}
			t.Logf("%d sagas cancelled with reason %q", len(all), tt.reason)
		})
	}
}

// checkSequence fails unless the saga stored every message of sequence, in
// that order by the server's timestamps, and none of never.
func checkSequence(t *testing.T, id string, got map[string]sent, sequence, never []string) {
	t.Helper()
	var prev sent
	for i, typ := range sequence {
		m, ok := got[typ]
		if !ok {
			t.Fatalf("saga %s never stored %s; stored %s", id, typ, typesOf(got))
		}
		if i > 0 && !prev.time.Before(m.time) {
			t.Fatalf("saga %s stored %s at %s, not after %s at %s; want the order %s",
				id, typ, m.time.Format(time.StampNano), prev.typ, prev.time.Format(time.StampNano), strings.Join(sequence, " < "))
		}
		prev = m
	}
	for _, typ := range never {
		if _, ok := got[typ]; ok {
			t.Fatalf("saga %s sent %s; stored %s", id, typ, typesOf(got))
		}
	}
}

// typesOf lists the stored types by time, so a failure reads as the saga's
// history.
func typesOf(got map[string]sent) string {
	all := slices.SortedFunc(maps.Values(got), func(a, b sent) int { return a.time.Compare(b.time) })
	var names []string
	for _, m := range all {
		names = append(names, m.typ)
	}
	return strings.Join(names, ", ")
}

// A compensation that fails on every delivery must not leave the saga in
// flight for ever: it is parked as compensation_failed, which check reports
// as a warning for a person to settle, not as a broken invariant.
//
// The refund has to fail while the charge succeeded, so the faults come in
// order: shipping is not running, so sagas wait charged and reserved; then
// the payment gateway starts failing every call; then shipping starts with
// a reject fault already set, which releases the stock and asks for refunds
// that fail until payment gives up. (Pausing shipping instead works too,
// but a resumed consumer with no new messages arriving waits for the
// server's next heartbeat, ten seconds or more, before it delivers again.)
func TestARefundThatKeepsFailingParksTheSaga(t *testing.T) {
	r := demo(t, 0, func(c *system.Config) {
		c.Services = without(contract.Shipping)
		// Longer than the refund's five deliveries take, so the saga is
		// parked by payment giving up rather than by the sweeper.
		c.Orders.StepTimeout = 30 * time.Second
	})
	r.injectFault(t, contract.Fault{Service: contract.Shipping, Kind: contract.FaultReject, Probability: 1})
	r.setLoad(t, 20)
	systemtest.WaitFor(t, quickly, "ten orders placed", func() error {
		if n := len(sagas(t, r.js)); n < 10 {
			return fmt.Errorf("%d sagas", n)
		}
		return nil
	})
	r.stopLoad(t)
	systemtest.WaitFor(t, quickly, "every saga charged, reserved and waiting for shipping", func() error {
		if err := r.consumerIdle(t, contract.StreamName(contract.Orders), contract.CommandConsumer(contract.Orders)); err != nil {
			return err
		}
		c := countByStatus(sagas(t, r.js))
		if len(c) != 1 || c[contract.SagaScheduling] == 0 {
			return fmt.Errorf("sagas %v", c)
		}
		return nil
	})

	r.setFault(t, contract.Fault{Service: contract.Payment, Kind: contract.FaultError, Probability: 1})
	mark := r.feed.mark()
	r.startService(t, contract.Shipping)
	r.feed.wait(t, mark, quickly, "shipping starts with the reject fault in force", func(s contract.Status) bool {
		return s.Service == contract.Shipping && hasFault(s, contract.FaultReject)
	})
	all := r.settle(t)

	wantSteps := map[contract.Step]contract.StepState{
		contract.StepCharge: contract.StepFailed, contract.StepReserve: contract.StepCompensated, contract.StepSchedule: contract.StepRejected,
	}
	msgs := sagaMessages(t, r.js, sagaStreams...)
	for id, s := range all {
		if s.Status != contract.SagaCompensationFailed || !maps.Equal(s.Steps, wantSteps) ||
			!strings.HasPrefix(s.Reason, "shipping: no carrier available; "+contract.RefundPayment+" failed: gave up") {
			t.Fatalf("saga %s ended %s, reason %q, steps %v; want compensation_failed after the refund gave up, steps %v",
				id, s.Status, s.Reason, s.Steps, wantSteps)
		}
		checkSequence(t, id, msgs[id], []string{
			contract.ScheduleShipment, contract.ShipmentFailed, contract.ReleaseStock, contract.StockReleased,
			contract.RefundPayment, contract.RefundFailed, contract.OrderCompFailed,
		}, []string{contract.PaymentRefunded, contract.OrderCancelled})
	}

	rep := r.mustCheck(t)
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], fmt.Sprintf("%d sagas parked as %s", len(all), contract.SagaCompensationFailed)) {
		t.Fatalf("check warnings %q; want one naming the %d parked sagas", rep.Warnings, len(all))
	}
	// The refund failed, so the money is still charged; the stock was
	// released.
	if rep.Charges[contract.EntryApplied] != len(all) || rep.Reservations[contract.EntryReverted] != len(all) {
		t.Fatalf("charges %v, reservations %v; want %d applied charges and %d released reservations",
			rep.Charges, rep.Reservations, len(all), len(all))
	}
	dead := 0
	for _, m := range streamMessages(t, r.js, contract.DeadLetterStream) {
		if m.Header.Get(contract.DeadLetterFrom) == contract.Subject(contract.RefundPayment) &&
			strings.HasPrefix(m.Header.Get(contract.DeadLetterReason), "gave up after") {
			dead++
		}
	}
	if dead != len(all) {
		t.Fatalf("%d refunds dead-lettered as given up, want one per parked saga (%d)", dead, len(all))
	}
}
