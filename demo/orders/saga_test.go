package orders

import (
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

var (
	t0          = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	order       = contract.Order{ID: "o1", Customer: "cust-0001", SKU: "sku-001", Qty: 2, Amount: 1000}
	stepTimeout = 10 * time.Second
)

func event(typ, reason string) contract.Envelope {
	e := contract.NewEnvelope(typ, order, nil, 0, t0)
	e.Reason = reason
	return e
}

// saga builds a saga in status with the given step states.
func saga(status contract.SagaStatus, steps map[contract.Step]contract.StepState) contract.Saga {
	s := start(order, "place", t0, stepTimeout)
	s.Status, s.Steps = status, steps
	return s
}

type S = map[contract.Step]contract.StepState

const (
	pending      = contract.StepPending
	done         = contract.StepDone
	rejected     = contract.StepRejected
	compensating = contract.StepCompensating
	compensated  = contract.StepCompensated
	failed       = contract.StepFailed
)

func TestTransition(t *testing.T) {
	charge, reserve, schedule := contract.StepCharge, contract.StepReserve, contract.StepSchedule
	tests := []struct {
		name       string
		from       contract.Saga
		event      contract.Envelope
		moves      bool
		status     contract.SagaStatus
		steps      S
		sends      string
		reasonHas  string
		hasTimeout bool
	}{
		{name: "a charged payment moves on to reserving stock",
			from: saga(contract.SagaCharging, S{charge: pending}), event: event(contract.PaymentCharged, ""), moves: true,
			status: contract.SagaReserving, steps: S{charge: done, reserve: pending}, sends: contract.ReserveStock, hasTimeout: true},
		{name: "reserved stock moves on to scheduling",
			from: saga(contract.SagaReserving, S{charge: done, reserve: pending}), event: event(contract.StockReserved, ""), moves: true,
			status: contract.SagaScheduling, steps: S{charge: done, reserve: done, schedule: pending}, sends: contract.ScheduleShipment, hasTimeout: true},
		{name: "a scheduled shipment completes the saga",
			from: saga(contract.SagaScheduling, S{charge: done, reserve: done, schedule: pending}), event: event(contract.ShipmentScheduled, ""), moves: true,
			status: contract.SagaCompleted, steps: S{charge: done, reserve: done, schedule: done}, sends: contract.OrderCompleted},
		{name: "a declined card cancels with nothing to compensate",
			from: saga(contract.SagaCharging, S{charge: pending}), event: event(contract.PaymentDeclined, "card declined"), moves: true,
			status: contract.SagaCancelled, steps: S{charge: rejected}, sends: contract.OrderCancelled, reasonHas: "card declined"},
		{name: "out of stock refunds the charge",
			from: saga(contract.SagaReserving, S{charge: done, reserve: pending}), event: event(contract.StockRejected, "out of stock"), moves: true,
			status: contract.SagaCompensating, steps: S{charge: compensating, reserve: rejected}, sends: contract.RefundPayment, reasonHas: "out of stock", hasTimeout: true},
		{name: "a failed shipment releases stock first",
			from: saga(contract.SagaScheduling, S{charge: done, reserve: done, schedule: pending}), event: event(contract.ShipmentFailed, "no carrier available"), moves: true,
			status: contract.SagaCompensating, steps: S{charge: done, reserve: compensating, schedule: rejected}, sends: contract.ReleaseStock, hasTimeout: true},
		{name: "released stock is followed by the refund",
			from: saga(contract.SagaCompensating, S{charge: done, reserve: compensating, schedule: rejected}), event: event(contract.StockReleased, ""), moves: true,
			status: contract.SagaCompensating, steps: S{charge: compensating, reserve: compensated, schedule: rejected}, sends: contract.RefundPayment, hasTimeout: true},
		{name: "the refund ends the saga cancelled",
			from: saga(contract.SagaCompensating, S{charge: compensating, reserve: compensated, schedule: rejected}), event: event(contract.PaymentRefunded, ""), moves: true,
			status: contract.SagaCancelled, steps: S{charge: compensated, reserve: compensated, schedule: rejected}, sends: contract.OrderCancelled},
		{name: "a failed refund parks the saga",
			from: saga(contract.SagaCompensating, S{charge: compensating, reserve: rejected}), event: event(contract.RefundFailed, "gave up"), moves: true,
			status: contract.SagaCompensationFailed, steps: S{charge: failed, reserve: rejected}, sends: contract.OrderCompFailed, reasonHas: "payment.refund failed"},
		{name: "a duplicate charged event does not move a reserving saga",
			from: saga(contract.SagaReserving, S{charge: done, reserve: pending}), event: event(contract.PaymentCharged, "")},
		{name: "a late charge after a timeout is ignored; the refund undoes it",
			from: saga(contract.SagaCompensating, S{charge: compensating}), event: event(contract.PaymentCharged, "")},
		{name: "an answer for another step does not move the saga",
			from: saga(contract.SagaCharging, S{charge: pending}), event: event(contract.StockReserved, "")},
		{name: "a finished saga ignores everything",
			from: saga(contract.SagaCompleted, S{charge: done, reserve: done, schedule: done}), event: event(contract.PaymentRefunded, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clone(tt.from)
			next, ok := transition(tt.from, tt.event, t0.Add(time.Second), stepTimeout)
			if ok != tt.moves {
				t.Fatalf("moved = %v, want %v (status %s)", ok, tt.moves, next.Status)
			}
			if !equalSteps(tt.from.Steps, before.Steps) {
				t.Fatalf("transition changed its input: %v -> %v", before.Steps, tt.from.Steps)
			}
			if !ok {
				return
			}
			if next.Status != tt.status {
				t.Errorf("status = %s, want %s", next.Status, tt.status)
			}
			if !equalSteps(next.Steps, tt.steps) {
				t.Errorf("steps = %v, want %v", next.Steps, tt.steps)
			}
			if typ, _ := commandFor(next); typ != tt.sends {
				t.Errorf("sends %q, want %q", typ, tt.sends)
			}
			if !strings.Contains(next.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not mention %q", next.Reason, tt.reasonHas)
			}
			if next.Cause != tt.event.ID {
				t.Errorf("cause = %q, want the event id %q", next.Cause, tt.event.ID)
			}
			if got := !next.Deadline.IsZero(); got != tt.hasTimeout {
				t.Errorf("has deadline = %v, want %v", got, tt.hasTimeout)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	charge, reserve := contract.StepCharge, contract.StepReserve
	late := t0.Add(stepTimeout + time.Second)
	tests := []struct {
		name    string
		from    contract.Saga
		now     time.Time
		moves   bool
		status  contract.SagaStatus
		steps   S
		sends   string
		attempt int
	}{
		{name: "a step within its deadline is left alone",
			from: saga(contract.SagaCharging, S{charge: pending}), now: t0.Add(time.Second)},
		{name: "an unanswered charge is compensated, since it may have applied",
			from: saga(contract.SagaCharging, S{charge: pending}), now: late, moves: true,
			status: contract.SagaCompensating, steps: S{charge: compensating}, sends: contract.RefundPayment},
		{name: "an unanswered reservation is released before the refund",
			from: saga(contract.SagaReserving, S{charge: done, reserve: pending}), now: late, moves: true,
			status: contract.SagaCompensating, steps: S{charge: done, reserve: compensating}, sends: contract.ReleaseStock},
		{name: "an unanswered compensation is sent again with a new attempt",
			from: saga(contract.SagaCompensating, S{charge: compensating}), now: late, moves: true,
			status: contract.SagaCompensating, steps: S{charge: compensating}, sends: contract.RefundPayment, attempt: 1},
		{name: "a compensation unanswered after every attempt parks the saga",
			from: func() contract.Saga {
				s := saga(contract.SagaCompensating, S{charge: compensating})
				s.Attempt = 2
				return s
			}(),
			now: late, moves: true, status: contract.SagaCompensationFailed, steps: S{charge: failed}, sends: contract.OrderCompFailed},
		{name: "a finished saga never times out",
			from: func() contract.Saga { s := saga(contract.SagaCompleted, S{}); s.Deadline = time.Time{}; return s }(), now: late},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := timeout(tt.from, tt.now, stepTimeout, 3)
			if ok != tt.moves {
				t.Fatalf("moved = %v, want %v", ok, tt.moves)
			}
			if !ok {
				return
			}
			if next.Status != tt.status || !equalSteps(next.Steps, tt.steps) {
				t.Errorf("got %s %v, want %s %v", next.Status, next.Steps, tt.status, tt.steps)
			}
			typ, attempt := commandFor(next)
			if typ != tt.sends || attempt != tt.attempt {
				t.Errorf("sends %q attempt %d, want %q attempt %d", typ, attempt, tt.sends, tt.attempt)
			}
		})
	}
}

// A re-sent compensation gets a new message id, so the stream's duplicate
// window does not swallow it.
func TestResentCompensationHasANewMessageID(t *testing.T) {
	s := saga(contract.SagaCompensating, S{contract.StepCharge: compensating})
	typ, a0 := commandFor(s)
	s.Attempt = 1
	_, a1 := commandFor(s)
	id0 := contract.NewEnvelope(typ, order, nil, a0, t0).ID
	id1 := contract.NewEnvelope(typ, order, nil, a1, t0).ID
	if id0 == id1 {
		t.Fatalf("both attempts have id %q", id0)
	}
}

func equalSteps(a, b S) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
