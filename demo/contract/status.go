package contract

import "time"

// Status is what one service instance reports about itself on
// StatusSubject about twice a second.
type Status struct {
	V        int       `json:"v"`
	Service  Service   `json:"service"`
	Instance string    `json:"instance"`
	Version  string    `json:"version"`
	Time     time.Time `json:"time"`
	// State is "running", "crashed" (a crash fault is holding it down),
	// or "draining" during shutdown.
	State     string          `json:"state"`
	Pool      PoolStatus      `json:"pool"`
	Breakers  []BreakerStatus `json:"breakers,omitempty"`
	Counters  Counters        `json:"counters"`
	Faults    []Fault         `json:"faults,omitempty"`
	Consumers []string        `json:"consumers,omitempty"`
	// Load is set by instances running the load generator.
	Load *LoadStatus `json:"load,omitempty"`
}

// Instance states.
const (
	StateRunning  = "running"
	StateCrashed  = "crashed"
	StateDraining = "draining"
)

// PoolStatus is the bounded worker pool of one instance.
type PoolStatus struct {
	Capacity int `json:"capacity"`
	Busy     int `json:"busy"`
	// Queued are messages pulled from the server and waiting for a worker.
	Queued int `json:"queued"`
}

// BreakerState is a circuit breaker state.
type BreakerState string

// Breaker states.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerOpen     BreakerState = "open"
	BreakerHalfOpen BreakerState = "half-open"
)

// BreakerStatus reports one circuit breaker.
type BreakerStatus struct {
	Name  string       `json:"name"`
	State BreakerState `json:"state"`
	// Remaining is the time until an open breaker lets a probe through.
	Remaining time.Duration `json:"remaining,omitempty"`
	Successes uint          `json:"successes"`
	Failures  uint          `json:"failures"`
	// Rejected counts calls refused while the breaker was open.
	Rejected uint64 `json:"rejected"`
}

// Counters are monotonic totals since the instance started.
type Counters struct {
	Processed    uint64 `json:"processed"`
	Failed       uint64 `json:"failed"`
	Retried      uint64 `json:"retried"`
	DeadLettered uint64 `json:"dead_lettered"`
	Duplicates   uint64 `json:"duplicates"` // redeliveries recognised and not applied again
}

// LoadStatus is the load generator's state.
type LoadStatus struct {
	Rate      float64 `json:"rate"`
	Effective float64 `json:"effective_rate"` // rate times any burst multiplier
	Placed    uint64  `json:"placed"`
}
