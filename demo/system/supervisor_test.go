package system_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/system"
)

// The supervisor stops one service and starts it again while the others
// keep running, as a deploy of one service would: its work waits on the
// server meanwhile, and no saga is lost.
func TestASupervisorStopsAndStartsOneServiceWhileTheOthersRun(t *testing.T) {
	// The rig runs orders and the load; the supervisor runs the rest.
	r := demo(t, 40, func(c *system.Config) { c.Services = []contract.Service{contract.Orders} })
	cfg := r.cfg
	cfg.Services = []contract.Service{contract.Payment, contract.Inventory, contract.Shipping}
	sup := system.NewSupervisor(cfg)
	early, cancelEarly := context.WithCancel(t.Context())
	cancelEarly()
	if err := sup.Start(early, contract.Payment); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start before Run waits for Run until its context ends: %v, want context.Canceled", err)
	}
	mark := r.feed.mark()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("supervisor: %v", err)
		}
	})
	r.waitRunning(t, mark, cfg.Services...)
	r.waitCompleted(t, 20, "sagas complete under the supervisor")

	if err := sup.Stop(t.Context(), contract.Payment); err != nil {
		t.Fatalf("stop payment: %v", err)
	}
	r.waitHeldOnServer(t, contract.Payment, 10)

	tests := []struct {
		name string
		call func() error
	}{
		{"stopping a stopped service says so", func() error { return sup.Stop(t.Context(), contract.Payment) }},
		{"starting a running service says so", func() error { return sup.Start(t.Context(), contract.Shipping) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("no error")
			}
		})
	}

	mark = r.feed.mark()
	if err := sup.Start(t.Context(), contract.Payment); err != nil {
		t.Fatalf("start payment: %v", err)
	}
	r.waitRunning(t, mark, contract.Payment)
	r.waitCompleted(t, 20, "sagas complete again once payment is back")
	r.settle(t)
	r.mustCheck(t)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	done <- nil // for Cleanup
	if err := sup.Start(t.Context(), contract.Payment); !errors.Is(err, system.ErrNotSupervising) {
		t.Errorf("Start after Run returned: %v, want ErrNotSupervising", err)
	}
	if err := sup.Run(t.Context()); err == nil {
		t.Error("a second Run should be refused")
	}
}
