package feed

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// Snapshot is everything the dashboard shows about the watched system, as of
// Time. It is plain data: it encodes as JSON (for `sagascope status --json`)
// and views are functions of it.
//
// Snapshots share their slices with earlier and later snapshots (a 1,000
// consumer table is rebuilt once per poll, not once per frame), so a
// Snapshot and everything it points to is read-only.
type Snapshot struct {
	// Time is when the snapshot was taken, by the feed's clock. Ages and
	// countdowns in views are measured against it, never against the wall
	// clock, so a view of a snapshot is deterministic.
	Time       time.Time  `json:"time"`
	Connection Connection `json:"connection"`
	// Reporting is true when at least one sagascope service instance
	// published its status recently. On a NATS system without sagascope
	// services it stays false and only Streams, Consumers, Advisories and
	// DeadLetters carry data.
	Reporting bool `json:"sagascope_reporting"`
	// Services lists every contract.Services entry in saga order, reporting
	// or not.
	Services []Service `json:"services"`
	// Load is the load generator's state, from the instance that runs it.
	Load *contract.LoadStatus `json:"load,omitempty"`
	// Faults are the faults in force that any instance reports.
	Faults []contract.Fault `json:"faults,omitempty"`
	Sagas  SagaTotals       `json:"sagas"`
	// History holds the last samples of the overview's trends, one per
	// poll, oldest first.
	History History `json:"history"`
	// Polled is the server's time of the last JetStream poll that succeeded;
	// zero before the first.
	Polled    time.Time  `json:"polled,omitzero"`
	Streams   []Stream   `json:"streams"`
	Consumers []Consumer `json:"consumers"`
	// Servers are the NATS servers of the system, by name: from their
	// statistics when Options.System is set, else as the streams' cluster
	// info names them (see servers.go).
	Servers []Server `json:"servers"`
	// Recent are the most recently started sagas, newest first, each at
	// the latest state a sample read (see LatencyP50): a saga's later
	// writes may fall between samples.
	Recent []*Saga `json:"recent_sagas,omitempty"`
	// Advisories are recent JetStream advisories (API audits excluded),
	// newest first.
	Advisories []*Advisory `json:"advisories,omitempty"`
	// DeadLetters are recent dead-lettered messages, newest first.
	DeadLetters []*DeadLetter `json:"dead_letters,omitempty"`
	// Sources says which sagascope-specific sources exist on this server.
	Sources Sources `json:"sources"`
	// Gathering says how streams and consumers were read, and how complete
	// and fresh they are.
	Gathering Gathering `json:"gathering"`
	// Problems are sources the feed could not read, each with the latest
	// error. A problem clears itself when the source recovers.
	Problems []Problem `json:"problems,omitempty"`
	// Diagnoses say in words what is wrong and why, worst first (see
	// diagnose.go for the rules); empty when nothing is.
	Diagnoses []Diagnosis `json:"diagnoses"`
	// Focused is the history of the consumer on screen
	// (Feed.FocusConsumer), from the last poll; nil for none.
	Focused *ConsumerHistory `json:"focused_consumer,omitempty"`
}

// Connection is the state of the NATS connection the feed reads through.
type Connection struct {
	// State is "connected", "reconnecting", "connecting", "draining" or
	// "closed".
	State string `json:"state"`
	URL   string `json:"url,omitempty"`
	// Server is the name of the server connected to.
	Server     string `json:"server,omitempty"`
	Reconnects uint64 `json:"reconnects"`
	// LastError is the connection's last asynchronous error, if any.
	LastError string `json:"last_error,omitempty"`
}

// Connection states.
const (
	StateConnected    = "connected"
	StateReconnecting = "reconnecting"
	StateConnecting   = "connecting"
	StateDraining     = "draining"
	StateClosed       = "closed"
)

// Service is one sagascope service, aggregated over its live instances
// by the status feed's reader, with its command consumer.
type Service struct {
	statusfeed.Service
	// Command is the service's command consumer, nil until found.
	Command *Consumer `json:"command_consumer,omitempty"`
}

