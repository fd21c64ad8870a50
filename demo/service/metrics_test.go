package service

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/metrics"
)

func TestTheMetricsShowEveryNumberOfTheStatus(t *testing.T) {
	st := contract.Status{
		Pool:     contract.PoolStatus{Capacity: 64, Busy: 7, Queued: 3},
		Counters: contract.Counters{Processed: 100, Failed: 2, Retried: 5, DeadLettered: 1, Duplicates: 4},
		Breakers: []contract.BreakerStatus{{Name: "gateway", State: contract.BreakerHalfOpen, Rejected: 9}},
	}
	want := metrics.Status{
		Capacity: 64, Busy: 7, Queued: 3,
		Processed: 100, Failed: 2, Retried: 5, DeadLettered: 1, Duplicates: 4,
		Breakers: []metrics.Breaker{{Name: "gateway", State: "half-open", Rejected: 9}},
	}
	if got := metricsStatus(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("metrics status %+v, want %+v", got, want)
	}
	if !slices.Contains(breakerStates, string(st.Breakers[0].State)) {
		t.Fatalf("breaker states %v leave out %q", breakerStates, st.Breakers[0].State)
	}
}
