package contract

import "strings"

// Version is the schema version carried by every envelope, status and
// control message.
const Version = 1

// Prefix starts every subject sagascope publishes, so the demo can share a
// NATS account with other systems without colliding with them.
const Prefix = "saga.v1"

// Service names a bounded context. Each has its own stream, its own durable
// consumers and its own control endpoints.
type Service string

// The four demo services, in saga order.
const (
	Orders    Service = "orders"
	Payment   Service = "payment"
	Inventory Service = "inventory"
	Shipping  Service = "shipping"
)

// Services lists every service in saga order.
var Services = []Service{Orders, Payment, Inventory, Shipping}

// Valid reports whether s is one of Services.
func (s Service) Valid() bool {
	for _, v := range Services {
		if s == v {
			return true
		}
	}
	return false
}

// ParseServices parses a comma-separated list ("orders,payment"); an empty
// list means all services.
func ParseServices(list string) ([]Service, error) {
	if strings.TrimSpace(list) == "" {
		return append([]Service(nil), Services...), nil
	}
	var out []Service
	seen := map[Service]bool{}
	for _, name := range strings.Split(list, ",") {
		s := Service(strings.TrimSpace(name))
		if !s.Valid() {
			return nil, &UnknownServiceError{Name: string(s)}
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// UnknownServiceError names a service that is not part of the demo.
type UnknownServiceError struct{ Name string }

func (e *UnknownServiceError) Error() string {
	return "unknown service " + quote(e.Name) + " (want one of orders, payment, inventory, shipping)"
}

func quote(s string) string { return `"` + s + `"` }

// Message types. A type is "<service>.<name>"; commands are addressed to the
// service that executes them, events are published by the service that
// observed them. The subject of a message is Subject(type).
const (
	PlaceOrder        = "orders.place"               // command: load generator -> orders
	OrderCompleted    = "orders.completed"           // event: saga finished, all steps done
	OrderCancelled    = "orders.cancelled"           // event: saga compensated, Reason says why
	OrderCompFailed   = "orders.compensation_failed" // event: a compensation kept failing; parked
	ChargePayment     = "payment.charge"             // command: orders -> payment
	RefundPayment     = "payment.refund"             // command (compensation)
	PaymentCharged    = "payment.charged"            // event
	PaymentDeclined   = "payment.declined"           // event: business rejection, nothing charged
	PaymentFailed     = "payment.charge_failed"      // event: gave up after retries, nothing charged
	PaymentRefunded   = "payment.refunded"           // event
	RefundFailed      = "payment.refund_failed"      // event: compensation gave up
	ReserveStock      = "inventory.reserve"          // command
	ReleaseStock      = "inventory.release"          // command (compensation)
	StockReserved     = "inventory.reserved"         // event
	StockRejected     = "inventory.rejected"         // event: out of stock, nothing reserved
	ReserveFailed     = "inventory.reserve_failed"   // event: gave up after retries
	StockReleased     = "inventory.released"         // event
	ReleaseFailed     = "inventory.release_failed"   // event: compensation gave up
	ScheduleShipment  = "shipping.schedule"          // command
	CancelShipment    = "shipping.cancel"            // command (compensation)
	ShipmentScheduled = "shipping.scheduled"         // event
	ShipmentFailed    = "shipping.schedule_failed"   // event: no carrier, or gave up after retries
	ShipmentCancelled = "shipping.cancelled"         // event
)

// Commands maps each command type to the service that executes it.
var Commands = map[string]Service{
	PlaceOrder:       Orders,
	ChargePayment:    Payment,
	RefundPayment:    Payment,
	ReserveStock:     Inventory,
	ReleaseStock:     Inventory,
	ScheduleShipment: Shipping,
	CancelShipment:   Shipping,
}

// Events lists every event type.
var Events = []string{
	OrderCompleted, OrderCancelled, OrderCompFailed,
	PaymentCharged, PaymentDeclined, PaymentFailed, PaymentRefunded, RefundFailed,
	StockReserved, StockRejected, ReserveFailed, StockReleased, ReleaseFailed,
	ShipmentScheduled, ShipmentFailed, ShipmentCancelled,
}

// IsCommand reports whether t is a command type.
func IsCommand(t string) bool { _, ok := Commands[t]; return ok }

// KnownType reports whether t is a command or event type of this version.
func KnownType(t string) bool {
	if IsCommand(t) {
		return true
	}
	for _, e := range Events {
		if e == t {
			return true
		}
	}
	return false
}

// Subject is where a message of type t is published:
// saga.v1.<service>.cmd.<name> for commands, saga.v1.<service>.evt.<name>
// for events.
func Subject(t string) string {
	svc, name, _ := strings.Cut(t, ".")
	kind := "evt"
	if IsCommand(t) {
		kind = "cmd"
	}
	return Prefix + "." + svc + "." + kind + "." + name
}

// TypeOf is the inverse of Subject; ok is false for subjects outside the
// saga streams.
func TypeOf(subject string) (t string, ok bool) {
	rest, found := strings.CutPrefix(subject, Prefix+".")
	if !found {
		return "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || (parts[1] != "cmd" && parts[1] != "evt") {
		return "", false
	}
	return parts[0] + "." + parts[2], true
}

// CommandSubjects is the filter of the durable consumer that executes svc's
// commands.
func CommandSubjects(svc Service) string { return Prefix + "." + string(svc) + ".cmd.>" }

// EventSubjects matches every event svc publishes.
func EventSubjects(svc Service) string { return Prefix + "." + string(svc) + ".evt.>" }

// ServiceSubjects matches everything in svc's stream.
func ServiceSubjects(svc Service) string { return Prefix + "." + string(svc) + ".>" }

// DeadLetterSubject is where messages svc could not process are copied,
// with headers saying why (see DeadLetter* headers).
func DeadLetterSubject(svc Service) string { return Prefix + ".deadletter." + string(svc) }

// DeadLetterSubjects matches every dead letter.
const DeadLetterSubjects = Prefix + ".deadletter.>"

// StatusSubject is where one instance of svc publishes its Status about twice
// a second (core NATS, not stored).
func StatusSubject(svc Service, instance string) string {
	return Prefix + ".status." + string(svc) + "." + instance
}

// StatusSubjects matches every instance's status.
const StatusSubjects = Prefix + ".status.>"

// Control API subjects, served by every instance through a NATS micro
// service (see ServiceName). Requests and replies are JSON; see control.go.
const (
	ControlPrefix     = Prefix + ".control"
	FaultSetSubject   = ControlPrefix + ".faults.set"   // FaultRequest -> FaultReply
	FaultClearSubject = ControlPrefix + ".faults.clear" // ClearRequest -> FaultReply
	FaultListSubject  = ControlPrefix + ".faults.list"  // {} -> FaultReply
	FaultResetSubject = ControlPrefix + ".faults.reset" // {} -> FaultReply
	LoadSetSubject    = ControlPrefix + ".load.set"     // LoadRequest -> LoadReply
	LoadGetSubject    = ControlPrefix + ".load.get"     // {} -> LoadReply
)

// StatusQuerySubject answers with the Status of one instance of svc.
func StatusQuerySubject(svc Service) string { return ControlPrefix + ".status." + string(svc) }

// ServiceName is the NATS micro service name an instance of svc registers,
// as `nats micro ls` shows it.
func ServiceName(svc Service) string { return "sagascope-" + string(svc) }
