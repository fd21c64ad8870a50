package sim

import (
	"context"
	"errors"
	"fmt"
	"github.com/sagascope/sagascope/demo/wait"
	"sync/atomic"
	"time"
)

// DependencyConfig configures a Dependency.
type DependencyConfig struct {
	// Name names the dependency in errors, e.g. "gateway".
	Name string
	// Latency is the typical duration of a call; each call takes Latency
	// plus or minus a random share of Jitter (never below 0).
	Latency, Jitter time.Duration
	// RejectReason is the reason of the rejections the reject fault
	// injects, e.g. ReasonCardDeclined. Empty: the reject fault is ignored.
	RejectReason string
	// Faults are the faults injected into the service calling this
	// dependency. Nil: none.
	Faults Faults
	// Rand returns a number in [0, 1) for jitter and fault probabilities.
	// It must be safe for concurrent use. Nil: math/rand/v2's Float64.
	Rand func() float64
}

// Dependency is a simulated remote API, such as the payment gateway or a
// carrier. It is safe for concurrent use.
type Dependency struct {
	name         string
	latency      time.Duration
	jitter       time.Duration
	rejectReason string
	faults       injector
	calls        atomic.Uint64
	unavailable  atomic.Uint64
	rejected     atomic.Uint64
}

// NewDependency builds a Dependency from cfg.
func NewDependency(cfg DependencyConfig) *Dependency {
	return &Dependency{
		name:         cfg.Name,
		latency:      cfg.Latency,
		jitter:       cfg.Jitter,
		rejectReason: cfg.RejectReason,
		faults:       newInjector(cfg.Faults, cfg.Rand),
	}
}

// Call makes one call to the dependency. It takes the configured latency
// plus any latency fault whatever its outcome — a failing API still costs
// its round trip, which is what a circuit breaker saves. Then it fails with
// an error wrapping ErrUnavailable if the dependency_down fault is in force
// or the error fault fires, or with a *RejectedError if the reject fault
// fires. If ctx ends first it returns an error wrapping ctx.Err().
func (d *Dependency) Call(ctx context.Context) error {
	d.calls.Add(1)
	delay := d.latency + d.faults.latency()
	if d.jitter > 0 {
		delay += time.Duration((2*d.faults.rand() - 1) * float64(d.jitter))
	}
	if err := wait.For(ctx, delay); err != nil {
		return fmt.Errorf("call %s: %w", d.name, err)
	}
	if err := d.faults.outcome(d.rejectReason); err != nil {
		if errors.Is(err, ErrRejected) {
			d.rejected.Add(1)
		} else {
			d.unavailable.Add(1)
		}
		return fmt.Errorf("call %s: %w", d.name, err)
	}
	return nil
}

// DependencyStats are a Dependency's totals since it was built.
type DependencyStats struct {
	Calls       uint64 // calls started
	Unavailable uint64 // calls failed with ErrUnavailable
	Rejected    uint64 // calls answered with a RejectedError
}

// Stats returns the totals of d.
func (d *Dependency) Stats() DependencyStats {
	return DependencyStats{
		Calls:       d.calls.Load(),
		Unavailable: d.unavailable.Load(),
		Rejected:    d.rejected.Load(),
	}
}
