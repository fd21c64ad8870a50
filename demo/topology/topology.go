// Package topology declares and creates the JetStream resources the demo
// runs on: one stream per service, the dead-letter, advisory and telemetry
// streams, the KV buckets and the durable consumers. Creating is idempotent,
// so every instance of every service calls Ensure at start and they agree.
package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/wire"
)

// Options size the resources. The zero value is the single-server demo.
type Options struct {
	// Replicas for every stream and bucket: 1, or 3 on a cluster.
	Replicas int
	// MaxAckPending per consumer; 0 means DefaultMaxAckPending. Backpressure
	// shows when a saturated service holds exactly this many messages.
	MaxAckPending int
	// Seed is the starting money and stock; zero means DefaultSeed.
	Seed contract.Seed
	// RecordTTL is how long a record of the order-keyed buckets lives after
	// its last write (contract.OrderBuckets); 0 means DefaultRecordTTL and a
	// negative value keeps records for ever.
	RecordTTL time.Duration
}

// Defaults.
const (
	DefaultMaxAckPending = 64
	// AckWait is how long an unacked message waits before redelivery (a
	// crashed worker's message comes back after this). Workers that take
	// longer send in-progress acks, so slow handling is not redelivered.
	AckWait = 5 * time.Second
	// MaxDeliver bounds redeliveries; the last delivery of a message that
	// keeps failing transiently reports the step failed and dead-letters it.
	MaxDeliver = 5
	// DuplicateWindow is how long a stream remembers Nats-Msg-Ids: what a
	// message's retries need, so a handler's publish repeated by a later
	// delivery of its input is dropped. That later delivery comes at most
	// MaxDeliver-1 times after the first, each after AckWait (a crash), or
	// after a publish that gave up (5 s, the client's default) and the
	// longest retry delay (4 s): 4 × (5 + 5 + 4) s = 56 s. The server keeps
	// every id for the window, so its memory is the publish rate times the
	// window: 2 minutes at 3,000 sagas/s (eight ids each) held 2.9 million.
	// Past the window a repeat is still applied once (every service's
	// effect and the orchestrator's transitions are idempotent); it is only
	// stored twice. A crash whose restart takes longer than that (a fault's
	// RestartAfter above a minute, with no other instance) stores such
	// repeats.
	DuplicateWindow = time.Minute
	// AckSampleFrequency makes the server publish ack latency metrics for a
	// share of messages ($JS.EVENT.METRIC.CONSUMER.ACK.*): enough to chart,
	// cheap at saturation.
	AckSampleFrequency = "5%"
)

// DefaultRecordTTL is how long a saga's records live after their last
// write: three times the longest a repeat of one of its messages can come
// (the 56 s of DuplicateWindow's note), which idempotency needs the records
// for, and long enough to look at a saga on the dashboard after it ends.
// Expiry bounds the buckets: at 3,000 sagas/s they hold 540,000 sagas.
// The orders service folds what ended into the checkpoint first, so
// `check` still counts them (contract.Checkpoint).
const DefaultRecordTTL = 3 * time.Minute

// DefaultSeed gives 1,000 customers and 1,000 SKUs, large enough that the
// demo never runs out by itself: rejections come from injected faults.
var DefaultSeed = contract.Seed{Accounts: 1000, AccountBalance: 1_000_000_000, SKUs: 1000, StockPerSKU: 100_000_000}

func (o Options) withDefaults() Options {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.Seed == (contract.Seed{}) {
		o.Seed = DefaultSeed
	}
	switch {
	case o.RecordTTL == 0:
		o.RecordTTL = DefaultRecordTTL
	case o.RecordTTL < 0:
		o.RecordTTL = 0
	}
	return o
}

// Streams returns the configuration of every stream.
func Streams(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	var out []jetstream.StreamConfig
	for _, svc := range contract.Services {
		out = append(out, jetstream.StreamConfig{
			Name:        contract.StreamName(svc),
			Description: "sagascope " + string(svc) + " commands and events",
			Subjects:    []string{contract.ServiceSubjects(svc)},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      24 * time.Hour,
			MaxBytes:    1 << 30,
			Duplicates:  DuplicateWindow,
			Replicas:    o.Replicas,
		})
	}
	// The dashboard reads these three streams and the saga bucket by
	// direct get, without consumers, as an observer may (issue 6); KV
	// buckets allow direct gets by default.
	out = append(out,
		jetstream.StreamConfig{
			Name:        contract.DeadLetterStream,
			Description: "sagascope messages no service could process, with the reason in headers",
			Subjects:    []string{contract.DeadLetterSubjects},
			Storage:     jetstream.FileStorage,
			MaxAge:      7 * 24 * time.Hour,
			MaxBytes:    256 << 20,
			Duplicates:  DuplicateWindow,
			Replicas:    o.Replicas,
			AllowDirect: true,
		},
		jetstream.StreamConfig{
			Name:        contract.AdvisoryStream,
			Description: "JetStream advisories, kept briefly so a dashboard that attaches late sees recent ones",
			Subjects:    contract.AdvisorySubjects,
			Storage:     jetstream.FileStorage,
			MaxAge:      15 * time.Minute,
			MaxBytes:    64 << 20,
			Replicas:    o.Replicas,
			AllowDirect: true,
		},
		wire.StreamConfig(contract.Prefix, o.Replicas),
		RunStream(o.Replicas),
	)
	return out
}

