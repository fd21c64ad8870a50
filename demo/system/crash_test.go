package system_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/system"
)

// `sagascope fault set payment crash` must be answered even when the
// instance that serves the request is the one the fault crashes. Here
// payment is the only service running, so it always serves the request:
// the instance writes the fault, its own fault watch sees it and closes the
// connection at once, and the answer is lost with it.
func TestSettingACrashFaultIsAnsweredByTheInstanceItCrashes(t *testing.T) {
	r := demo(t, 0, func(c *system.Config) { c.Services = []contract.Service{contract.Payment} })
	ctx, cancel := context.WithTimeout(t.Context(), control.DefaultTimeout)
	defer cancel()
	faults, err := r.ctl.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultCrash, RestartAfter: time.Second})
	if err != nil {
		t.Fatalf("set a crash fault on the only instance: %v", err)
	}
	if len(faults) != 1 || faults[0].Kind != contract.FaultCrash {
		t.Fatalf("faults in force %+v; want the crash", faults)
	}
}
