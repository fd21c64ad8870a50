package tui

import (
	"fmt"
	"math"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
	"github.com/sagascope/sagascope/tui/feed"
)

// fixtureTime is "now" in every fixture.
var fixtureTime = time.Date(2026, 11, 24, 11, 50, 57, 0, time.UTC)

func ago(d time.Duration) time.Time { return fixtureTime.Add(-d) }

// series makes n samples of a wave around base, with gaps where gap says.
func series(n int, base, amp float64, gap func(i int) bool) feed.Series {
	s := make(feed.Series, n)
	for i := range s {
		if gap != nil && gap(i) {
			s[i] = math.NaN()
			continue
		}
		s[i] = base + amp*math.Sin(float64(i)/5)
	}
	return s
}

func commandConsumer(svc contract.Service, pending uint64, ackPending int, level feed.Level, why string) feed.Consumer {
	return feed.Consumer{
		Stream: contract.StreamName(svc), Name: contract.CommandConsumer(svc), Filter: contract.CommandSubjects(svc), Pull: true,
		Pending: pending, StreamMessages: 40_000, AckPending: ackPending, MaxAckPending: 64, Waiting: 1,
		DeliveredRate: 20, AckedRate: 19.5, LastDelivery: ago(200 * time.Millisecond), LastAck: ago(300 * time.Millisecond),
		Thresholds: feed.Thresholds{UnprocessedWarn: 1000, UnprocessedCritical: 10000},
		Level:      level, Why: why, LagTrend: series(60, float64(pending), float64(pending)/3, nil), TimeStamp: fixtureTime,
	}
}

