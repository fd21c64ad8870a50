package topology_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deployed is what the server holds after Ensure, read back through the
// JetStream API rather than from the configs Ensure sent: the server may
// refuse, default or rewrite a setting, and the README promises what is
// running.
type deployed struct {
	streams   map[string]jetstream.StreamConfig
	consumers map[string]deployedConsumer // by durable name
	buckets   map[string]jetstream.KeyValueStatus
}

type deployedConsumer struct {
	stream string
	config jetstream.ConsumerConfig
}

// readDeployed lists every stream, consumer and bucket on the server.
func readDeployed(ctx context.Context, t *testing.T, js jetstream.JetStream) deployed {
	t.Helper()
	d := deployed{
		streams:   map[string]jetstream.StreamConfig{},
		consumers: map[string]deployedConsumer{},
		buckets:   map[string]jetstream.KeyValueStatus{},
	}
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		d.streams[info.Config.Name] = info.Config
		st, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatalf("open stream %s: %v", info.Config.Name, err)
		}
		consumers := st.ListConsumers(ctx)
		for ci := range consumers.Info() {
			d.consumers[ci.Name] = deployedConsumer{stream: ci.Stream, config: ci.Config}
		}
		if err := consumers.Err(); err != nil {
			t.Fatalf("list consumers of %s: %v", info.Config.Name, err)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	buckets := js.KeyValueStores(ctx)
	for st := range buckets.Status() {
		d.buckets[st.Bucket()] = st
	}
	if err := buckets.Error(); err != nil {
		t.Fatalf("list KV buckets: %v", err)
	}
	return d
}

