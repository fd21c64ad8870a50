package contract

import "time"

// Stream names: one per bounded context, plus dead letters and the
// captured JetStream advisories.
const (
	DeadLetterStream = "SAGA_DEADLETTER"
	AdvisoryStream   = "SAGA_ADVISORIES"
)

// AdvisoryPrefix begins the subject of every JetStream advisory.
const AdvisoryPrefix = "$JS.EVENT.ADVISORY."

// AdvisorySubjects are captured into AdvisoryStream, because advisories are
// core NATS messages that are lost when nobody listens. They are every
// advisory but the API audit ($JS.EVENT.ADVISORY.API), which reports every
// JetStream API request, the dashboard's own reads too: storing it would
// make watching the system write to it.
var AdvisorySubjects = []string{
	AdvisoryPrefix + "CONSUMER.>",
	AdvisoryPrefix + "STREAM.>",
	AdvisoryPrefix + "SERVER.>",
	AdvisoryPrefix + "DOMAIN.>",
}

// StreamName is the stream that stores everything on svc's subjects.
func StreamName(svc Service) string {
	switch svc {
	case Orders:
		return "SAGA_ORDERS"
	case Payment:
		return "SAGA_PAYMENT"
	case Inventory:
		return "SAGA_INVENTORY"
	case Shipping:
		return "SAGA_SHIPPING"
	}
	return ""
}

// Durable consumer names. Every instance of a service binds the same
// durables, so work is split between instances, never duplicated.
func CommandConsumer(svc Service) string { return string(svc) }

// EventConsumer is the orchestrator's durable on from's events.
func EventConsumer(from Service) string { return "orders-" + string(from) + "-events" }

// KV buckets.
const (
	SagaBucket        = "saga_sagas"        // key: saga id -> Saga
	AccountBucket     = "saga_accounts"     // key: customer id -> Balance (cents)
	ChargeBucket      = "saga_charges"      // key: order id -> Entry (cents)
	StockBucket       = "saga_stock"        // key: sku -> Balance (units)
	ReservationBucket = "saga_reservations" // key: order id -> Entry (units)
	ShipmentBucket    = "saga_shipments"    // key: order id -> Shipment
	ControlBucket     = "saga_control"      // keys: FaultKey(...), LoadKey, SeedKey
	CheckpointBucket  = "saga_checkpoint"   // key: CheckpointKey -> Checkpoint
)

// OrderBuckets are the buckets with one key per order: the saga records and
// their effects. Their records expire a while after their last write (the
// topology's RecordTTL), which bounds them; what expired sagas did stays
// counted in the Checkpoint.
var OrderBuckets = []string{SagaBucket, ChargeBucket, ReservationBucket, ShipmentBucket}

// CheckpointKey is the Checkpoint's key in CheckpointBucket.
const CheckpointKey = "totals"

// Checkpoint is what the sagas folded so far did, in sum: every saga whose
// final record is at or before Seq in the saga bucket's stream. The orders
// service folds final records in stream order and writes the checkpoint with
// a compare-and-set, so each is counted once whatever crashes. `check`
// counts a folded saga's effects from here instead of from its records,
// which may have expired.
type Checkpoint struct {
	V int `json:"v"`
	// Seq is the last sequence of the saga bucket's stream folded; Through
	// is that message's time. Records written later are not folded yet.
	Seq     uint64    `json:"seq"`
	Through time.Time `json:"through,omitzero"`
	// After is a time every record after Seq was written after: when the
	// folder last found nothing more to fold, it had asked at After. A
	// record after Seq expires no sooner than the later of Through and
	// After plus the bucket's TTL, so until then nothing unfolded is gone.
	After time.Time `json:"after,omitzero"`
	// Sagas counts the folded sagas by final status.
	Sagas map[SagaStatus]int64 `json:"sagas,omitempty"`
	// Charged is the cents the folded sagas left applied, by customer;
	// Reserved the units, by SKU; Shipments the shipments they booked.
	Charged   map[string]int64 `json:"charged,omitempty"`
	Reserved  map[string]int64 `json:"reserved,omitempty"`
	Shipments int64            `json:"shipments,omitempty"`
}

// Folded is the number of sagas the checkpoint counts.
func (c Checkpoint) Folded() int64 {
	var n int64
	for _, v := range c.Sagas {
		n += v
	}
	return n
}

// Keys in ControlBucket.
const (
	LoadKey = "load" // LoadSetting
	SeedKey = "seed" // Seed: what the accounts and stock started with
)

// FaultKey is the ControlBucket key of one fault.
func FaultKey(svc Service, kind FaultKind) string { return "fault." + string(svc) + "." + string(kind) }

// FaultKeys matches every fault in ControlBucket.
const FaultKeys = "fault.>"

// Seed records the initial accounts and stock, so `check` can prove money
// and stock are conserved.
type Seed struct {
	Accounts       int   `json:"accounts"`
	AccountBalance int64 `json:"account_balance_cents"`
	SKUs           int   `json:"skus"`
	StockPerSKU    int64 `json:"stock_per_sku"`
}

