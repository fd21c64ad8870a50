package orders

import (
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// The saga as a state machine. transition and timeout are pure: they take a
// saga and return the next one; the message to send is derived from the
// state alone by commandFor, so re-sending after a crash needs nothing but
// the stored state.

// stepSpec names, for each step, its service, its command and compensation,
// and the events that answer them.
type stepSpec struct {
	step                    contract.Step
	command, compensation   string
	done                    string   // forward success
	refused                 []string // forward failures: nothing applied
	compensated, compFailed string
	waitingFor              contract.Service
	status                  contract.SagaStatus // saga status while the step runs
}

var steps = []stepSpec{
	{step: contract.StepCharge, status: contract.SagaCharging, waitingFor: contract.Payment,
		command: contract.ChargePayment, compensation: contract.RefundPayment,
		done: contract.PaymentCharged, refused: []string{contract.PaymentDeclined, contract.PaymentFailed},
		compensated: contract.PaymentRefunded, compFailed: contract.RefundFailed},
	{step: contract.StepReserve, status: contract.SagaReserving, waitingFor: contract.Inventory,
		command: contract.ReserveStock, compensation: contract.ReleaseStock,
		done: contract.StockReserved, refused: []string{contract.StockRejected, contract.ReserveFailed},
		compensated: contract.StockReleased, compFailed: contract.ReleaseFailed},
	{step: contract.StepSchedule, status: contract.SagaScheduling, waitingFor: contract.Shipping,
		command: contract.ScheduleShipment, compensation: contract.CancelShipment,
		done: contract.ShipmentScheduled, refused: []string{contract.ShipmentFailed},
		compensated: contract.ShipmentCancelled},
}

func specForStatus(s contract.SagaStatus) (int, *stepSpec) {
	for i := range steps {
		if steps[i].status == s {
			return i, &steps[i]
		}
	}
	return -1, nil
}

// start is the saga of a newly placed order.
func start(o contract.Order, cause string, now time.Time, timeout time.Duration) contract.Saga {
	return contract.Saga{
		V: contract.Version, ID: o.ID, Order: o, Status: contract.SagaCharging,
		Steps:   map[contract.Step]contract.StepState{contract.StepCharge: contract.StepPending},
		Started: now, Updated: now, Deadline: now.Add(timeout), Cause: cause,
	}
}

// transition applies event e to s. ok is false when e does not move s: a
// duplicate, or a late answer to a step already timed out.
func transition(s contract.Saga, e contract.Envelope, now time.Time, timeout time.Duration) (next contract.Saga, ok bool) {
	next = clone(s)
	next.Cause, next.Updated, next.Attempt = e.ID, now, 0
	if i, spec := specForStatus(s.Status); spec != nil && s.Steps[spec.step] == contract.StepPending {
		switch {
		case e.Type == spec.done:
			next.Steps[spec.step] = contract.StepDone
			if i+1 == len(steps) {
				next.Status, next.Deadline = contract.SagaCompleted, time.Time{}
				return next, true
			}
			following := steps[i+1]
			next.Status, next.Deadline = following.status, now.Add(timeout)
			next.Steps[following.step] = contract.StepPending
			return next, true
		case contains(spec.refused, e.Type):
			next.Steps[spec.step] = contract.StepRejected
			next.Reason = string(spec.waitingFor) + ": " + e.Reason
			return compensate(next, now, timeout), true
		}
		return s, false
	}
	if s.Status != contract.SagaCompensating {
		return s, false
	}
	for _, spec := range steps {
		if s.Steps[spec.step] != contract.StepCompensating {
			continue
		}
		switch e.Type {
		case spec.compensated:
			next.Steps[spec.step] = contract.StepCompensated
			return compensate(next, now, timeout), true
		case spec.compFailed:
			next.Steps[spec.step] = contract.StepFailed
			next.Status, next.Deadline = contract.SagaCompensationFailed, time.Time{}
			next.Reason += "; " + spec.compensation + " failed: " + e.Reason
			return next, true
		}
	}
	return s, false
}

// compensate starts the next compensation, in reverse step order, of a step
// that applied or may have applied (pending when its answer timed out), or
// ends the saga cancelled when there is none left.
func compensate(s contract.Saga, now time.Time, timeout time.Duration) contract.Saga {
	for i := len(steps) - 1; i >= 0; i-- {
		st := s.Steps[steps[i].step]
		if st == contract.StepDone || st == contract.StepPending {
			s.Steps[steps[i].step] = contract.StepCompensating
			s.Status, s.Deadline, s.Attempt = contract.SagaCompensating, now.Add(timeout), 0
			return s
		}
	}
	s.Status, s.Deadline = contract.SagaCancelled, time.Time{}
	return s
}

// timeout moves a saga whose deadline passed: a forward step that got no
// answer is compensated (it may have applied); a compensation that got no
// answer is re-sent, and parked as failed after maxAttempts.
func timeout(s contract.Saga, now time.Time, stepTimeout time.Duration, maxAttempts int) (contract.Saga, bool) {
	if s.Status.Final() || s.Deadline.IsZero() || now.Before(s.Deadline) {
		return s, false
	}
	next := clone(s)
	next.Updated, next.Cause = now, ""
	if _, spec := specForStatus(s.Status); spec != nil {
		next.Reason = "timed out waiting for " + string(spec.waitingFor)
		return compensate(next, now, stepTimeout), true
	}
	for _, spec := range steps {
		if s.Steps[spec.step] != contract.StepCompensating {
			continue
		}
		if s.Attempt+1 >= maxAttempts {
			next.Steps[spec.step] = contract.StepFailed
			next.Status, next.Deadline = contract.SagaCompensationFailed, time.Time{}
			next.Reason += "; " + spec.compensation + " got no answer"
			return next, true
		}
		next.Attempt++
		next.Deadline = now.Add(stepTimeout)
		return next, true
	}
	return s, false
}

// commandFor is the message a saga in state s sends: the command of the step
// it waits for, the compensation in flight, or the order's final event.
func commandFor(s contract.Saga) (typ string, attempt int) {
	switch s.Status {
	case contract.SagaCompleted:
		return contract.OrderCompleted, 0
	case contract.SagaCancelled:
		return contract.OrderCancelled, 0
	case contract.SagaCompensationFailed:
		return contract.OrderCompFailed, 0
	case contract.SagaCompensating:
		for _, spec := range steps {
			if s.Steps[spec.step] == contract.StepCompensating {
				return spec.compensation, s.Attempt
			}
		}
		return "", 0
	}
	if _, spec := specForStatus(s.Status); spec != nil {
		return spec.command, s.Attempt
	}
	return "", 0
}

func clone(s contract.Saga) contract.Saga {
	steps := make(map[contract.Step]contract.StepState, len(s.Steps)+1)
	for k, v := range s.Steps {
		steps[k] = v
	}
	s.Steps = steps
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
