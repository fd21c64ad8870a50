package system_test

import (
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/system"
)

// A service instance stopped gracefully mid-load (a deploy, a scale-down)
// finishes and acks what it holds; its work waits on the server until a new
// instance starts, and no saga is lost.
func TestAServiceStoppedAndStartedAgainMidLoadLosesNoSaga(t *testing.T) {
	r := demo(t, 50, func(c *system.Config) { c.Services = without(contract.Payment) })
	stop := r.startService(t, contract.Payment)
	r.waitCompleted(t, 20, "sagas complete with the first payment instance")

	if err := stop(); err != nil {
		t.Fatalf("stop the payment instance: %v", err)
	}
	r.waitHeldOnServer(t, contract.Payment, 20)

	r.startService(t, contract.Payment)
	r.waitCompleted(t, 20, "sagas complete with the new payment instance")
	r.settle(t)
	r.mustCheck(t)
}

// Restarting the NATS server mid-load drops every connection; the clients
// reconnect by themselves, the streams and buckets are on disk, and every
// saga finishes consistently.
func TestTheServerRestartedMidLoadLosesNoSaga(t *testing.T) {
	r := demo(t, 50, nil)
	r.waitCompleted(t, 20, "sagas complete before the restart")

	if err := r.srv.Restart(); err != nil {
		t.Fatalf("restart the server: %v", err)
	}
	mark := r.feed.mark()
	// Statuses published after the restart show each instance reconnected.
	r.waitRunning(t, mark, contract.Services...)
	r.waitCompleted(t, 20, "sagas complete after the restart")
	r.settle(t)
	r.mustCheck(t)
}