// Reporting reports whether any instance of the service is live.
func (s Service) Reporting() bool { return len(s.Instances) > 0 }

// The parts of a Service, as the status feed's one reader aggregates
// them.
type (
	// Instance is one running copy of a service.
	Instance = statusfeed.Instance
	// Breaker is one circuit breaker of a service.
	Breaker = statusfeed.Breaker
	// Rates are per-second rates of a service's status counters.
	Rates = statusfeed.Rates
)

// SagaTotals counts sagas by outcome, from the subjects of the orders stream,
// so they are exact and survive a restart of the dashboard.
type SagaTotals struct {
	// Known is false when the orders stream does not exist here.
	Known     bool   `json:"known"`
	Placed    uint64 `json:"placed"`
	Completed uint64 `json:"completed"`
	Cancelled uint64 `json:"cancelled"`
	// Parked sagas ended compensation_failed: a compensation kept failing.
	Parked uint64 `json:"parked"`
	// InFlight is placed minus finished.
	InFlight uint64 `json:"in_flight"`
	// Rates per second over the last poll.
	PlacedRate    float64 `json:"placed_rate"`
	CompletedRate float64 `json:"completed_rate"`
	CancelledRate float64 `json:"cancelled_rate"`
	ParkedRate    float64 `json:"parked_rate"`
	// LatencyP50 and LatencyP99 are the end-to-end latencies (saga Updated
	// minus Started) of a sample of the sagas that completed during the
	// last poll interval: those whose completion was among the newest
	// bucket writes read at a refresh (at most 256 writes each); zero when
	// the sample caught none.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP99 time.Duration `json:"latency_p99"`
}

// History is the overview's trends: one sample per poll, oldest first.
type History struct {
	Every      time.Duration `json:"every"`
	Completed  Series        `json:"completed_per_second"`
	Cancelled  Series        `json:"cancelled_per_second"`
	LatencyP50 Series        `json:"latency_p50_ms"`
	LatencyP99 Series        `json:"latency_p99_ms"`
}

// Series is a sequence of samples, oldest first. NaN marks an interval
// without a sample (no saga completed, so there is no latency); it encodes
// as JSON null and decodes back to NaN. Samples encode in the fewest digits
// that decode to the same float, so a recorded snapshot (tui/timeline)
// comes back exactly as it was drawn.
type Series []float64

// MarshalJSON encodes NaN samples as null, which encoding/json refuses to do.
func (s Series) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	b := make([]byte, 0, 2+len(s)*6)
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON decodes null samples as NaN, the inverse of MarshalJSON
// (encoding/json would make them 0, a sample that was never taken).
func (s *Series) UnmarshalJSON(b []byte) error {
	var raw []*float64
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode series: %w", err)
	}
	out := make(Series, len(raw))
	for i, v := range raw {
		out[i] = math.NaN()
		if v != nil {
			out[i] = *v
		}
	}
	*s = out
	return nil
}

// Last returns the newest sample that is not NaN; ok is false if none is.
func (s Series) Last() (v float64, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if !math.IsNaN(s[i]) {
			return s[i], true
		}
	}
	return 0, false
}

// Stream is one JetStream stream.
type Stream struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Subjects    []string  `json:"subjects,omitempty"`
	Messages    uint64    `json:"messages"`
	Bytes       uint64    `json:"bytes"`
	FirstSeq    uint64    `json:"first_seq"`
	LastSeq     uint64    `json:"last_seq"`
	LastTime    time.Time `json:"last_time,omitzero"`
	Consumers   int       `json:"consumers"`
	Storage     string    `json:"storage"`
	Replicas    int       `json:"replicas"`
	// Cluster is where the stream's copies are and who leads them; nil
	// when the server gave no cluster info.
	Cluster *StreamCluster `json:"cluster,omitempty"`
	// Unavailable is true when the stream has no leader: too few of its
	// replicas are up to elect one, or one is being elected, so it
	// neither stores nor delivers; or, on the API path, its leader did
	// not answer the stream list in time ("missing"). Its numbers are
	// then the last a replica or a poll reported.
	Unavailable bool `json:"unavailable,omitempty"`
	// Rate is messages stored per second, from last-sequence deltas over
	// the server's timestamps.
	Rate float64 `json:"rate"`
	// TimeStamp is the server's time of this information.
	TimeStamp time.Time `json:"ts"`
}