// The want values below are copied from README.md's "Contract (v1)"
// section, not taken from topology's constants: the test holds the code to
// the documented contract, so changing either alone fails it. Settings the
// README does not state (dead-letter limits, advisory size, bucket
// history) are not checked.
func TestEnsureDeploysTheDocumentedContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := natstest.Server(t)
	js := natstest.JetStream(t, natstest.Connect(t, s.ClientURL()))
	// The zero Options are the single-server demo the README describes;
	// only the seed is shrunk, as the README states no seed and a full one
	// is two thousand KV writes.
	opts := topology.Options{Seed: contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}}
	if err := topology.Ensure(ctx, js, opts); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	d := readDeployed(ctx, t, js)

	type setting struct {
		name string
		got  func(deployed) any
		want any
	}
	stream := func(name string) func(func(jetstream.StreamConfig) any) func(deployed) any {
		return func(field func(jetstream.StreamConfig) any) func(deployed) any {
			return func(d deployed) any { return field(d.streams[name]) }
		}
	}
	var tests []setting

	// Streams and subjects.
	var streamNames []string
	for name := range d.streams {
		// Buckets are streams too; they are checked as buckets below.
		if !strings.HasPrefix(name, "KV_") {
			streamNames = append(streamNames, name)
		}
	}
	slices.Sort(streamNames)
	tests = append(tests, setting{"the server holds exactly the eight streams the README lists",
		func(deployed) any { return streamNames },
		[]string{"SAGA_ADVISORIES", "SAGA_DEADLETTER", "SAGA_INVENTORY", "SAGA_ORDERS", "SAGA_PAYMENT", "SAGA_SHIPPING", "SAGA_TELEMETRY", "SCENARIO_RUNS"}})
	for _, svc := range []string{"orders", "payment", "inventory", "shipping"} {
		name := "SAGA_" + strings.ToUpper(svc)
		of := stream(name)
		tests = append(tests,
			setting{name + " holds saga.v1." + svc + ".>", of(func(c jetstream.StreamConfig) any { return c.Subjects }), []string{"saga.v1." + svc + ".>"}},
			setting{name + " is file-backed", of(func(c jetstream.StreamConfig) any { return c.Storage }), jetstream.FileStorage},
			setting{name + " is limits-based", of(func(c jetstream.StreamConfig) any { return c.Retention }), jetstream.LimitsPolicy},
			setting{name + " keeps 24 h", of(func(c jetstream.StreamConfig) any { return c.MaxAge }), 24 * time.Hour},
			setting{name + " keeps 1 GiB", of(func(c jetstream.StreamConfig) any { return c.MaxBytes }), int64(1 << 30)},
			setting{name + " has a one-minute duplicate window", of(func(c jetstream.StreamConfig) any { return c.Duplicates }), time.Minute},
		)
	}
	dead, adv, tel := stream("SAGA_DEADLETTER"), stream("SAGA_ADVISORIES"), stream("SAGA_TELEMETRY")
	allowDirect := func(c jetstream.StreamConfig) any { return c.AllowDirect }
	tests = append(tests,
		setting{"SAGA_DEADLETTER holds saga.v1.deadletter.<service>", dead(func(c jetstream.StreamConfig) any { return c.Subjects }), []string{"saga.v1.deadletter.>"}},
		setting{"SAGA_DEADLETTER allows direct gets", dead(allowDirect), true},
		setting{"SAGA_ADVISORIES holds every advisory but the API audit",
			adv(func(c jetstream.StreamConfig) any { return c.Subjects }),
			[]string{"$JS.EVENT.ADVISORY.CONSUMER.>", "$JS.EVENT.ADVISORY.STREAM.>", "$JS.EVENT.ADVISORY.SERVER.>", "$JS.EVENT.ADVISORY.DOMAIN.>"}},
		setting{"SAGA_ADVISORIES keeps 15 min", adv(func(c jetstream.StreamConfig) any { return c.MaxAge }), 15 * time.Minute},
		setting{"SAGA_ADVISORIES allows direct gets", adv(allowDirect), true},
		setting{"SAGA_TELEMETRY holds saga.v1.telemetry.spans.<service>", tel(func(c jetstream.StreamConfig) any { return c.Subjects }), []string{"saga.v1.telemetry.spans.>"}},
		setting{"SAGA_TELEMETRY keeps 10 min", tel(func(c jetstream.StreamConfig) any { return c.MaxAge }), 10 * time.Minute},
		setting{"SAGA_TELEMETRY keeps 64 MiB", tel(func(c jetstream.StreamConfig) any { return c.MaxBytes }), int64(64 << 20)},
		setting{"SAGA_TELEMETRY allows direct gets", tel(allowDirect), true},
		setting{"SCENARIO_RUNS holds saga.v1.scenario.runs.>", stream("SCENARIO_RUNS")(func(c jetstream.StreamConfig) any { return c.Subjects }), []string{"saga.v1.scenario.runs.>"}},
		setting{"SCENARIO_RUNS keeps 12 h", stream("SCENARIO_RUNS")(func(c jetstream.StreamConfig) any { return c.MaxAge }), 12 * time.Hour},
		setting{"SCENARIO_RUNS keeps 50,000 events", stream("SCENARIO_RUNS")(func(c jetstream.StreamConfig) any { return c.MaxMsgs }), int64(50_000)},
		setting{"SCENARIO_RUNS allows direct gets", stream("SCENARIO_RUNS")(allowDirect), true},
	)

	// Durable consumers.
	var durables []string
	for name := range d.consumers {
		durables = append(durables, name)
	}
	slices.Sort(durables)
	tests = append(tests, setting{"the server holds exactly the seven durables the README lists",
		func(deployed) any { return durables },
		[]string{"inventory", "orders", "orders-inventory-events", "orders-payment-events", "orders-shipping-events", "payment", "shipping"}})
	for _, c := range []struct{ durable, stream, filter string }{
		{"orders", "SAGA_ORDERS", "saga.v1.orders.cmd.>"},
		{"payment", "SAGA_PAYMENT", "saga.v1.payment.cmd.>"},
		{"inventory", "SAGA_INVENTORY", "saga.v1.inventory.cmd.>"},
		{"shipping", "SAGA_SHIPPING", "saga.v1.shipping.cmd.>"},
		{"orders-payment-events", "SAGA_PAYMENT", "saga.v1.payment.evt.>"},
		{"orders-inventory-events", "SAGA_INVENTORY", "saga.v1.inventory.evt.>"},
		{"orders-shipping-events", "SAGA_SHIPPING", "saga.v1.shipping.evt.>"},
	} {
		of := func(field func(deployedConsumer) any) func(deployed) any {
			return func(d deployed) any { return field(d.consumers[c.durable]) }
		}
		tests = append(tests,
			setting{c.durable + " is on " + c.stream, of(func(dc deployedConsumer) any { return dc.stream }), c.stream},
			setting{c.durable + " filters " + c.filter, of(func(dc deployedConsumer) any { return dc.config.FilterSubject }), c.filter},
			setting{c.durable + " is a pull consumer", of(func(dc deployedConsumer) any { return dc.config.DeliverSubject }), ""},
			setting{c.durable + " acks explicitly", of(func(dc deployedConsumer) any { return dc.config.AckPolicy }), jetstream.AckExplicitPolicy},
			setting{c.durable + " waits 5 s for an ack", of(func(dc deployedConsumer) any { return dc.config.AckWait }), 5 * time.Second},
			setting{c.durable + " delivers at most 5 times", of(func(dc deployedConsumer) any { return dc.config.MaxDeliver }), 5},
			setting{c.durable + " holds at most 64 unacked", of(func(dc deployedConsumer) any { return dc.config.MaxAckPending }), 64},
			setting{c.durable + " samples 5 % of acks", of(func(dc deployedConsumer) any { return dc.config.SampleFrequency }), "5%"},
			setting{c.durable + " has lag thresholds in io.nats.monitor metadata", of(func(dc deployedConsumer) any {
				var keys []string
				for k, v := range dc.config.Metadata {
					if strings.HasPrefix(k, "io.nats.monitor.") && v != "" {
						keys = append(keys, k)
					}
				}
				return len(keys) > 0
			}), true},
		)
	}

	// KV buckets.
	var buckets []string
	for name := range d.buckets {
		buckets = append(buckets, name)
	}
	slices.Sort(buckets)
	tests = append(tests,
		setting{"the server holds exactly the eight buckets the README lists",
			func(deployed) any { return buckets },
			[]string{"saga_accounts", "saga_charges", "saga_checkpoint", "saga_control", "saga_reservations", "saga_sagas", "saga_shipments", "saga_stock"}},
		setting{"the saga bucket allows direct gets", func(d deployed) any {
			st, ok := d.buckets["saga_sagas"].(*jetstream.KeyValueBucketStatus)
			return ok && st.StreamInfo().Config.AllowDirect
		}, true},
	)
	ttl := func(bucket string) func(deployed) any {
		return func(d deployed) any { return d.buckets[bucket].TTL() }
	}
	for _, b := range []string{"saga_sagas", "saga_charges", "saga_reservations", "saga_shipments"} {
		tests = append(tests, setting{b + " records expire 3 min after their last write", ttl(b), 3 * time.Minute})
	}
	for _, b := range []string{"saga_accounts", "saga_stock", "saga_control", "saga_checkpoint"} {
		tests = append(tests, setting{b + " records never expire", ttl(b), time.Duration(0)})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got(d); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, README says %#v", got, tt.want)
			}
		})
	}
}

// The duplicate window covers every redelivery a message's retries can
// bring: MaxDeliver deliveries, each after AckWait or after a publish that
// timed out and the longest retry delay.
func TestTheDuplicateWindowCoversAMessagesRetries(t *testing.T) {
	const publishTimeout = 5 * time.Second // the jetstream client's default
	longestDelay := slices.Max(worker.DefaultRetryDelays)
	need := time.Duration(topology.MaxDeliver-1) * (max(topology.AckWait, publishTimeout) + publishTimeout + longestDelay)
	if topology.DuplicateWindow < need {
		t.Fatalf("duplicate window %s, but retries may publish again %s after the first publish", topology.DuplicateWindow, need)
	}
	if topology.DuplicateWindow > 2*need {
		t.Errorf("duplicate window %s is more than twice the %s retries need: the server holds every id that long", topology.DuplicateWindow, need)
	}
}
