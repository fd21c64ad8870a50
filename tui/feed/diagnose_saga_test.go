package feed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// fastStatus makes the services report their status speedup times more
// often, as the feed's clock runs speedup times faster: a rule's window
// then spans as many reports as it does on the wall clock, instead of a
// single report standing for a whole window.
func fastStatus(c *system.Config) { c.StatusEvery = 500 * time.Millisecond / speedup }

// startFastDemo runs the demo at load orders a second with its status
// period matched to the fast clock, tuned by tune, and a feed watching it.
func startFastDemo(t *testing.T, load float64, tune ...func(*system.Config)) (*systemtest.System, func() feed.Snapshot) {
	t.Helper()
	sys := systemtest.Start(t, load, append([]func(*system.Config){fastStatus}, tune...)...)
	latest := watchFast(t, sys.NC)
	systemtest.WaitFor(t, systemtest.Quickly, "sagas complete", func() error {
		if s := latest(); s.Sagas.Completed < 20 {
			return fmt.Errorf("%d completed", s.Sagas.Completed)
		}
		return nil
	})
	return sys, latest
}

// awaitDiagnosis waits until the feed finds rule about about, its
// evidence saying says, and returns it.
func awaitDiagnosis(t *testing.T, latest func() feed.Snapshot, rule, about, screen, says string) feed.Diagnosis {
	t.Helper()
	var found feed.Diagnosis
	systemtest.WaitFor(t, systemtest.Quickly, rule+" on "+about, func() error {
		s := latest()
		d := findDiagnosis(s, rule, about)
		switch {
		case d == nil:
			return fmt.Errorf("not among %+v", s.Diagnoses)
		case d.Screen != screen || !strings.Contains(d.Evidence, says) || d.Finding == "":
			return fmt.Errorf("screen %q, evidence %q, finding %q; want screen %q, evidence saying %q", d.Screen, d.Evidence, d.Finding, screen, says)
		}
		found = *d
		return nil
	})
	t.Logf("%s %s: %s [%s]", found.Severity, found.About, found.Finding, found.Evidence)
	return found
}

// control sends one request to the demo's control API.
func control(t *testing.T, what string, req func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := req(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func setFault(t *testing.T, sys *systemtest.System, f contract.Fault) {
	t.Helper()
	control(t, "set "+string(f.Kind)+" on "+string(f.Service), func(ctx context.Context) error {
		_, err := sys.Ctl.SetFault(ctx, f)
		return err
	})
}

func clearFault(t *testing.T, sys *systemtest.System, svc contract.Service, kind contract.FaultKind) {
	t.Helper()
	control(t, "clear "+string(kind)+" on "+string(svc), func(ctx context.Context) error {
		_, err := sys.Ctl.ClearFault(ctx, svc, kind)
		return err
	})
}

// Each saga rule made to hold on one running demo, one fault after
// another through the control API, as an operator would: the demo is
// shared because starting one is most of the cost.
func TestTheSagaRulesFindWhatIsWrongInARunningDemo(t *testing.T) {
	sys, latest := startFastDemo(t, 20)

	t.Run("a slow dependency fills the pool", func(t *testing.T) {
		// 8 workers at a second a message finish 8 orders a second, fewer
		// than the 20 placed.
		setFault(t, sys, contract.Fault{Service: contract.Inventory, Kind: contract.FaultLatency, Latency: time.Second})
		awaitDiagnosis(t, latest, feed.RulePoolFull, "service inventory", feed.ScreenFaults, "fault latency 1s injected on inventory")
		clearFault(t, sys, contract.Inventory, contract.FaultLatency)
	})

	command := contract.CommandConsumer(contract.Shipping)
	t.Run("a paused consumer's work grows", func(t *testing.T) {
		setFault(t, sys, contract.Fault{Service: contract.Shipping, Kind: contract.FaultPause})
		about := "consumer " + contract.StreamName(contract.Shipping) + " › " + command
		awaitDiagnosis(t, latest, feed.RuleConsumerPaused, about, feed.ScreenConsumers, "paused,")
		if d := findDiagnosis(latest(), feed.RuleNobodyPulling, about); d != nil {
			t.Errorf("a paused consumer is also diagnosed as not pulled: %+v", d)
		}
	})

	t.Run("a dependency down opens its breaker", func(t *testing.T) {
		// After the pause: its breaker refuses new orders until its next
		// probe, and the paused consumer needs them to grow.
		setFault(t, sys, contract.Fault{Service: contract.Payment, Kind: contract.FaultDependencyDown})
		awaitDiagnosis(t, latest, feed.RuleBreakerOpen, "service payment", feed.ScreenFaults, "fault dependency_down injected on payment")
		clearFault(t, sys, contract.Payment, contract.FaultDependencyDown)
	})

	t.Run("malformed messages rise as dead letters", func(t *testing.T) {
		ctx := t.Context()
		js := natstest.JetStream(t, sys.NC)
		for i := range 5 {
			msg := nats.NewMsg(contract.Subject(contract.ChargePayment))
			msg.Data = []byte("\x00\xffnot json")
			msg.Header.Set(contract.MsgIDHeader, fmt.Sprintf("diagnose:bad:%d", i))
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatalf("publish bad input %d: %v", i, err)
			}
		}
		awaitDiagnosis(t, latest, feed.RuleDeadLetters, "dead letters", feed.ScreenEvents, "in "+contract.DeadLetterStream)
		// The count comes from the stream's state, the reasons from the
		// dead letters read: a poll may have the first before the second.
		systemtest.WaitFor(t, systemtest.Quickly, "the dead letters' most common reason", func() error {
			if d := findDiagnosis(latest(), feed.RuleDeadLetters, ""); d == nil || !strings.Contains(d.Finding, "not JSON") {
				return fmt.Errorf("finding %+v; want the most common reason, not JSON", d)
			}
			return nil
		})
	})

	t.Run("a refund that keeps failing parks sagas", func(t *testing.T) {
		// The sagas held at shipping were charged; with every refund
		// failing and every shipment rejected, their compensation gives
		// up (five deliveries, about 8 s) and they are parked.
		setFault(t, sys, contract.Fault{Service: contract.Payment, Kind: contract.FaultError, Probability: 1})
		setFault(t, sys, contract.Fault{Service: contract.Shipping, Kind: contract.FaultReject, Probability: 1})
		clearFault(t, sys, contract.Shipping, contract.FaultPause)
		awaitDiagnosis(t, latest, feed.RuleSagasParked, "sagas", feed.ScreenSagas, "failed: gave up")
	})
}
