package scenario

import (
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
)

func TestLoadsAreScaledToThePoolsOfTheSystemARunFinds(t *testing.T) {
	status := func(svc contract.Service, capacity int, consumers ...string) contract.Status {
		return contract.Status{Service: svc, Pool: contract.PoolStatus{Capacity: capacity}, Consumers: consumers}
	}
	tests := []struct {
		name     string
		statuses []contract.Status
		designed int
		want     float64
	}{
		{"the lab, tuned as the scenario says", []contract.Status{status(contract.Payment, 16, "payment"), status(contract.Orders, 64, "a", "b", "c", "d")}, 16, 1},
		{"the embedded demo's 32 workers for a story of 16", []contract.Status{status(contract.Payment, 32, "payment"), status(contract.Orders, 128, "a", "b", "c", "d")}, 16, 2},
		{"two instances of 16 are a pool of 32", []contract.Status{status(contract.Payment, 16, "payment"), status(contract.Payment, 16, "payment")}, 16, 2},
		{"fewer workers than the story's lower the load", []contract.Status{status(contract.Payment, 8, "payment")}, 32, 0.25},
		{"no status leaves the loads as written", nil, 16, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadScale(tt.statuses, tt.designed); got != tt.want {
				t.Fatalf("loadScale = %v, want %v", got, tt.want)
			}
		})
	}
}
