package feed_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded/sessiontest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// TestTheFeedSeesEverythingAsAnObserver runs the dashboard's feeds on the
// observer's login of a shared session: every source they follow must be
// readable without a permission the observer lacks.
func TestTheFeedSeesEverythingAsAnObserver(t *testing.T) {
	s := sessiontest.Start(t)
	// Something for each followed source beyond the session's saga and
	// dead letter, and the advisories of its set-up: a status report and
	// a span.
	publishStatus(t, s.Services.NC)
	payment := newSpanSource(t, s.Services.JS, contract.Payment, sessiontest.Instance)
	_, span := payment.tracer.Start(t.Context(), "charge")
	span.End()
	payment.flush()

	obs := s.Dial(t, s.Roles.Observer)
	latestTel := watchTelemetry(t, obs.NC, feed.TelemetryOptions{})
	latest := watch(t, obs.NC, feed.Options{})
	systemtest.WaitFor(t, systemtest.Eventually, "the observer's dashboard sees the system", func() error {
		sn, tsn := latest(), latestTel()
		if !sn.Reporting || len(sn.Recent) == 0 || len(sn.DeadLetters) == 0 || len(sn.Advisories) == 0 ||
			sn.Sources.Advisories != "stream" || len(sn.Streams) == 0 || len(sn.Consumers) == 0 || sn.Polled.IsZero() ||
			tsn.Spans == 0 {
			return fmt.Errorf("reporting %v, %d sagas, %d dead letters, %d advisories from %q, %d streams, %d consumers, polled at %v, %d spans, problems %v %v",
				sn.Reporting, len(sn.Recent), len(sn.DeadLetters), len(sn.Advisories), sn.Sources.Advisories, len(sn.Streams), len(sn.Consumers), sn.Polled, tsn.Spans, sn.Problems, tsn.Problems)
		}
		return nil
	})
	sn, tsn := latest(), latestTel()
	if len(sn.Problems) > 0 || len(tsn.Problems) > 0 || sn.Connection.LastError != "" {
		t.Fatalf("the observer's dashboard had problems %v %v, last error %q", sn.Problems, tsn.Problems, sn.Connection.LastError)
	}
	if v := obs.Violations(); len(v) > 0 {
		t.Fatalf("the server refused the observer's dashboard a read: %q", v)
	}
}

// publishStatus publishes a payment status every 100 ms until the test
// ends, as a running instance does.
func publishStatus(t *testing.T, nc *nats.Conn) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			st, _ := json.Marshal(contract.Status{V: contract.Version, Service: contract.Payment, Instance: sessiontest.Instance, Time: time.Now(), State: contract.StateRunning})
			_ = nc.Publish(contract.StatusSubject(contract.Payment, sessiontest.Instance), st)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(func() { close(done); wg.Wait() })
}