// StreamCluster is a stream's leader and its other replicas, as the
// servers report them.
type StreamCluster struct {
	// Name is the NATS cluster the stream is placed in; "" on a server
	// that is not clustered.
	Name string `json:"name,omitempty"`
	// Leader is the server that orders the stream's writes; "" while none
	// is elected.
	Leader string `json:"leader"`
	// LeaderSince is when Leader was elected: as the server says, else
	// when the feed first saw it lead; zero when unknown.
	LeaderSince time.Time `json:"leader_since,omitzero"`
	// Replicas are the copies other than the leader's, by server name.
	Replicas []Replica `json:"replicas"`
}

// Replica is one follower copy of a stream.
type Replica struct {
	Name string `json:"name"`
	// Current is true when the replica has every operation its leader
	// has.
	Current bool `json:"current"`
	// Lag is how many operations it is behind.
	Lag uint64 `json:"lag,omitempty"`
	// Offline is true when its server is not seen.
	Offline bool `json:"offline,omitempty"`
	// Active is how long ago the leader last heard from it.
	Active time.Duration `json:"active"`
}

// Consumer is one JetStream consumer.
type Consumer struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	Filter string `json:"filter,omitempty"`
	Pull   bool   `json:"pull"`
	// Pending is the number of messages matching the filter not yet
	// delivered: the consumer's lag.
	Pending uint64 `json:"pending"`
	// StreamMessages is the stream's message count, to show Pending as a
	// share of it.
	StreamMessages uint64 `json:"stream_messages"`
	AckPending     int    `json:"ack_pending"`
	MaxAckPending  int    `json:"max_ack_pending"`
	Redelivered    int    `json:"redelivered"`
	Waiting        int    `json:"waiting"`
	// DeliveredRate and AckedRate are per second, from the consumer's
	// delivered and ack-floor sequences over the server's timestamps.
	DeliveredRate float64 `json:"delivered_rate"`
	AckedRate     float64 `json:"acked_rate"`
	// LastDelivery and LastAck are the server's times of the last delivery
	// and the last ack-floor move; zero for never.
	LastDelivery   time.Time     `json:"last_delivery,omitzero"`
	LastAck        time.Time     `json:"last_ack,omitzero"`
	Paused         bool          `json:"paused,omitempty"`
	PauseRemaining time.Duration `json:"pause_remaining,omitempty"`
	// Thresholds are the io.nats.monitor.* metadata set on the consumer.
	Thresholds Thresholds `json:"thresholds,omitzero"`
	// Level is how the thresholds judge the consumer now.
	Level Level `json:"level"`
	// Why says which threshold set Level.
	Why string `json:"why,omitempty"`
	// LagTrend is Pending over the last polls, oldest first.
	LagTrend Series `json:"lag_trend,omitempty"`
	// Read is when the feed read this consumer, by its own clock: older
	// than the snapshot when the API budget did not list it again.
	Read time.Time `json:"read"`
	// Age is how old the reading was at the poll that showed it: 0 when
	// that poll read it, more when the budget left it for a later one.
	Age time.Duration `json:"age,omitempty"`
	// TimeStamp is the server's time of this information; ages are
	// measured from it.
	TimeStamp time.Time `json:"ts"`
}

// Level is a health judgement by thresholds.
type Level string

// Levels, from good to bad.
const (
	LevelOK       Level = "ok"
	LevelWarn     Level = "warn"
	LevelCritical Level = "critical"
)