// TotalMoney is the money in the system at the start, in cents.
func (s Seed) TotalMoney() int64 { return int64(s.Accounts) * s.AccountBalance }

// TotalStock is the stock in the system at the start, in units.
func (s Seed) TotalStock() int64 { return int64(s.SKUs) * s.StockPerSKU }

// Order is what a customer asked for. It travels in every saga message so no
// step has to look it up.
type Order struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Amount   int64  `json:"amount_cents"`
}

// SagaStatus is where a saga is.
type SagaStatus string

// Saga statuses. Completed, Cancelled and CompensationFailed are final.
const (
	SagaCharging           SagaStatus = "charging"
	SagaReserving          SagaStatus = "reserving"
	SagaScheduling         SagaStatus = "scheduling"
	SagaCompensating       SagaStatus = "compensating"
	SagaCompleted          SagaStatus = "completed"
	SagaCancelled          SagaStatus = "cancelled"
	SagaCompensationFailed SagaStatus = "compensation_failed"
)

// Final reports whether no further step will run.
func (s SagaStatus) Final() bool {
	return s == SagaCompleted || s == SagaCancelled || s == SagaCompensationFailed
}

// Step names a saga step (its forward action; the compensation is named by
// the step it undoes).
type Step string

// The forward steps in order.
const (
	StepCharge   Step = "charge"
	StepReserve  Step = "reserve"
	StepSchedule Step = "schedule"
)

// StepState is the state of one step of one saga.
type StepState string

// Step states.
const (
	StepPending      StepState = "pending"      // command sent, no reply yet
	StepDone         StepState = "done"         // forward action applied
	StepRejected     StepState = "rejected"     // business rejection or gave up; nothing applied
	StepCompensating StepState = "compensating" // compensation sent, no reply yet
	StepCompensated  StepState = "compensated"  // compensation applied (or confirmed nothing to undo)
	StepFailed       StepState = "failed"       // compensation gave up
)

// Saga is the orchestrator's record of one saga, in SagaBucket under its id
// (which is the order id).
type Saga struct {
	V       int                `json:"v"`
	ID      string             `json:"id"`
	Order   Order              `json:"order"`
	Status  SagaStatus         `json:"status"`
	Steps   map[Step]StepState `json:"steps"`
	Reason  string             `json:"reason,omitempty"`
	Started time.Time          `json:"started"`
	Updated time.Time          `json:"updated"`
	// Deadline is when the step in flight times out and is compensated.
	Deadline time.Time `json:"deadline,omitzero"`
	// Attempt counts re-sends of the command in flight by the sweeper.
	Attempt int `json:"attempt,omitempty"`
	// Cause is the id of the message whose handling produced this state, so
	// a redelivery of that message after a crash re-sends the next command.
	Cause string `json:"cause,omitempty"`
}

// Steps lists the forward steps in order.
var Steps = []Step{StepCharge, StepReserve, StepSchedule}

// Balance is an account (cents) or the stock of one SKU (units), in
// AccountBucket or StockBucket. Applied remembers the last operations
// applied to it, so an operation retried after a crash between writing the
// balance and writing its Entry is not applied twice.
type Balance struct {
	Available int64    `json:"available"`
	Applied   []string `json:"applied,omitempty"`
}

// AppliedWindow is how many recent operations a Balance remembers: far more
// than can be in flight on one key between two writes of one handler.
const AppliedWindow = 64

// EntryStatus is the state of a charge or a reservation.
type EntryStatus string

// Entry statuses.
const (
	EntryApplied  EntryStatus = "applied"  // charged / reserved
	EntryReverted EntryStatus = "reverted" // refunded / released
	// EntryVoided is a tombstone written by a compensation that found
	// nothing to undo, so a late forward command is refused instead of
	// applied after its saga was cancelled.
	EntryVoided EntryStatus = "voided"
)

// Entry is one charge (ChargeBucket, cents) or reservation
// (ReservationBucket, units) of one order.
type Entry struct {
	Order   string      `json:"order"`
	Key     string      `json:"key"` // customer or sku
	Amount  int64       `json:"amount"`
	Status  EntryStatus `json:"status"`
	Updated time.Time   `json:"updated"`
}

// ShipmentStatus is the state of a shipment.
type ShipmentStatus string

// Shipment statuses.
const (
	ShipmentBooked ShipmentStatus = "scheduled"
	// ShipmentVoided is a tombstone left by a cancellation: a late schedule
	// command for the order is refused.
	ShipmentVoided ShipmentStatus = "cancelled"
)

// Shipment is a scheduled (or cancelled) shipment, in ShipmentBucket under
// the order id.
type Shipment struct {
	Order    string         `json:"order"`
	Status   ShipmentStatus `json:"status"`
	Carrier  string         `json:"carrier"`
	Tracking string         `json:"tracking"`
	Created  time.Time      `json:"created"`
}