// fixtureSnapshot is a demo under two faults: the payment gateway is down
// (breaker open), inventory's database is slow (pool saturated, lag over
// warn), shipping's breaker probes half-open.
func fixtureSnapshot() feed.Snapshot {
	paymentDown := contract.Fault{Service: contract.Payment, Kind: contract.FaultDependencyDown, Duration: 30 * time.Second, Set: ago(18 * time.Second), Expires: fixtureTime.Add(12 * time.Second)}
	slowDB := contract.Fault{Service: contract.Inventory, Kind: contract.FaultLatency, Latency: 300 * time.Millisecond, Jitter: 50 * time.Millisecond, Set: ago(2 * time.Minute)}
	consumers := []feed.Consumer{
		commandConsumer(contract.Inventory, 1234, 64, feed.LevelWarn, "unprocessed 1234 ≥ 1000"),
		{Stream: contract.StreamName(contract.Inventory), Name: contract.EventConsumer(contract.Inventory), Pull: true, MaxAckPending: 64, StreamMessages: 40_000, TimeStamp: fixtureTime, LastDelivery: ago(time.Second), LastAck: ago(time.Second), DeliveredRate: 12, AckedRate: 12, Level: feed.LevelOK, LagTrend: series(60, 0, 0, nil)},
		commandConsumer(contract.Orders, 0, 3, feed.LevelOK, ""),
		commandConsumer(contract.Payment, 12, 0, feed.LevelOK, ""),
		{Stream: contract.StreamName(contract.Payment), Name: contract.EventConsumer(contract.Payment), Pull: true, MaxAckPending: 64, StreamMessages: 40_000, TimeStamp: fixtureTime, LastDelivery: ago(time.Second), LastAck: ago(time.Second), DeliveredRate: 24, AckedRate: 24, Level: feed.LevelOK},
		commandConsumer(contract.Shipping, 0, 1, feed.LevelOK, ""),
		{Stream: contract.StreamName(contract.Shipping), Name: contract.EventConsumer(contract.Shipping), Pull: true, MaxAckPending: 64, StreamMessages: 40_000, TimeStamp: fixtureTime, Level: feed.LevelOK},
		{Stream: "LEGACY", Name: "nightly\x1b[31m-export", Pull: true, Pending: 25_000, StreamMessages: 25_000, MaxAckPending: 1000, Paused: true, PauseRemaining: 90 * time.Second,
			Thresholds: feed.Thresholds{UnprocessedCritical: 10000}, Level: feed.LevelCritical, Why: "unprocessed 25000 ≥ 10000", TimeStamp: fixtureTime, LagTrend: series(60, 20000, 5000, nil)},
	}
	// Sort as the feed does: by stream, then name.
	sortConsumers(consumers)
	s := feed.Snapshot{
		Time:       fixtureTime,
		Connection: feed.Connection{State: feed.StateConnected, URL: "nats://127.0.0.1:4222", Server: "sagascope"},
		Reporting:  true,
		Load:       &contract.LoadStatus{Rate: 20, Effective: 20, Placed: 12_400},
		Faults:     []contract.Fault{slowDB, paymentDown},
		Sagas: feed.SagaTotals{Known: true, Placed: 12_400, Completed: 12_000, Cancelled: 320, Parked: 2, InFlight: 78,
			PlacedRate: 20, CompletedRate: 12.5, CancelledRate: 7.5, LatencyP50: 45 * time.Millisecond, LatencyP99: 310 * time.Millisecond},
		History: feed.History{
			Every:      time.Second,
			Completed:  series(120, 15, 5, nil),
			Cancelled:  series(120, 3, 3, func(i int) bool { return false }),
			LatencyP50: series(120, 45, 10, func(i int) bool { return i%17 == 0 }),
			LatencyP99: series(120, 300, 120, func(i int) bool { return i%17 == 0 }),
		},
		Polled:    fixtureTime,
		Consumers: consumers,
		Streams:   fixtureStreams(),
		Sources:   feed.Sources{Sagas: true, Advisories: "stream", DeadLetters: true},
	}
	s.Services = []feed.Service{
		{Service: statusfeed.Service{Name: contract.Orders, Instances: []feed.Instance{{ID: "a1b2c3d4", State: contract.StateRunning, Seen: fixtureTime}},
			Pool: contract.PoolStatus{Capacity: 32, Busy: 3}, Rates: feed.Rates{Processed: 60}}, Command: findConsumer(consumers, contract.Orders)},
		{Service: statusfeed.Service{Name: contract.Payment, Instances: []feed.Instance{{ID: "b2c3d4e5", State: contract.StateRunning, Seen: fixtureTime}},
			Pool: contract.PoolStatus{Capacity: 32}, Rates: feed.Rates{Processed: 19.8, Failed: 7.5},
			Breakers: []feed.Breaker{{Name: "gateway", State: contract.BreakerOpen, Remaining: 3200 * time.Millisecond, Failures: 5, Rejected: 212}},
			Faults:   []contract.Fault{paymentDown}}, Command: findConsumer(consumers, contract.Payment)},
		{Service: statusfeed.Service{Name: contract.Inventory, Instances: []feed.Instance{{ID: "c3d4e5f6", State: contract.StateRunning, Seen: fixtureTime}},
			Pool: contract.PoolStatus{Capacity: 32, Busy: 32, Queued: 32}, Rates: feed.Rates{Processed: 11.2, Retried: 0.4},
			Faults: []contract.Fault{slowDB}}, Command: findConsumer(consumers, contract.Inventory)},
		{Service: statusfeed.Service{Name: contract.Shipping, Instances: []feed.Instance{{ID: "d4e5f6a7", State: contract.StateRunning, Seen: fixtureTime}, {ID: "e5f6a7b8", State: contract.StateRunning, Seen: fixtureTime}},
			Pool: contract.PoolStatus{Capacity: 64, Busy: 2}, Rates: feed.Rates{Processed: 12.4, DeadLettered: 0.2},
			Breakers: []feed.Breaker{{Name: "carrier", State: contract.BreakerHalfOpen, Successes: 1}}}, Command: findConsumer(consumers, contract.Shipping)},
	}
	s.Recent = fixtureSagas(40)
	s.Advisories = []*feed.Advisory{
		{Kind: "terminated", Type: "io.nats.jetstream.advisory.v1.terminated", ID: "adv4", Time: ago(2 * time.Second), Subject: "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.SAGA_PAYMENT.payment",
			Stream: "SAGA_PAYMENT", Consumer: "payment", StreamSeq: 40_112, Deliveries: 1, Detail: "not JSON: invalid character 'p'",
			Raw: []byte(`{"type":"io.nats.jetstream.advisory.v1.terminated","id":"adv4","timestamp":"2026-11-24T11:50:55Z","stream":"SAGA_PAYMENT","consumer":"payment","stream_seq":40112,"deliveries":1,"reason":"not JSON: invalid character 'p'"}`)},
		{Kind: "nak", Type: "io.nats.jetstream.advisory.v1.nak", ID: "adv3", Time: ago(3 * time.Second), Subject: "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.SAGA_INVENTORY.inventory",
			Stream: "SAGA_INVENTORY", Consumer: "inventory", StreamSeq: 39_870, Deliveries: 2},
		{Kind: "max_deliver", Type: "io.nats.jetstream.advisory.v1.max_deliver", ID: "adv2", Time: ago(41 * time.Second), Subject: "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SAGA_INVENTORY.inventory",
			Stream: "SAGA_INVENTORY", Consumer: "inventory", StreamSeq: 39_001, Deliveries: 5},
		{Kind: "consumer_pause", Type: "io.nats.jetstream.advisory.v1.consumer_pause", ID: "adv1", Time: ago(3 * time.Minute), Subject: "$JS.EVENT.ADVISORY.CONSUMER.PAUSE.LEGACY.nightly-export",
			Stream: "LEGACY", Consumer: "nightly-export", Detail: "paused until 11:52:27"},
	}
	s.DeadLetters = []*feed.DeadLetter{
		{Seq: 17, Time: ago(2 * time.Second), Subject: contract.DeadLetterSubject(contract.Payment), Reason: "malformed message: not JSON: invalid character 'p'",
			From: "saga.v1.payment.cmd.charge (SAGA_PAYMENT #40112)", Consumer: "payment",
			Headers: map[string][]string{contract.DeadLetterReason: {"malformed message: not JSON"}, contract.DeadLetterFrom: {"saga.v1.payment.cmd.charge"}, contract.DeadLetterFromStream: {"SAGA_PAYMENT"}, contract.DeadLetterSeq: {"40112"}, contract.DeadLetterConsumer: {"payment"}},
			// A hostile payload: it tries to set the window title and clear the screen.
			Payload: []byte("poison \x1b]0;pwned\x07\x1b[2J{not json"), Size: 29},
		{Seq: 16, Time: ago(48 * time.Second), Subject: contract.DeadLetterSubject(contract.Inventory), Reason: "gave up after 5 deliveries: database timeout",
			From: "saga.v1.inventory.cmd.reserve (SAGA_INVENTORY #39001)", Consumer: "inventory",
			Headers: map[string][]string{contract.DeadLetterReason: {"gave up after 5 deliveries: database timeout"}},
			Payload: []byte(`{"v":1,"type":"inventory.reserve","id":"ord-000123:inventory.reserve","saga_id":"ord-000123","time":"2026-11-24T11:50:09Z","order":{"id":"ord-000123","customer":"cust-0042","sku":"sku-007","qty":2,"amount_cents":4200}}`), Size: 212},
	}
	return s
}