// Saga is one saga as last written to the saga bucket.
type Saga struct {
	contract.Saga
	Revision uint64 `json:"revision"`
}

// Advisory is one JetStream advisory, decoded loosely: the fields every
// consumer and stream advisory carries, and the raw JSON for inspection.
type Advisory struct {
	// Kind is the last part of the schema type: "max_deliver", "nak",
	// "terminated", "consumer_pause", "consumer_action", ...
	Kind       string    `json:"kind"`
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Subject    string    `json:"subject"`
	Stream     string    `json:"stream,omitempty"`
	Consumer   string    `json:"consumer,omitempty"`
	StreamSeq  uint64    `json:"stream_seq,omitempty"`
	Deliveries uint64    `json:"deliveries,omitempty"`
	// Detail is a short human summary: the reason of a termination, the
	// action of a create/delete, "paused until ..." for a pause.
	Detail string `json:"detail,omitempty"`
	// Leader is the server a leader election or change made leader
	// (stream_leader_elected, consumer_leader_elected, KindLeaderChanged),
	// so the two reports of one change can be matched.
	Leader string `json:"leader,omitempty"`
	Raw    []byte `json:"-"`
}

// DeadLetter is one message in the dead-letter stream.
type DeadLetter struct {
	Seq      uint64              `json:"seq"`
	Time     time.Time           `json:"time"`
	Subject  string              `json:"subject"`
	Reason   string              `json:"reason"`
	From     string              `json:"from,omitempty"`
	Consumer string              `json:"consumer,omitempty"`
	Headers  map[string][]string `json:"headers,omitempty"`
	// Payload is the message body, cut to MaxPayload bytes.
	Payload []byte `json:"payload,omitempty"`
	// Size is the body's full size.
	Size int `json:"size"`
}

// MaxPayload bounds the bytes of a dead letter or advisory kept for
// inspection.
const MaxPayload = 4 << 10

// Sources says which sagascope sources exist on the server.
type Sources struct {
	// Sagas is true once the saga bucket is being watched.
	Sagas bool `json:"sagas"`
	// Advisories is "stream" when advisories are read from
	// contract.AdvisoryStream (with history), "live" when only live
	// advisories are followed because that stream does not exist.
	Advisories  string `json:"advisories"`
	DeadLetters bool   `json:"dead_letters"`
}

// StaleAfter is the age past which a view says how old a consumer's row
// is, rather than show it as current.
const StaleAfter = 2 * time.Second

// Ways of reading streams and consumers (Gathering.Path).
const (
	// PathAPI is JetStream API requests, within Options.APIBudget.
	PathAPI = "api"
	// PathSystem is the servers' JetStream report to the system account
	// (Options.System): one request per refresh, answered by every server
	// with its replicas of the account's streams and their consumers.
	PathSystem = "system account"
)

// Gathering says how the feed read streams and consumers, and how complete
// and fresh what it shows is: on a system too large to list every
// stream's consumers each refresh, some consumer rows are older than the
// snapshot, and the views say so.
type Gathering struct {
	// Path is how streams and consumers are read: PathAPI, or PathSystem
	// with a system account connection.
	Path string `json:"path"`
	// Budget is the API requests a second the polls may spend; negative
	// for no limit. PathSystem does not spend it on streams and consumers.
	Budget float64 `json:"budget,omitempty"`
	// Requests counts the requests the polls made so far: JetStream API
	// requests, and on PathSystem one JetStream report a refresh.
	Requests uint64 `json:"requests"`
	// Unlisted counts streams with consumers whose consumers are not
	// listed yet: while it is above 0 the consumers shown are not all.
	Unlisted int `json:"unlisted"`
	// Oldest is when the oldest consumer list shown was read, by the
	// feed's clock; zero when there are none.
	Oldest time.Time `json:"oldest,omitzero"`
}

// Problem is a source the feed could not read.
type Problem struct {
	Source string    `json:"source"`
	Error  string    `json:"error"`
	Since  time.Time `json:"since"`
}
