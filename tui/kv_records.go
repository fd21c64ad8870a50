package tui

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// kvRecord is a value of one of the saga's buckets decoded into its
// record (demo/contract): a line for the key list and its fields. The
// strings come from whoever wrote the bucket: they are cleaned when drawn.
type kvRecord struct {
	kind    string
	summary string
	fields  [][2]string
}

// decodeRecord decodes value as the record bucket holds under key; ok is
// false for a bucket that is not the saga's and a value that does not
// decode.
func decodeRecord(bucket, key string, value []byte) (kvRecord, bool) {
	switch bucket {
	case contract.SagaBucket:
		return decodeAs(value, sagaRecord)
	case contract.AccountBucket, contract.StockBucket:
		return decodeAs(value, balanceRecord)
	case contract.ChargeBucket, contract.ReservationBucket:
		return decodeAs(value, entryRecord)
	case contract.ShipmentBucket:
		return decodeAs(value, shipmentRecord)
	case contract.CheckpointBucket:
		if key == contract.CheckpointKey {
			return decodeAs(value, checkpointRecord)
		}
	case contract.ControlBucket:
		switch {
		case key == contract.LoadKey:
			return decodeAs(value, loadRecord)
		case key == contract.SeedKey:
			return decodeAs(value, seedRecord)
		case strings.HasPrefix(key, "fault."):
			return decodeAs(value, faultRecord)
		}
	}
	return kvRecord{}, false
}

func decodeAs[T any](value []byte, record func(T) kvRecord) (kvRecord, bool) {
	var x T
	if json.Unmarshal(value, &x) != nil {
		return kvRecord{}, false
	}
	return record(x), true
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func sagaRecord(s contract.Saga) kvRecord {
	var steps []string
	for _, st := range contract.Steps {
		if s.Steps[st] != "" { // a step not reached yet says nothing
			steps = append(steps, string(st)+" "+stepText(s.Steps[st]))
		}
	}
	summary := strings.Join(append([]string{statusText(s.Status)}, steps...), " · ")
	if s.Reason != "" {
		summary += " · " + s.Reason
	}
	o := s.Order
	r := kvRecord{kind: "saga", summary: summary, fields: [][2]string{
		{"id", s.ID},
		{"status", statusText(s.Status)},
		{"order", fmt.Sprintf("customer %s · sku %s × %d · %s", o.Customer, o.SKU, o.Qty, cents(o.Amount))},
	}}
	for _, st := range contract.Steps {
		r.fields = append(r.fields, [2]string{string(st), stepText(s.Steps[st])})
	}
	if s.Reason != "" {
		r.fields = append(r.fields, [2]string{"reason", s.Reason})
	}
	r.fields = append(r.fields, [2]string{"started", stamp(s.Started)}, [2]string{"updated", stamp(s.Updated)})
	if !s.Deadline.IsZero() {
		r.fields = append(r.fields, [2]string{"deadline", stamp(s.Deadline)})
	}
	if s.Attempt > 0 {
		r.fields = append(r.fields, [2]string{"attempt", fmt.Sprint(s.Attempt)})
	}
	if s.Cause != "" {
		r.fields = append(r.fields, [2]string{"cause", s.Cause})
	}
	return r
}

func balanceRecord(b contract.Balance) kvRecord {
	return kvRecord{kind: "balance", summary: fmt.Sprintf("available %d · %d recent operations", b.Available, len(b.Applied)), fields: [][2]string{
		{"available", fmt.Sprint(b.Available)},
		{"applied", strings.Join(b.Applied, " ")},
	}}
}

func entryRecord(e contract.Entry) kvRecord {
	return kvRecord{kind: "entry", summary: fmt.Sprintf("%s · %d · %s", e.Status, e.Amount, e.Key), fields: [][2]string{
		{"order", e.Order}, {"key", e.Key}, {"amount", fmt.Sprint(e.Amount)}, {"status", string(e.Status)}, {"updated", stamp(e.Updated)},
	}}
}

func shipmentRecord(s contract.Shipment) kvRecord {
	return kvRecord{kind: "shipment", summary: fmt.Sprintf("%s · %s %s", s.Status, s.Carrier, s.Tracking), fields: [][2]string{
		{"order", s.Order}, {"status", string(s.Status)}, {"carrier", s.Carrier}, {"tracking", s.Tracking}, {"created", stamp(s.Created)},
	}}
}

func checkpointRecord(c contract.Checkpoint) kvRecord {
	var outcomes []string
	for _, st := range []contract.SagaStatus{contract.SagaCompleted, contract.SagaCancelled, contract.SagaCompensationFailed} {
		if n := c.Sagas[st]; n > 0 {
			outcomes = append(outcomes, fmt.Sprintf("%s %d", statusText(st), n))
		}
	}
	var charged, reserved int64
	for _, n := range c.Charged {
		charged += n
	}
	for _, n := range c.Reserved {
		reserved += n
	}
	summary := fmt.Sprintf("%d sagas folded through seq %d", c.Folded(), c.Seq)
	return kvRecord{kind: "checkpoint", summary: summary, fields: [][2]string{
		{"folded", fmt.Sprintf("%d sagas · %s", c.Folded(), strings.Join(outcomes, " · "))},
		{"through", fmt.Sprintf("seq %d · %s", c.Seq, stamp(c.Through))},
		{"caught up", stamp(c.After)},
		{"charged", fmt.Sprintf("%s on %d customers", cents(charged), len(c.Charged))},
		{"reserved", fmt.Sprintf("%d units of %d skus", reserved, len(c.Reserved))},
		{"shipments", fmt.Sprint(c.Shipments)},
	}}
}

func loadRecord(l contract.LoadSetting) kvRecord {
	return kvRecord{kind: "load", summary: fmt.Sprintf("rate %s/s · last burst %d", rate(l.Rate), l.Burst), fields: [][2]string{
		{"rate", rate(l.Rate) + "/s"}, {"burst", fmt.Sprint(l.Burst)}, {"burst id", fmt.Sprint(l.BurstID)}, {"updated", stamp(l.Updated)},
	}}
}

func seedRecord(s contract.Seed) kvRecord {
	return kvRecord{kind: "seed", summary: fmt.Sprintf("%d accounts × %s · %d skus × %d", s.Accounts, cents(s.AccountBalance), s.SKUs, s.StockPerSKU), fields: [][2]string{
		{"accounts", fmt.Sprint(s.Accounts)}, {"balance", cents(s.AccountBalance)}, {"skus", fmt.Sprint(s.SKUs)}, {"stock", fmt.Sprint(s.StockPerSKU)},
	}}
}

func faultRecord(f contract.Fault) kvRecord {
	summary := fmt.Sprintf("%s %s", f.Service, f.Kind)
	if p := faultParams(f); p != "" {
		summary += " · " + p
	}
	r := kvRecord{kind: "fault", summary: summary, fields: [][2]string{
		{"service", string(f.Service)}, {"kind", string(f.Kind)}, {"parameters", faultParams(f)}, {"set", stamp(f.Set)},
	}}
	if !f.Expires.IsZero() {
		r.fields = append(r.fields, [2]string{"expires", stamp(f.Expires)})
	}
	return r
}
