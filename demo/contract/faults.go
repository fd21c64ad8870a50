package contract

import (
	"fmt"
	"time"
)

// FaultKind is a kind of injected fault.
type FaultKind string

// Fault kinds. See FaultKinds for what each does and which parameters it uses.
const (
	FaultLatency        FaultKind = "latency"         // add Latency (+ Jitter) to each handled message
	FaultError          FaultKind = "error"           // fail a Probability share of calls to the dependency transiently
	FaultDependencyDown FaultKind = "dependency_down" // the dependency refuses every call; its breaker opens
	FaultReject         FaultKind = "reject"          // business rejection (card declined, out of stock) with Probability
	FaultDuplicate      FaultKind = "duplicate"       // deliver a Probability share of messages twice
	FaultPoison         FaultKind = "poison"          // inject an undecodable message next to a Probability share of inputs
	FaultPause          FaultKind = "pause"           // pause the service's command consumer on the server
	FaultCrash          FaultKind = "crash"           // stop without acking, restart after RestartAfter
	FaultBurst          FaultKind = "burst"           // multiply the load rate by Multiplier (orders only)
)

// FaultKindInfo documents one fault kind for help texts and the dashboard.
type FaultKindInfo struct {
	Kind        FaultKind
	Summary     string
	Probability bool // uses Probability
	Latency     bool // uses Latency and Jitter
	Multiplier  bool // uses Multiplier
	Restart     bool // uses RestartAfter
	// Services lists where it applies (nil: every service).
	Services []Service
}

// FaultKinds lists every kind in the order help shows them.
var FaultKinds = []FaultKindInfo{
	{Kind: FaultLatency, Summary: "slow down the service's dependency (database, gateway, carrier) or handler", Latency: true},
	{Kind: FaultError, Summary: "transient errors from the dependency at a rate; retried with back-off", Probability: true},
	{Kind: FaultDependencyDown, Summary: "the dependency refuses every call; the circuit breaker opens"},
	{Kind: FaultReject, Summary: "business rejections (card declined, out of stock, no carrier) at a rate; sagas compensate", Probability: true, Services: []Service{Payment, Inventory, Shipping}},
	{Kind: FaultDuplicate, Summary: "deliver messages twice; idempotent consumers absorb them", Probability: true},
	{Kind: FaultPoison, Summary: "undecodable messages arrive beside real ones; they go to the dead-letter stream", Probability: true},
	{Kind: FaultPause, Summary: "pause the service's consumer on the server; lag grows until resumed"},
	{Kind: FaultCrash, Summary: "crash the service without acking in-flight work; it restarts after a delay", Restart: true},
	{Kind: FaultBurst, Summary: "multiply the order rate", Multiplier: true, Services: []Service{Orders}},
}

// KindInfo returns the documentation of k; ok is false for unknown kinds.
func KindInfo(k FaultKind) (FaultKindInfo, bool) {
	for _, i := range FaultKinds {
		if i.Kind == k {
			return i, true
		}
	}
	return FaultKindInfo{}, false
}

// Fault is one injected fault, stored in ControlBucket under FaultKey and
// applied by every instance of Service.
type Fault struct {
	Service     Service       `json:"service"`
	Kind        FaultKind     `json:"kind"`
	Probability float64       `json:"probability,omitempty"`
	Latency     time.Duration `json:"latency,omitempty"`
	Jitter      time.Duration `json:"jitter,omitempty"`
	Multiplier  float64       `json:"multiplier,omitempty"`
	// RestartAfter is how long a crashed service stays down.
	RestartAfter time.Duration `json:"restart_after,omitempty"`
	// Duration, when set, makes the fault revert by itself at Expires.
	Duration time.Duration `json:"duration,omitempty"`
	Set      time.Time     `json:"set"`
	Expires  time.Time     `json:"expires,omitzero"`
}

// Active reports whether f is in force at now.
func (f Fault) Active(now time.Time) bool { return f.Expires.IsZero() || now.Before(f.Expires) }

// Limits on fault parameters; a request outside them is refused.
const (
	MaxFaultLatency  = time.Minute
	MaxFaultDuration = 24 * time.Hour
	MaxMultiplier    = 100
	MaxRestartAfter  = 10 * time.Minute
)

// Validate checks f and fills defaults (probability 1 where it applies,
// 2s restart, x10 burst). It does not touch Set or Expires.
func (f *Fault) Validate() error {
	if !f.Service.Valid() {
		return &UnknownServiceError{Name: string(f.Service)}
	}
	info, ok := KindInfo(f.Kind)
	if !ok {
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if info.Services != nil && !containsService(info.Services, f.Service) {
		return fmt.Errorf("fault %s does not apply to %s", f.Kind, f.Service)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("probability %v is not in 0..1", f.Probability)
	}
	if info.Probability && f.Probability == 0 {
		f.Probability = 1
	}
	if f.Latency < 0 || f.Latency > MaxFaultLatency || f.Jitter < 0 || f.Jitter > MaxFaultLatency {
		return fmt.Errorf("latency %v and jitter %v must be in 0..%v", f.Latency, f.Jitter, MaxFaultLatency)
	}
	if info.Latency && f.Latency == 0 && f.Jitter == 0 {
		return fmt.Errorf("fault latency needs a latency or jitter above 0")
	}
	if f.Multiplier < 0 || f.Multiplier > MaxMultiplier {
		return fmt.Errorf("multiplier %v is not in 0..%d", f.Multiplier, MaxMultiplier)
	}
	if info.Multiplier && f.Multiplier == 0 {
		f.Multiplier = 10
	}
	if f.RestartAfter < 0 || f.RestartAfter > MaxRestartAfter {
		return fmt.Errorf("restart_after %v is not in 0..%v", f.RestartAfter, MaxRestartAfter)
	}
	if info.Restart && f.RestartAfter == 0 {
		f.RestartAfter = 2 * time.Second
	}
	if f.Duration < 0 || f.Duration > MaxFaultDuration {
		return fmt.Errorf("duration %v is not in 0..%v", f.Duration, MaxFaultDuration)
	}
	return nil
}

func containsService(list []Service, s Service) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
