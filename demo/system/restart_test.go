package system_test

import (
	"fmt"
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
	stream, durable := contract.StreamName(contract.Payment), contract.CommandConsumer(contract.Payment)
	// Run returned after the connection drained, so the server has every
	// ack the instance sent: a graceful stop leaves nothing in the air.
	if n := r.consumerInfo(t, stream, durable).NumAckPending; n != 0 {
		t.Fatalf("%d payment commands delivered and not acked after a graceful stop; want 0", n)
	}
	waitFor(t, quickly, "payment commands wait on the server while no instance runs", func() error {
		if n := r.consumerInfo(t, stream, durable).NumPending; n < 20 {
			return fmt.Errorf("%d pending", n)
		}
		return nil
	})

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
