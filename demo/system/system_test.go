package system_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo runs the whole system against a fresh embedded server until the test
// ends, placing load orders per second, and returns it with a test
// connection, a control client and the status feed. tune, if set, changes
// the configuration before anything starts.
func demo(t *testing.T, load float64, tune func(*system.Config)) *rig {
	t.Helper()
	srv := natstest.Server(t)
	cfg := systemtest.Config(srv.ClientURL(), load)
	if tune != nil {
		tune(&cfg)
	}
	// The test's connection and status feed start first, so they are
	// cleaned up last, after the system has stopped.
	nc := natstest.Connect(t, srv.ClientURL())
	r := &rig{srv: srv, cfg: cfg, nc: nc, js: natstest.JetStream(t, nc), ctl: control.NewClient(nc), feed: followStatus(t, nc)}
	systemtest.Run(t, context.Background(), cfg)
	svcs := cfg.Services
	if len(svcs) == 0 {
		svcs = contract.Services
	}
	r.waitRunning(t, 0, svcs...)
	return r
}

func TestSagasCompleteUnderLoad(t *testing.T) {
	r := demo(t, 100, nil)
	r.waitCompleted(t, 100, "100 sagas complete under load")
	all := r.settle(t)
	c := countByStatus(all)
	t.Logf("sagas: %v", c)
	if c[contract.SagaCancelled] != 0 || c[contract.SagaCompensationFailed] != 0 {
		t.Fatalf("without faults no saga should be cancelled: %v", c)
	}
	rep := r.mustCheck(t)
	if len(rep.Warnings) != 0 {
		t.Fatalf("without faults check should warn of nothing: %v", rep.Warnings)
	}
}
