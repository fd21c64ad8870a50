package system_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/demo/topology"
)

// caseHeader names each bad message, so its dead letter can be found: the
// dead-letter copy keeps the original's headers.
const caseHeader = "Badinput-Case"

// badEnvelope is a well-formed charge command for a saga that does not
// exist, changed by edit before it is encoded.
func badEnvelope(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	o := contract.Order{ID: "bad-1", Customer: topology.CustomerID(0), SKU: topology.SKU(0), Qty: 1, Amount: 100}
	data, err := contract.NewEnvelope(contract.ChargePayment, o, nil, 0, time.Now()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return data
}

func orderField(m map[string]any) map[string]any { return m["order"].(map[string]any) }

// TestBadInputIsDeadLetteredAndThePipelineKeepsGoing publishes, through an
// ordinary client, every kind of bad message into the saga subjects while
// sagas run: each lands in the dead-letter stream, as sent, with the
// subject it came from and the reason it was refused, and sagas keep
// completing with money and stock conserved.
func TestBadInputIsDeadLetteredAndThePipelineKeepsGoing(t *testing.T) {
	r := demo(t, 20, nil)
	r.waitCompleted(t, 5, "sagas complete before the bad input")

	charge := contract.Subject(contract.ChargePayment)
	cases := []struct {
		name    string
		subject string
		data    []byte
		header  map[string]string
		reason  string // a part of the dead letter's reason
	}{
		{name: "truncated JSON", subject: charge, data: []byte(`{"v":1,"type":"payment.charge","id":`), reason: "not JSON"},
		{name: "binary bytes", subject: contract.Subject(contract.PlaceOrder), data: []byte("\x00\xff\xfe\x01\x80poison"), reason: "not JSON"},
		{name: "an empty body", subject: contract.Subject(contract.ReserveStock), data: nil, reason: "not JSON"},
		{
			name:    "an unknown event type",
			subject: contract.Prefix + ".payment.evt.exploded",
			data:    badEnvelope(t, func(m map[string]any) { m["type"] = "payment.exploded" }),
			reason:  `unknown type "payment.exploded"`,
		},
		{name: "a newer schema version", subject: charge, data: badEnvelope(t, func(m map[string]any) { m["v"] = 2 }), reason: "schema version 2, want 1"},
		{name: "no schema version", subject: charge, data: badEnvelope(t, func(m map[string]any) { delete(m, "v") }), reason: "schema version 0, want 1"},
		{
			name:    "a payload over the services' limit",
			subject: charge,
			data:    badEnvelope(t, func(m map[string]any) { m["reason"] = strings.Repeat("A", contract.MaxPayload) }),
			reason:  fmt.Sprintf("exceeds %d", contract.MaxPayload),
		},
		{
			name:    "a type published on another type's subject",
			subject: contract.Subject(contract.ScheduleShipment),
			data:    badEnvelope(t, func(map[string]any) {}),
			reason:  `type "payment.charge" published on ` + contract.Subject(contract.ScheduleShipment),
		},
		{
			name:    "an OSC 52 clipboard write in a field",
			subject: charge,
			data:    badEnvelope(t, func(m map[string]any) { orderField(m)["customer"] = "\x1b]52;c;ZXZpbA==\x07" }),
			reason:  `customer "\x1b]52;c;ZXZpbA==\a" is not`,
		},
		{
			name:    "a screen clear in the type",
			subject: contract.Subject(contract.StockReserved),
			data:    badEnvelope(t, func(m map[string]any) { m["type"] = "inventory.reserved\x1b[2J" }),
			reason:  `unknown type "inventory.reserved\x1b[2J"`,
		},
		{
			name:    "escape sequences in a header",
			subject: charge,
			data:    badEnvelope(t, func(m map[string]any) { orderField(m)["qty"] = -1 }),
			header:  map[string]string{contract.SagaHeader: "\x1b[31mred\x1b]0;title\x07"},
			reason:  "qty -1 is not in 1..1000",
		},
	}
	ctx := requestCtx(t)
	for _, c := range cases {
		msg := nats.NewMsg(c.subject)
		msg.Data = c.data
		msg.Header.Set(caseHeader, c.name)
		msg.Header.Set(contract.MsgIDHeader, "badinput:"+c.name)
		for k, v := range c.header {
			msg.Header.Set(k, v)
		}
		if _, err := r.js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish %s: %v", c.name, err)
		}
	}
	// Past the server's own limit a message is refused at the client and
	// never stored.
	if _, err := r.js.Publish(ctx, charge, make([]byte, 1<<20+1)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publishing past the server's max payload: %v, want %v", err, nats.ErrMaxPayload)
	}

	dead := map[string]*nats.Msg{}
	systemtest.WaitFor(t, eventually, "every bad message is dead-lettered", func() error {
		for _, m := range streamMessages(t, r.js, contract.DeadLetterStream) {
			if name := m.Header.Get(caseHeader); name != "" {
				dead[name] = &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
			}
		}
		if len(dead) < len(cases) {
			return fmt.Errorf("%d of %d dead-lettered", len(dead), len(cases))
		}
		return nil
	})
	for _, c := range cases {
		d := dead[c.name]
		if got := d.Header.Get(contract.DeadLetterReason); !strings.Contains(got, c.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", c.name, got, c.reason)
		}
		if got := d.Header.Get(contract.DeadLetterFrom); got != c.subject {
			t.Errorf("%s: came from %q, want %q", c.name, got, c.subject)
		}
		if string(d.Data) != string(c.data) {
			t.Errorf("%s: the dead letter holds %d bytes, not the %d sent", c.name, len(d.Data), len(c.data))
		}
		// The reason quotes what it refuses, so what the message carried
		// reaches a terminal that prints the header only as text.
		if i := strings.IndexFunc(d.Header.Get(contract.DeadLetterReason), func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
			t.Errorf("%s: the reason carries a control character: %q", c.name, d.Header.Get(contract.DeadLetterReason))
		}
	}

	r.waitCompleted(t, 20, "sagas keep completing after the bad input")
	r.settle(t)
	r.mustCheck(t)
}
