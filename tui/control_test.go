package tui

import (
	"context"
	"sync"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
)

// fakeControl records what the dashboard asks of the control API.
type fakeControl struct {
	mu     sync.Mutex
	set    []contract.Fault
	loads  []contract.LoadRequest
	rate   float64
	faults []contract.Fault
	err    error
}

func (f *fakeControl) SetFault(_ context.Context, x contract.Fault) ([]contract.Fault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = append(f.set, x)
	f.faults = append(f.faults, x)
	return f.faults, f.err
}

func (f *fakeControl) ClearFault(_ context.Context, svc contract.Service, kind contract.FaultKind) ([]contract.Fault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keep []contract.Fault
	for _, x := range f.faults {
		if x.Service != svc || x.Kind != kind {
			keep = append(keep, x)
		}
	}
	f.faults = keep
	return keep, f.err
}

func (f *fakeControl) Faults(context.Context) ([]contract.Fault, error) { return f.faults, f.err }
func (f *fakeControl) Reset(context.Context) error                      { f.faults = nil; return f.err }

func (f *fakeControl) SetLoad(_ context.Context, r contract.LoadRequest) (contract.LoadSetting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads = append(f.loads, r)
	if r.Rate != nil {
		f.rate = *r.Rate
	}
	return contract.LoadSetting{Rate: f.rate, Burst: r.Burst}, f.err
}

func (f *fakeControl) Load(context.Context) (contract.LoadSetting, error) {
	return contract.LoadSetting{Rate: f.rate}, f.err
}

func TestNextRate(t *testing.T) {
	tests := []struct {
		name string
		cur  float64
		up   bool
		want float64
	}{
		{"up from zero starts the load", 0, true, 1},
		{"up from a step goes to the next step", 20, true, 50},
		{"up from between steps goes to the step above", 30, true, 50},
		{"down from a step goes to the one below", 20, false, 10},
		{"down from between steps goes to the step below", 30, false, 20},
		{"down from one stops the load", 1, false, 0},
		{"down from zero stays at zero", 0, false, 0},
		{"up from the maximum stays there", contract.MaxRate, true, contract.MaxRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextRate(tt.cur, tt.up); got != tt.want {
				t.Errorf("nextRate(%v, %v) = %v, want %v", tt.cur, tt.up, got, tt.want)
			}
		})
	}
}
