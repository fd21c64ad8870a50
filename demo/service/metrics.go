package service

import (
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/metrics"
)

// breakerStates are every state a breaker reports, so each has a series.
var breakerStates = []string{string(contract.BreakerClosed), string(contract.BreakerOpen), string(contract.BreakerHalfOpen)}

// metricsSource is what the instance shows on every scrape: its status and
// the faults that fired, in telemetry's terms (telemetry does not know the
// demo's types).
func (in *Instance) metricsSource() metrics.Source {
	return metrics.Source{
		Status:        func() metrics.Status { return metricsStatus(in.Status()) },
		BreakerStates: breakerStates,
		Injected: func() map[string]uint64 {
			fired := in.faults.Injected()
			out := make(map[string]uint64, len(fired))
			for kind, n := range fired {
				out[string(kind)] = n
			}
			return out
		},
	}
}

// metricsStatus is the part of st that metrics show.
func metricsStatus(st contract.Status) metrics.Status {
	out := metrics.Status{
		Capacity: st.Pool.Capacity, Busy: st.Pool.Busy, Queued: st.Pool.Queued,
		Processed: st.Counters.Processed, Failed: st.Counters.Failed, Retried: st.Counters.Retried,
		DeadLettered: st.Counters.DeadLettered, Duplicates: st.Counters.Duplicates,
		Breakers: make([]metrics.Breaker, len(st.Breakers)),
	}
	for i, b := range st.Breakers {
		out.Breakers[i] = metrics.Breaker{Name: b.Name, State: string(b.State), Rejected: b.Rejected}
	}
	return out
}
