package feed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watch runs a feed on nc until the test ends and returns a function that
// gives the latest snapshot sent.
func watch(t *testing.T, nc *nats.Conn, opts feed.Options) func() feed.Snapshot {
	t.Helper()
	if opts.RefreshEvery == 0 {
		opts.RefreshEvery = 200 * time.Millisecond
	}
	if opts.FrameEvery == 0 {
		opts.FrameEvery = 20 * time.Millisecond
	}
	f, err := feed.New(nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return latestOf(t, f.Run)
}

// latestOf runs run until the test ends, failing the test if it returns
// an error, and returns a function that gives the latest value it sent.
func latestOf[S any](t *testing.T, run func(context.Context, func(S)) error) func() S {
	t.Helper()
	var mu sync.Mutex
	var last S
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(s S) {
			mu.Lock()
			last = s
			mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	})
	return func() S {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func TestFeedShowsTheRunningSystem(t *testing.T) {
	sys := systemtest.Start(t, 50)
	latest := watch(t, sys.NC, feed.Options{})

	systemtest.WaitFor(t, systemtest.Eventually, "every stream, durable, service and saga source shows", func() error {
		s := latest()
		for _, name := range []string{"SAGA_ORDERS", "SAGA_PAYMENT", "SAGA_INVENTORY", "SAGA_SHIPPING", contract.DeadLetterStream, contract.AdvisoryStream} {
			if findStream(s, name) == nil {
				return fmt.Errorf("stream %s missing from %d streams", name, len(s.Streams))
			}
		}
		for _, svc := range contract.Services {
			c := findConsumer(s, contract.StreamName(svc), contract.CommandConsumer(svc))
			if c == nil {
				return fmt.Errorf("command consumer of %s missing", svc)
			}
			if c.MaxAckPending != 64 || c.Thresholds.UnprocessedWarn != 1000 || c.Thresholds.UnprocessedCritical != 10000 {
				return fmt.Errorf("consumer %s: max ack pending %d, thresholds %+v", c.Name, c.MaxAckPending, c.Thresholds)
			}
		}
		if !s.Reporting {
			return errors.New("no service reports")
		}
		for _, svc := range s.Services {
			if !svc.Reporting() || svc.Pool.Capacity == 0 || svc.Command == nil {
				return fmt.Errorf("service %s: %d instances, pool %+v, command consumer %v", svc.Name, len(svc.Instances), svc.Pool, svc.Command != nil)
			}
			if svc.Rates.Processed == 0 {
				return fmt.Errorf("service %s processes nothing yet", svc.Name)
			}
		}
		if s.Load == nil || s.Load.Rate != 50 {
			return fmt.Errorf("load %+v, want rate 50", s.Load)
		}
		if !s.Sagas.Known || s.Sagas.Completed == 0 || s.Sagas.CompletedRate == 0 {
			return fmt.Errorf("saga totals %+v", s.Sagas)
		}
		if len(s.Recent) == 0 {
			return errors.New("no recent saga")
		}
		if _, ok := s.History.LatencyP99.Last(); !ok {
			return errors.New("no latency sample")
		}
		if !s.Sources.Sagas || s.Sources.Advisories != "stream" || !s.Sources.DeadLetters {
			return fmt.Errorf("sources %+v", s.Sources)
		}
		if len(s.Problems) > 0 {
			return fmt.Errorf("problems: %+v", s.Problems)
		}
		return nil
	})
	s := latest()
	t.Logf("sagas %+v, p50 %v p99 %v, %d recent", s.Sagas, s.Sagas.LatencyP50, s.Sagas.LatencyP99, len(s.Recent))
	if s.Sagas.InFlight > s.Sagas.Placed {
		t.Errorf("in flight %d > placed %d", s.Sagas.InFlight, s.Sagas.Placed)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("a snapshot must encode as JSON: %v", err)
	}
}

func TestFeedShowsFaultsDeadLettersAndAdvisories(t *testing.T) {
	sys := systemtest.Start(t, 50)
	latest := watch(t, sys.NC, feed.Options{})

	ctx := t.Context()
	if _, err := sys.Ctl.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultPoison, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Ctl.SetFault(ctx, contract.Fault{Service: contract.Shipping, Kind: contract.FaultDependencyDown, Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, systemtest.Eventually, "dead letters, terminations, an open breaker and the faults show", func() error {
		s := latest()
		if len(s.DeadLetters) == 0 {
			return errors.New("no dead letter")
		}
		d := s.DeadLetters[0]
		if d.Reason == "" || !strings.HasPrefix(d.Subject, strings.TrimSuffix(contract.DeadLetterSubjects, ">")) || d.Seq == 0 {
			return fmt.Errorf("dead letter %+v", d)
		}
		if !hasAdvisory(s, "terminated") {
			return fmt.Errorf("no terminated advisory among %d", len(s.Advisories))
		}
		if len(s.Faults) != 2 {
			return fmt.Errorf("faults %+v", s.Faults)
		}
		ship := s.Services[3]
		if len(ship.Breakers) == 0 || ship.Breakers[0].State != contract.BreakerOpen {
			return fmt.Errorf("shipping breakers %+v", ship.Breakers)
		}
		if s.Sagas.Cancelled == 0 {
			return fmt.Errorf("no saga cancelled yet: %+v", s.Sagas)
		}
		return nil
	})

	if _, err := sys.Ctl.SetFault(ctx, contract.Fault{Service: contract.Inventory, Kind: contract.FaultPause}); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, systemtest.Eventually, "the paused consumer shows paused with its advisory", func() error {
		s := latest()
		c := findConsumer(s, contract.StreamName(contract.Inventory), contract.CommandConsumer(contract.Inventory))
		if c == nil || !c.Paused {
			return fmt.Errorf("inventory consumer %+v", c)
		}
		if !hasAdvisory(s, "consumer_pause") {
			return errors.New("no consumer_pause advisory")
		}
		return nil
	})
}

// A NATS system without sagascope services: streams, consumers, lag,
// thresholds and live advisories still show, and nothing is reported as a
// problem.
func TestFeedWatchesAForeignSystem(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BILLING", Subjects: []string{"billing.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, "BILLING", jetstream.ConsumerConfig{
		Durable: "invoicer", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 100,
		Metadata: map[string]string{feed.MetaUnprocessedWarn: "3", feed.MetaUnprocessedCritical: "5"},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := js.Publish(ctx, fmt.Sprintf("billing.invoice.%d", i), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	latest := watch(t, nc, feed.Options{})

	systemtest.WaitFor(t, systemtest.Quickly, "the foreign stream and its lagging consumer show", func() error {
		s := latest()
		st := findStream(s, "BILLING")
		if st == nil || st.Messages != 10 || st.LastSeq != 10 {
			return fmt.Errorf("stream %+v", st)
		}
		c := findConsumer(s, "BILLING", "invoicer")
		if c == nil || c.Pending != 10 || c.StreamMessages != 10 || c.Level != feed.LevelCritical {
			return fmt.Errorf("consumer %+v", c)
		}
		if s.Sources.Advisories != "live" {
			return fmt.Errorf("sources %+v", s.Sources)
		}
		return nil
	})
	if _, err := js.CreateConsumer(ctx, "BILLING", jetstream.ConsumerConfig{Durable: "auditor"}); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, systemtest.Quickly, "a live advisory shows", func() error {
		if s := latest(); !hasAdvisory(s, "consumer_action") {
			return fmt.Errorf("advisories %+v", s.Advisories)
		}
		return nil
	})
	s := latest()
	if s.Reporting || s.Sagas.Known || s.Sources.Sagas || s.Sources.DeadLetters {
		t.Errorf("a foreign system must not look like sagascope: reporting %v, totals %+v, sources %+v", s.Reporting, s.Sagas, s.Sources)
	}
	if len(s.Problems) != 0 {
		t.Errorf("missing sagascope sources are not problems: %+v", s.Problems)
	}
}

// The feed keeps sending snapshots while the server is down, saying so,
// and resumes when it is back.
func TestFeedShowsReconnectingAndRecovers(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	latest := watch(t, nc, feed.Options{RequestTimeout: 500 * time.Millisecond})
	systemtest.WaitFor(t, systemtest.Quickly, "connected with the stream", func() error {
		if s := latest(); s.Connection.State != feed.StateConnected || findStream(s, "S") == nil {
			return fmt.Errorf("%+v, %d streams", s.Connection, len(s.Streams))
		}
		return nil
	})
	srv.Shutdown()
	systemtest.WaitFor(t, systemtest.Quickly, "reconnecting shows", func() error {
		if s := latest(); s.Connection.State != feed.StateReconnecting {
			return fmt.Errorf("%+v", s.Connection)
		}
		return nil
	})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	before := latest().Polled
	systemtest.WaitFor(t, systemtest.Quickly, "connected again and polling", func() error {
		s := latest()
		if s.Connection.State != feed.StateConnected || !s.Polled.After(before) || s.Connection.Reconnects == 0 {
			return fmt.Errorf("%+v, polled %v", s.Connection, s.Polled)
		}
		return nil
	})
}

func TestCollect(t *testing.T) {
	sys := systemtest.Start(t, 20)
	ctx, cancel := context.WithTimeout(t.Context(), systemtest.Quickly)
	defer cancel()
	s, err := feed.Collect(ctx, sys.NC, feed.Options{RefreshEvery: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Reporting || len(s.Streams) < 6 || len(s.Consumers) < 7 {
		t.Errorf("collected %d streams, %d consumers, reporting %v", len(s.Streams), len(s.Consumers), s.Reporting)
	}
	for _, svc := range s.Services {
		if !svc.Reporting() {
			t.Errorf("service %s not reporting in a collected snapshot", svc.Name)
		}
	}
}

func findStream(s feed.Snapshot, name string) *feed.Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}

func findConsumer(s feed.Snapshot, stream, name string) *feed.Consumer {
	for i := range s.Consumers {
		if s.Consumers[i].Stream == stream && s.Consumers[i].Name == name {
			return &s.Consumers[i]
		}
	}
	return nil
}

func hasAdvisory(s feed.Snapshot, kind string) bool {
	for _, a := range s.Advisories {
		if a.Kind == kind {
			return true
		}
	}
	return false
}

// The saga bucket is sampled, not followed: on attach the feed reads its
// last RecentSagas writes (no latency from them), then at each refresh the
// newest writes since, and never makes a consumer on the bucket: it reads
// by direct get, as an observer may.
func TestFeedSamplesTheSagaBucket(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.SagaBucket})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(id string, status contract.SagaStatus, took time.Duration) {
		t.Helper()
		b, err := json.Marshal(contract.Saga{V: 1, ID: id, Status: status, Started: t0, Updated: t0.Add(took)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		put(fmt.Sprintf("old-%02d", i), contract.SagaCompleted, time.Hour)
	}
	latest := watch(t, nc, feed.Options{RecentSagas: 10})

	ids := func(s feed.Snapshot) []string {
		var out []string
		for _, sg := range s.Recent {
			out = append(out, sg.ID)
		}
		return out
	}
	systemtest.WaitFor(t, systemtest.Quickly, "the last RecentSagas writes show, newest first", func() error {
		s := latest()
		got := ids(s)
		if !s.Sources.Sagas || len(got) != 10 || got[0] != "old-29" || got[9] != "old-20" {
			return fmt.Errorf("sources %+v, recent %v", s.Sources, got)
		}
		return nil
	})

	for i := range 3 {
		id := fmt.Sprintf("new-%d", i)
		put(id, contract.SagaCharging, 0)
		put(id, contract.SagaCompleted, 40*time.Millisecond)
	}
	var wrong feed.Series
	systemtest.WaitFor(t, systemtest.Quickly, "live completions show with their latency", func() error {
		s := latest()
		got := ids(s)
		if len(got) != 10 || got[0] != "new-2" || s.Recent[0].Status != contract.SagaCompleted {
			return fmt.Errorf("recent %v", got)
		}
		// Every sample is of the live completions: the sagas read back
		// on attach (an hour each) give none.
		n := 0
		for _, p99 := range s.History.LatencyP99 {
			if !math.IsNaN(p99) {
				if p99 != 40 {
					wrong = s.History.LatencyP99 // waiting longer cannot mend it
					return nil
				}
				n++
			}
		}
		if n == 0 {
			return errors.New("no latency sample")
		}
		return nil
	})
	if wrong != nil {
		t.Errorf("p99 history %v, want only 40 ms", wrong)
	}
	info, err := js.Stream(ctx, "KV_"+contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Consumers; n != 0 {
		t.Errorf("the feed made %d consumers on the bucket", n)
	}
}
