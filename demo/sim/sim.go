// Package sim simulates the external dependencies of the demo services — a
// payment gateway, a carrier, an inventory database — and applies the faults
// injected into them at runtime: latency, transient errors, outage and
// business rejection.
//
// It is where the latency, error, dependency_down and reject faults take
// effect (injector.latency and injector.outcome, in Dependency.Call and
// Database.Query), reading demo/fault's Table through Faults; demo/fault's
// package doc says where the other kinds do.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// ErrUnavailable is a transient failure: the dependency is down or erroring.
// Callers retry with back-off, and their circuit breaker counts it.
var ErrUnavailable = errors.New("dependency unavailable")

// ErrRejected is a business rejection: the dependency answered no. Callers
// compensate and never retry. Every rejection is a *RejectedError saying why.
var ErrRejected = errors.New("rejected")

// Rejection reasons of the demo's dependencies.
const (
	ReasonCardDeclined = "card declined"
	ReasonOutOfStock   = "out of stock"
	ReasonNoCarrier    = "no carrier available"
)

// RejectedError is a business rejection; errors.Is(err, ErrRejected) holds.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "rejected: " + e.Reason }

// Is makes every RejectedError match ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Faults tells a dependency which faults are injected into its service right
// now. It must be safe for concurrent use.
type Faults interface {
	// Active returns the fault of kind in force for this service now, if any.
	Active(kind contract.FaultKind) (contract.Fault, bool)
}

// Firing is implemented by fault tables that count the faults that fire
// (fault.Table does, for metrics). A Faults that also implements it is told
// of every latency, outage, error and rejection a call suffers.
type Firing interface {
	Fired(kind contract.FaultKind)
}

// injector applies the faults in force to a call; newInjector builds it.
type injector struct {
	faults Faults
	rand   func() float64
	firing Firing // nil: not counted
}

func newInjector(f Faults, r func() float64) injector {
	if r == nil {
		r = rand.Float64
	}
	firing, _ := f.(Firing)
	return injector{faults: f, rand: r, firing: firing}
}

func (in injector) fired(kind contract.FaultKind) {
	if in.firing != nil {
		in.firing.Fired(kind)
	}
}

func (in injector) active(kind contract.FaultKind) (contract.Fault, bool) {
	if in.faults == nil {
		return contract.Fault{}, false
	}
	return in.faults.Active(kind)
}

// latency is the extra latency of the latency fault: its Latency plus a
// random share of its Jitter.
func (in injector) latency() time.Duration {
	f, ok := in.active(contract.FaultLatency)
	if !ok {
		return 0
	}
	in.fired(contract.FaultLatency)
	return f.Latency + time.Duration(in.rand()*float64(f.Jitter))
}

// hit reports whether a fault of kind is in force and fires this time.
func (in injector) hit(kind contract.FaultKind) bool {
	f, ok := in.active(kind)
	// rand is in [0, 1): probability 1 always fires, 0 never does.
	if ok && in.rand() < f.Probability {
		in.fired(kind)
		return true
	}
	return false
}

// outcome is the failure the faults impose on a call that has taken its
// latency: ErrUnavailable while the dependency is down or, at the fault's
// rate, erroring; else a rejection at the reject fault's rate when
// rejectReason is set; else nil. Transient faults are checked first: a
// dependency that is not answering cannot say no.
func (in injector) outcome(rejectReason string) error {
	if _, down := in.active(contract.FaultDependencyDown); down {
		in.fired(contract.FaultDependencyDown)
		return errDown
	}
	if in.hit(contract.FaultError) {
		return errTransient
	}
	if rejectReason != "" && in.hit(contract.FaultReject) {
		return &RejectedError{Reason: rejectReason}
	}
	return nil
}

// The transient failures, worded for the dashboard's error column.
var (
	errDown      = fmt.Errorf("%w: down", ErrUnavailable)
	errTransient = fmt.Errorf("%w: transient error", ErrUnavailable)
)

// IsFailure tells a circuit breaker which errors mean the dependency failed:
// not business rejections (the dependency answered), not a caller that gave
// up.
func IsFailure(err error) bool {
	return !errors.Is(err, ErrRejected) && !errors.Is(err, context.Canceled)
}
