package feed_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// speedup is how much faster than the wall clock the feed's clock runs in
// the diagnosis tests: a rule's ten-second window passes in one second,
// while the server, the services and the samples are real.
const speedup = 10

// fastClock is a clock that runs speedup times the wall clock's pace.
func fastClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(time.Since(start) * speedup) }
}

// watchFast runs a feed on nc whose clock runs speedup times faster, its
// status timeout stretched to match.
func watchFast(t *testing.T, nc *nats.Conn) func() feed.Snapshot {
	t.Helper()
	return watch(t, nc, feed.Options{Now: fastClock(), RefreshEvery: 100 * time.Millisecond, StatusTimeout: 3 * speedup * time.Second})
}

// findDiagnosis returns the diagnosis of rule about about, or nil.
func findDiagnosis(s feed.Snapshot, rule, about string) *feed.Diagnosis {
	for i := range s.Diagnoses {
		if d := &s.Diagnoses[i]; d.Rule == rule && (about == "" || d.About == about) {
			return d
		}
	}
	return nil
}

// publishEvery publishes to subject every interval until the test ends,
// ignoring refusals (a full stream refuses).
func publishEvery(t *testing.T, js jetstream.JetStream, subject string, every time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, _ = js.Publish(pctx, subject, []byte("x"))
			pcancel()
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Each JetStream rule made to hold on one real server, all at once: a
// consumer whose acks never come (saturated), one nobody reads (nobody
// pulling), one whose acks come too late (redeliveries), a full stream
// that discards new messages, one that drops what its consumer has not
// read, and a client asking for streams that do not exist (API errors).
func TestTheJetStreamRulesFindWhatIsWrongOnARealServer(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	stream := func(name string, cfg jetstream.StreamConfig) {
		t.Helper()
		cfg.Name, cfg.Subjects = name, []string{strings.ToLower(name) + ".>"}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	consumer := func(streamName string, cfg jetstream.ConsumerConfig) jetstream.Consumer {
		t.Helper()
		cfg.AckPolicy = jetstream.AckExplicitPolicy
		c, err := js.CreateOrUpdateConsumer(ctx, streamName, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Saturated: five messages out, never acked, while more arrive.
	stream("SLOW", jetstream.StreamConfig{})
	slow := consumer("SLOW", jetstream.ConsumerConfig{Durable: "worker", MaxAckPending: 5, AckWait: time.Hour})
	publishEvery(t, js, "slow.x", 20*time.Millisecond)
	if _, err := slow.Fetch(5, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	}

	// Nobody pulling: a durable no client reads, while messages arrive.
	stream("ORPHAN", jetstream.StreamConfig{})
	consumer("ORPHAN", jetstream.ConsumerConfig{Durable: "reader"})
	publishEvery(t, js, "orphan.x", 20*time.Millisecond)

	// Redelivery storm: every message fetched and never acked, ack wait
	// 100 ms, fetched again and again.
	stream("FLAKY", jetstream.StreamConfig{})
	flaky := consumer("FLAKY", jetstream.ConsumerConfig{Durable: "handler", AckWait: 100 * time.Millisecond})
	for range 20 {
		if _, err := js.Publish(ctx, "flaky.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	fetchCtx, stopFetching := context.WithCancel(context.Background())
	var fetching sync.WaitGroup
	fetching.Add(1)
	go func() {
		defer fetching.Done()
		for fetchCtx.Err() == nil {
			batch, err := flaky.Fetch(20, jetstream.FetchMaxWait(200*time.Millisecond))
			if err == nil {
				for range batch.Messages() {
				}
			}
		}
	}()
	t.Cleanup(func() { stopFetching(); fetching.Wait() })

	// Full, discarding new: ten messages of ten.
	stream("CAPPED", jetstream.StreamConfig{MaxMsgs: 10, Discard: jetstream.DiscardNew})
	for range 10 {
		if _, err := js.Publish(ctx, "capped.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}

	// Dropping unread: fifty kept, the oldest dropped, a consumer behind.
	stream("ROLLING", jetstream.StreamConfig{MaxMsgs: 50, Discard: jetstream.DiscardOld})
	consumer("ROLLING", jetstream.ConsumerConfig{Durable: "archiver"})
	publishEvery(t, js, "rolling.x", 10*time.Millisecond)

	// API errors: info on a stream that does not exist, ten times a second.
	errCtx, stopErrors := context.WithCancel(context.Background())
	var erring sync.WaitGroup
	erring.Add(1)
	go func() {
		defer erring.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-errCtx.Done():
				return
			case <-tick.C:
			}
			_, _ = js.Stream(errCtx, "NO_SUCH_STREAM")
		}
	}()
	t.Cleanup(func() { stopErrors(); erring.Wait() })

	latest := watchFast(t, nc)
	want := []struct{ rule, about, screen, says string }{
		{feed.RuleConsumerSaturated, "consumer SLOW › worker", feed.ScreenConsumers, "ack pending 5/5"},
		{feed.RuleNobodyPulling, "consumer ORPHAN › reader", feed.ScreenConsumers, "waiting pulls 0; never delivered"},
		{feed.RuleRedeliveryStorm, "consumer FLAKY › handler", feed.ScreenConsumers, "delivered more than once"},
		{feed.RuleStreamFull, "stream CAPPED", feed.ScreenStreams, "10 of 10 messages (max_msgs)"},
		{feed.RuleStreamDropping, "stream ROLLING", feed.ScreenStreams, "unprocessed by archiver"},
		{feed.RuleAPIErrors, "JetStream API", feed.ScreenOverview, "API requests failed"},
	}
	systemtest.WaitFor(t, systemtest.Quickly, "every rule finds its condition", func() error {
		s := latest()
		var missing []string
		for _, w := range want {
			d := findDiagnosis(s, w.rule, w.about)
			switch {
			case d == nil:
				missing = append(missing, w.rule)
			case d.Screen != w.screen || !strings.Contains(d.Evidence, w.says) || d.Finding == "":
				return fmt.Errorf("%s: screen %q, evidence %q, finding %q; want screen %q, evidence saying %q", w.rule, d.Screen, d.Evidence, d.Finding, w.screen, w.says)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no diagnosis %v among %d: %+v", missing, len(s.Diagnoses), s.Diagnoses)
		}
		return nil
	})
	for _, d := range latest().Diagnoses {
		t.Logf("%s %s: %s [%s]", d.Severity, d.About, d.Finding, d.Evidence)
	}
	// The saturated consumer is not also "nobody pulling": it delivered.
	if d := findDiagnosis(latest(), feed.RuleNobodyPulling, "consumer SLOW › worker"); d != nil {
		t.Errorf("a consumer that delivered is diagnosed as not pulled: %+v", d)
	}
}

// A running demo at its default load (20 orders a second) is healthy:
// a minute by the feed's clock brings no diagnosis.
//
// Two things made a loaded machine find "pool full" here. Status came
// every 500 ms, which by the fast clock is the pool rule's whole window,
// so one report stood for it; the services now report as much faster as
// the clock runs (startFastDemo). And the pool really was full: with the
// tests' 8 workers, at 20 orders a second the pool fills once a message
// holds a worker 400 ms, and on a machine at load average 11 on 2 cores
// payment measured 8 busy ÷ 17.2/s = 500 ms a message under -race. The
// rule was right; the healthy demo runs the services' default 32
// workers, which fill only past 1.6 s a message.
func TestAHealthyDemoHasNoDiagnosis(t *testing.T) {
	_, latest := startFastDemo(t, 20, func(c *system.Config) { c.Workers = 32 })
	start := latest().Time
	for latest().Time.Sub(start) < time.Minute {
		if s := latest(); len(s.Diagnoses) > 0 {
			t.Fatalf("a healthy demo is diagnosed: %+v", s.Diagnoses)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := latest(); s.Diagnoses == nil || len(s.Diagnoses) > 0 {
		t.Fatalf("diagnoses %#v; want an empty list", s.Diagnoses)
	}
}

// A snapshot of two polls is too short for a rule's window; one that
// watches for longer than the window finds what held all along (as
// `sagascope status --for 15s` does).
func TestCollectForWatchesLongEnoughForTheWindowedRules(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORPHAN", Subjects: []string{"orphan.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "ORPHAN", jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	publishEvery(t, js, "orphan.x", 20*time.Millisecond)
	opts := func() feed.Options {
		return feed.Options{Now: fastClock(), RefreshEvery: 100 * time.Millisecond, StatusTimeout: 3 * speedup * time.Second}
	}
	collect := func(watch time.Duration) feed.Snapshot {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := feed.CollectFor(cctx, nc, opts(), watch)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const about = "consumer ORPHAN › reader"
	if d := findDiagnosis(collect(0), feed.RuleNobodyPulling, about); d != nil {
		t.Errorf("two polls are shorter than the rule's window, yet it found %q", d.Finding)
	}
	s := collect(15 * time.Second)
	if d := findDiagnosis(s, feed.RuleNobodyPulling, about); d == nil {
		t.Errorf("watched for 15s by the feed's clock, the consumer nobody reads is not diagnosed: %+v", s.Diagnoses)
	}
}