// RunStream is the configuration of contract.ScenarioRunStream: every
// scenario run's events, so a dashboard that attaches during a run follows
// it from its start. A runner that finds it missing creates it.
func RunStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        contract.ScenarioRunStream,
		Description: "sagascope scenario runs, so a dashboard that attaches during a run follows it from its start",
		Subjects:    []string{contract.ScenarioRunSubjects},
		Storage:     jetstream.FileStorage,
		MaxAge:      contract.ScenarioRunMaxAge,
		MaxMsgs:     contract.ScenarioRunMaxMsgs,
		MaxBytes:    contract.ScenarioRunMaxSize,
		Replicas:    max(replicas, 1),
		AllowDirect: true,
	}
}

// Buckets returns the configuration of every KV bucket.
func Buckets(o Options) []jetstream.KeyValueConfig {
	o = o.withDefaults()
	bucket := func(name, desc string, history uint8, ttl time.Duration) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{Bucket: name, Description: desc, History: history, TTL: ttl, Storage: jetstream.FileStorage, Replicas: o.Replicas}
	}
	return []jetstream.KeyValueConfig{
		bucket(contract.SagaBucket, "sagascope saga state by order id", 1, o.RecordTTL),
		bucket(contract.AccountBucket, "sagascope customer balances (cents)", 1, 0),
		bucket(contract.ChargeBucket, "sagascope charges by order id", 1, o.RecordTTL),
		bucket(contract.StockBucket, "sagascope stock by sku", 1, 0),
		bucket(contract.ReservationBucket, "sagascope stock reservations by order id", 1, o.RecordTTL),
		bucket(contract.ShipmentBucket, "sagascope shipments by order id", 1, o.RecordTTL),
		bucket(contract.ControlBucket, "sagascope faults and load setting", 5, 0),
		bucket(contract.CheckpointBucket, "sagascope totals of the sagas whose records may have expired", 1, 0),
	}
}

// Consumer is one durable consumer the demo runs.
type Consumer struct {
	Stream string
	Config jetstream.ConsumerConfig
	// Service is the service whose instances bind it.
	Service contract.Service
}

// Consumers returns every durable: one per service for its commands, and
// one per other service for the orchestrator to follow its events.
func Consumers(o Options) []Consumer {
	o = o.withDefaults()
	cfg := func(name, filter, desc string) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable:         name,
			Description:     desc,
			FilterSubject:   filter,
			AckPolicy:       jetstream.AckExplicitPolicy,
			AckWait:         AckWait,
			MaxDeliver:      MaxDeliver,
			MaxAckPending:   o.MaxAckPending,
			DeliverPolicy:   jetstream.DeliverAllPolicy,
			SampleFrequency: AckSampleFrequency,
			Replicas:        o.Replicas,
			Metadata: map[string]string{
				// Thresholds the dashboard and `nats` monitoring colour lag by.
				"io.nats.monitor.unprocessed-warn":     "1000",
				"io.nats.monitor.unprocessed-critical": "10000",
			},
		}
	}
	var out []Consumer
	for _, svc := range contract.Services {
		out = append(out, Consumer{
			Stream:  contract.StreamName(svc),
			Service: svc,
			Config:  cfg(contract.CommandConsumer(svc), contract.CommandSubjects(svc), string(svc)+" executes its commands"),
		})
	}
	for _, from := range contract.Services[1:] {
		out = append(out, Consumer{
			Stream:  contract.StreamName(from),
			Service: contract.Orders,
			Config:  cfg(contract.EventConsumer(from), contract.EventSubjects(from), "orders follows "+string(from)+" events"),
		})
	}
	return out
}

// ConsumersOf returns the durables svc's instances bind.
func ConsumersOf(o Options, svc contract.Service) []Consumer {
	var out []Consumer
	for _, c := range Consumers(o) {
		if c.Service == svc {
			out = append(out, c)
		}
	}
	return out
}

// Ensure creates or updates every stream, bucket and consumer and seeds
// accounts and stock once. It is safe to run concurrently from many
// instances.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) error {
	o = o.withDefaults()
	for _, cfg := range Streams(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}
	for _, cfg := range Buckets(o) {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("create KV bucket %s: %w", cfg.Bucket, err)
		}
	}
	for _, c := range Consumers(o) {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.Config); err != nil {
			return fmt.Errorf("create consumer %s on %s: %w", c.Config.Durable, c.Stream, err)
		}
	}
	return seed(ctx, js, o.Seed)
}

// seed writes the starting balances once. The seed record is written last,
// so a crash half-way leaves no record and the next Ensure completes it
// (Create skips keys already there).
func seed(ctx context.Context, js jetstream.JetStream, s contract.Seed) error {
	control, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		return fmt.Errorf("open %s: %w", contract.ControlBucket, err)
	}
	if _, err := control.Get(ctx, contract.SeedKey); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("read seed: %w", err)
	}
	fill := func(bucket string, n int, key func(int) string, amount int64) error {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			return fmt.Errorf("open %s: %w", bucket, err)
		}
		value := mustJSON(contract.Balance{Available: amount})
		for i := range n {
			if _, err := kv.Create(ctx, key(i), value); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("seed %s %s: %w", bucket, key(i), err)
			}
		}
		return nil
	}
	if err := fill(contract.AccountBucket, s.Accounts, CustomerID, s.AccountBalance); err != nil {
		return err
	}
	if err := fill(contract.StockBucket, s.SKUs, SKU, s.StockPerSKU); err != nil {
		return err
	}
	if _, err := control.Create(ctx, contract.SeedKey, mustJSON(s)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("write seed: %w", err)
	}
	return nil
}

// CustomerID names the i-th seeded customer.
func CustomerID(i int) string { return fmt.Sprintf("cust-%04d", i) }

// SKU names the i-th seeded product.
func SKU(i int) string { return fmt.Sprintf("sku-%03d", i) }