func fixtureStreams() []feed.Stream {
	mk := func(name, subj string, msgs, bytes uint64, cons int, rate float64) feed.Stream {
		return feed.Stream{Name: name, Subjects: []string{subj}, Messages: msgs, Bytes: bytes, FirstSeq: 1, LastSeq: msgs, LastTime: ago(time.Second),
			Consumers: cons, Storage: "file", Replicas: 1, Rate: rate, TimeStamp: fixtureTime}
	}
	return []feed.Stream{
		mk("KV_saga_control", "$KV.saga_control.>", 9, 1_800, 0, 0),
		mk("KV_saga_sagas", "$KV.saga_sagas.>", 12_400, 4_100_000, 1, 61),
		mk("LEGACY", "legacy.>", 25_000, 9_800_000, 1, 0),
		mk(contract.AdvisoryStream, contract.AdvisorySubjects[0], 88_000, 41_000_000, 1, 310),
		mk(contract.DeadLetterStream, contract.DeadLetterSubjects, 17, 9_000, 1, 0.2),
		mk("SAGA_INVENTORY", contract.ServiceSubjects(contract.Inventory), 40_000, 17_000_000, 2, 24),
		mk("SAGA_ORDERS", contract.ServiceSubjects(contract.Orders), 24_722, 9_900_000, 1, 20),
		mk("SAGA_PAYMENT", contract.ServiceSubjects(contract.Payment), 40_000, 16_500_000, 2, 40),
		mk("SAGA_SHIPPING", contract.ServiceSubjects(contract.Shipping), 36_000, 14_900_000, 2, 25),
	}
}

