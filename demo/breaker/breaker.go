// Package breaker guards calls to a dependency with failsafe-go's circuit
// breaker and reports the breaker's state in the contract's BreakerStatus,
// so the dashboard can show it open, half-open and closed as faults come and
// go.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// ErrOpen is returned, wrapped, by Run when the breaker refuses a call
// without making it. It is failsafe-go's own sentinel, so errors.Is matches
// it whichever package a caller compares with.
var ErrOpen = circuitbreaker.ErrOpen

// Defaults used for the zero values of Config.
const (
	DefaultFailureThreshold = 5
	DefaultFailureWindow    = 10
	DefaultDelay            = 5 * time.Second
	DefaultSuccessThreshold = 2
)

// Config configures a Breaker. The zero value of every field means its
// default.
//
// The breaker is count based: it opens when FailureThreshold of the last
// FailureWindow calls failed (by default 5 of the last 10). A dependency that
// is down therefore opens it after 5 calls, while a dependency failing 10% of
// calls rarely does; a demo shows both within seconds. After Delay it
// half-opens and lets SuccessThreshold probe calls through at once: if all
// succeed it closes, if any fails it opens again for another Delay.
type Config struct {
	// Name identifies the guarded dependency in Status and in errors, e.g.
	// "gateway". Default "breaker".
	Name string
	// FailureThreshold is how many failures among the last FailureWindow
	// calls open the breaker. Default 5.
	FailureThreshold uint
	// FailureWindow is how many recent calls are remembered while closed.
	// Default 10; raised to FailureThreshold if below it.
	FailureWindow uint
	// Delay is how long the breaker stays open before letting probes
	// through. Default 5s.
	Delay time.Duration
	// SuccessThreshold is how many probes are let through while half-open,
	// all of which must succeed to close the breaker. Default 2.
	SuccessThreshold uint
	// IsFailure reports whether an error returned by a call is a failure of
	// the dependency. Errors it rejects, such as a declined card, show the
	// dependency answered and are recorded as successes. Default: every
	// error except context.Canceled, which means the caller gave up, not
	// that the dependency failed. It must be safe for concurrent use.
	IsFailure func(error) bool
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "breaker"
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	c.FailureWindow = max(c.FailureWindow, c.FailureThreshold)
	if c.Delay <= 0 {
		c.Delay = DefaultDelay
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = DefaultSuccessThreshold
	}
	if c.IsFailure == nil {
		c.IsFailure = func(err error) bool { return !errors.Is(err, context.Canceled) }
	}
	return c
}

// Breaker guards calls to one dependency. It is safe for concurrent use.
type Breaker struct {
	name     string
	cb       circuitbreaker.CircuitBreaker[any]
	executor failsafe.Executor[any]
	rejected atomic.Uint64

	mu        sync.Mutex
	listeners []func(from, to contract.BreakerState)
}

// New builds a closed Breaker from cfg.
func New(cfg Config) *Breaker {
	cfg = cfg.withDefaults()
	b := &Breaker{name: cfg.Name}
	isFailure := cfg.IsFailure
	b.cb = circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && isFailure(err) }).
		WithFailureThresholdRatio(cfg.FailureThreshold, cfg.FailureWindow).
		WithSuccessThreshold(cfg.SuccessThreshold).
		WithDelay(cfg.Delay).
		OnStateChanged(b.notify).
		Build()
	b.executor = failsafe.With[any](b.cb)
	return b
}

// Run calls call through the breaker and returns call's error unchanged.
// When the breaker is open, or half-open with every probe already in flight,
// Run returns an error wrapping ErrOpen at once without calling call, and
// counts the refusal in Status().Rejected and as an event on the span in
// ctx.
func (b *Breaker) Run(ctx context.Context, call func(context.Context) error) error {
	called := false
	err := b.executor.WithContext(ctx).Run(func() error {
		called = true
		return call(ctx)
	})
	if !called && errors.Is(err, ErrOpen) {
		b.rejected.Add(1)
		retryIn := b.cb.RemainingDelay()
		sagaspan.BreakerRejected(ctx, b.name, retryIn)
		return fmt.Errorf("call %s: %w (retry in %v)", b.name, err, retryIn.Round(time.Millisecond))
	}
	return err
}

// Status reports the breaker for the status feed. Successes and Failures
// are failsafe-go's counts for the current state (while open: those of the
// closed period that opened it). Remaining is the time left before an open
// breaker lets a probe through; it stays open, with Remaining 0, until the
// next call after that. The fields are read one after another, so under
// load they may describe adjacent instants.
func (b *Breaker) Status() contract.BreakerStatus {
	m := b.cb.Metrics()
	return contract.BreakerStatus{
		Name:      b.name,
		State:     stateOf(b.cb.State()),
		Remaining: b.cb.RemainingDelay(),
		Successes: m.Successes(),
		Failures:  m.Failures(),
		Rejected:  b.rejected.Load(),
	}
}

// Open forces the breaker open, as if its threshold had been reached: it
// refuses calls for Delay, then probes as usual.
func (b *Breaker) Open() { b.cb.Open() }

// Close forces the breaker closed and forgets the calls it remembered.
func (b *Breaker) Close() { b.cb.Close() }

// OnStateChange adds fn to the functions called on every state change.
// They are called synchronously, in the order added, on the goroutine whose
// call or Open/Close caused the change, with no lock of the breaker held:
// they must return quickly and may call Status.
func (b *Breaker) OnStateChange(fn func(from, to contract.BreakerState)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listeners = append(b.listeners, fn)
}

func (b *Breaker) notify(e circuitbreaker.StateChangedEvent) {
	b.mu.Lock()
	listeners := b.listeners
	b.mu.Unlock()
	from, to := stateOf(e.OldState), stateOf(e.NewState)
	for _, fn := range listeners {
		fn(from, to)
	}
}

func stateOf(s circuitbreaker.State) contract.BreakerState {
	switch s {
	case circuitbreaker.OpenState:
		return contract.BreakerOpen
	case circuitbreaker.HalfOpenState:
		return contract.BreakerHalfOpen
	default:
		return contract.BreakerClosed
	}
}
