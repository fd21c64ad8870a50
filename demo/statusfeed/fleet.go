package statusfeed

import (
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// Fleet is every service, aggregated over its live instances, as of one
// moment.
type Fleet struct {
	// Services are in contract.Services order, each present even with no
	// live instance.
	Services []Service
	// Load is the load generator's state, from the instance that runs it;
	// nil when none reports.
	Load *contract.LoadStatus
	// Faults in force, each once, ordered by service and kind.
	Faults []contract.Fault
	// Reporting is true when any instance reports.
	Reporting bool
}

// Service is one sagascope service, aggregated over its live instances.
type Service struct {
	Name contract.Service `json:"name"`
	// Instances that reported within the timeout.
	Instances []Instance          `json:"instances,omitempty"`
	Pool      contract.PoolStatus `json:"pool"`
	// Breakers by name; with several instances, the worst state wins.
	Breakers []Breaker         `json:"breakers,omitempty"`
	Faults   []contract.Fault  `json:"faults,omitempty"`
	Counters contract.Counters `json:"counters"`
	// Rates are per second, summed over instances.
	Rates Rates `json:"rates"`
}

// Instance is one live instance of a service.
type Instance struct {
	ID      string              `json:"id"`
	Version string              `json:"version,omitempty"`
	State   string              `json:"state"`
	Seen    time.Time           `json:"seen"`
	Pool    contract.PoolStatus `json:"pool"`
}

// Breaker is one circuit breaker of a service.
type Breaker struct {
	Name  string                `json:"name"`
	State contract.BreakerState `json:"state"`
	// Remaining is how long an open breaker stays open, as of the moment
	// the Fleet was taken.
	Remaining time.Duration `json:"remaining,omitempty"`
	Successes uint          `json:"successes"`
	Failures  uint          `json:"failures"`
	Rejected  uint64        `json:"rejected"`
}

// Rates are per-second rates of a service's status counters.
type Rates struct {
	Processed    float64 `json:"processed"`
	Failed       float64 `json:"failed"`
	Retried      float64 `json:"retried"`
	DeadLettered float64 `json:"dead_lettered"`
}