// fixtureSagas makes n sagas, newest first, in every status.
func fixtureSagas(n int) []*feed.Saga {
	out := make([]*feed.Saga, n)
	for i := range out {
		id := fmt.Sprintf("ord-%06d", 12_400-i)
		s := &feed.Saga{Revision: uint64(40_000 - i)}
		s.ID = id
		s.Order = contract.Order{ID: id, Customer: fmt.Sprintf("cust-%04d", i*7%1000), SKU: fmt.Sprintf("sku-%03d", i*3%1000), Qty: int64(1 + i%3), Amount: int64(1000 + 137*i)}
		s.Started = ago(time.Duration(i) * 700 * time.Millisecond)
		s.Steps = map[contract.Step]contract.StepState{}
		switch i % 8 {
		case 0:
			s.Status = contract.SagaCharging
			s.Steps[contract.StepCharge] = contract.StepPending
			s.Deadline = s.Started.Add(15 * time.Second)
			s.Updated = s.Started
		case 1:
			s.Status = contract.SagaReserving
			s.Steps[contract.StepCharge] = contract.StepDone
			s.Steps[contract.StepReserve] = contract.StepPending
			s.Deadline = s.Started.Add(15 * time.Second)
			s.Updated = s.Started.Add(40 * time.Millisecond)
		case 2, 3, 4:
			s.Status = contract.SagaCompleted
			s.Steps[contract.StepCharge] = contract.StepDone
			s.Steps[contract.StepReserve] = contract.StepDone
			s.Steps[contract.StepSchedule] = contract.StepDone
			s.Updated = s.Started.Add(time.Duration(40+i) * time.Millisecond)
		case 5:
			s.Status = contract.SagaCancelled
			s.Reason = "payment: breaker gateway is open"
			s.Steps[contract.StepCharge] = contract.StepRejected
			s.Updated = s.Started.Add(3 * time.Millisecond)
		case 6:
			s.Status = contract.SagaCancelled
			s.Reason = "shipping: no carrier available"
			s.Steps[contract.StepCharge] = contract.StepCompensated
			s.Steps[contract.StepReserve] = contract.StepCompensated
			s.Steps[contract.StepSchedule] = contract.StepRejected
			s.Updated = s.Started.Add(120 * time.Millisecond)
		case 7:
			if i == 7 {
				s.Status = contract.SagaCompensationFailed
				s.Reason = "refund failed after 5 deliveries: gateway unavailable"
				s.Steps[contract.StepCharge] = contract.StepFailed
				s.Steps[contract.StepReserve] = contract.StepCompensated
				s.Steps[contract.StepSchedule] = contract.StepRejected
			} else {
				s.Status = contract.SagaCompensating
				s.Reason = "inventory: out of stock"
				s.Steps[contract.StepCharge] = contract.StepCompensating
				s.Steps[contract.StepReserve] = contract.StepRejected
			}
			s.Updated = s.Started.Add(2 * time.Second)
		}
		out[i] = s
	}
	return out
}

// foreignSnapshot is a NATS system without sagascope services.
func foreignSnapshot() feed.Snapshot {
	s := feed.Snapshot{
		Time:       fixtureTime,
		Connection: feed.Connection{State: feed.StateConnected, URL: "nats://nats.example:4222"},
		Polled:     fixtureTime,
		Sources:    feed.Sources{Advisories: "live"},
		Streams: []feed.Stream{
			{Name: "BILLING", Subjects: []string{"billing.>"}, Messages: 10, Bytes: 900, FirstSeq: 1, LastSeq: 10, Consumers: 2, Storage: "file", Replicas: 1, TimeStamp: fixtureTime, LastTime: ago(time.Minute)},
		},
		Consumers: []feed.Consumer{
			{Stream: "BILLING", Name: "auditor", Pull: true, MaxAckPending: 1000, StreamMessages: 10, TimeStamp: fixtureTime, Level: feed.LevelOK},
			{Stream: "BILLING", Name: "invoicer", Pull: true, Pending: 10, StreamMessages: 10, MaxAckPending: 100, TimeStamp: fixtureTime,
				Thresholds: feed.Thresholds{UnprocessedWarn: 3, UnprocessedCritical: 5}, Level: feed.LevelCritical, Why: "unprocessed 10 ≥ 5", LagTrend: feed.Series{2, 4, 6, 8, 10}},
		},
		Advisories: []*feed.Advisory{
			{Kind: "consumer_action", Type: "io.nats.jetstream.advisory.v1.consumer_action", ID: "f1", Time: ago(4 * time.Second), Subject: "$JS.EVENT.ADVISORY.CONSUMER.CREATED.BILLING.auditor", Stream: "BILLING", Consumer: "auditor", Detail: "create"},
		},
	}
	for _, svc := range contract.Services {
		s.Services = append(s.Services, feed.Service{Service: statusfeed.Service{Name: svc}})
	}
	return s
}

func findConsumer(cs []feed.Consumer, svc contract.Service) *feed.Consumer {
	for i := range cs {
		if cs[i].Stream == contract.StreamName(svc) && cs[i].Name == contract.CommandConsumer(svc) {
			return &cs[i]
		}
	}
	return nil
}
