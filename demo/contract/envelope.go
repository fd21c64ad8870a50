package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Headers set on saga messages.
const (
	// MsgIDHeader de-duplicates publishes within the stream's duplicate window.
	MsgIDHeader = "Nats-Msg-Id"
	// SagaHeader carries the saga id so observers can follow a saga without
	// decoding payloads.
	SagaHeader = "Saga-Id"
	// Dead-letter headers say where a message came from and why it was
	// dead-lettered.
	DeadLetterReason     = "Saga-Dead-Reason"
	DeadLetterFrom       = "Saga-Dead-Subject"
	DeadLetterFromStream = "Saga-Dead-Stream"
	DeadLetterSeq        = "Saga-Dead-Sequence"
	DeadLetterConsumer   = "Saga-Dead-Consumer"
)

// Envelope is every saga message: commands and events alike. The order
// travels with it so no step has to look it up.
type Envelope struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// ID is unique per logical message and is also its Nats-Msg-Id, so a
	// re-publish after a crash is de-duplicated by the stream.
	ID string `json:"id"`
	// SagaID is the order id.
	SagaID string `json:"saga_id"`
	// CausationID is the ID of the message whose handling produced this one.
	CausationID string    `json:"causation_id,omitempty"`
	Time        time.Time `json:"time"`
	Order       Order     `json:"order"`
	// Reason explains a rejection, a failure or a cancellation.
	Reason string `json:"reason,omitempty"`
}

// MaxPayload is the largest envelope a service accepts; larger ones are
// dead-lettered.
const MaxPayload = 16 << 10

// ErrMalformed wraps every reason Decode refuses a message. Such a message
// can never succeed, so it is dead-lettered, not retried.
var ErrMalformed = errors.New("malformed message")

// NewEnvelope builds the message of type t for order o, caused by cause
// (nil for the first message of a saga). Its ID is derived from the saga
// and the type (plus attempt when a sweeper re-sends), so a retried handler
// publishes the same ID and the stream drops the duplicate.
func NewEnvelope(t string, o Order, cause *Envelope, attempt int, now time.Time) Envelope {
	e := Envelope{V: Version, Type: t, SagaID: o.ID, Order: o, Time: now.UTC()}
	e.ID = o.ID + ":" + t
	if attempt > 0 {
		e.ID += fmt.Sprintf(":%d", attempt)
	}
	if cause != nil {
		e.CausationID = cause.ID
	}
	return e
}

// Encode marshals e.
func (e Envelope) Encode() ([]byte, error) { return json.Marshal(e) }

// Decode parses and validates a message received on subject. Every error
// wraps ErrMalformed and says what is wrong.
func Decode(subject string, data []byte) (Envelope, error) {
	var e Envelope
	if len(data) > MaxPayload {
		return e, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrMalformed, len(data), MaxPayload)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%w: not JSON: %v", ErrMalformed, err)
	}
	if e.V != Version {
		return e, fmt.Errorf("%w: schema version %d, want %d", ErrMalformed, e.V, Version)
	}
	if !KnownType(e.Type) {
		return e, fmt.Errorf("%w: unknown type %q", ErrMalformed, e.Type)
	}
	if t, ok := TypeOf(subject); ok && t != e.Type {
		return e, fmt.Errorf("%w: type %q published on %s", ErrMalformed, e.Type, subject)
	}
	if e.ID == "" || e.SagaID == "" {
		return e, fmt.Errorf("%w: missing id or saga_id", ErrMalformed)
	}
	if err := e.Order.Validate(); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Order.ID != e.SagaID {
		return e, fmt.Errorf("%w: saga_id %q does not match order id %q", ErrMalformed, e.SagaID, e.Order.ID)
	}
	return e, nil
}

// Validate checks an order can be processed. Ids are used as KV keys, so
// they are restricted to key-safe characters.
func (o Order) Validate() error {
	switch {
	case !keySafe(o.ID):
		return fmt.Errorf("order id %q is not 1-64 of [A-Za-z0-9_-]", o.ID)
	case !keySafe(o.Customer):
		return fmt.Errorf("customer %q is not 1-64 of [A-Za-z0-9_-]", o.Customer)
	case !keySafe(o.SKU):
		return fmt.Errorf("sku %q is not 1-64 of [A-Za-z0-9_-]", o.SKU)
	case o.Qty <= 0 || o.Qty > 1000:
		return fmt.Errorf("qty %d is not in 1..1000", o.Qty)
	case o.Amount <= 0 || o.Amount > 1_000_000_00:
		return fmt.Errorf("amount %d cents is not in 1..100000000", o.Amount)
	}
	return nil
}

func keySafe(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
