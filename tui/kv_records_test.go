package tui

import (
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

func TestTheSagaBucketsValuesDecodeIntoTheirRecords(t *testing.T) {
	at := fixtureTime
	tests := []struct {
		bucket, key string
		value       any
		kind, line  string
	}{
		{contract.SagaBucket, "o-1", contract.Saga{ID: "o-1", Status: contract.SagaCompensationFailed, Steps: map[contract.Step]contract.StepState{contract.StepCharge: contract.StepFailed}, Reason: "refund keeps failing"},
			"saga", "PARKED · charge ⚠ failed · refund keeps failing"},
		{contract.AccountBucket, "cust-1", contract.Balance{Available: 900, Applied: []string{"a", "b"}}, "balance", "available 900 · 2 recent operations"},
		{contract.StockBucket, "sku-1", contract.Balance{Available: 3}, "balance", "available 3 · 0 recent operations"},
		{contract.ChargeBucket, "o-1", contract.Entry{Order: "o-1", Key: "cust-1", Amount: 4200, Status: contract.EntryReverted, Updated: at}, "entry", "reverted · 4200 · cust-1"},
		{contract.ReservationBucket, "o-1", contract.Entry{Order: "o-1", Key: "sku-1", Amount: 2, Status: contract.EntryVoided}, "entry", "voided · 2 · sku-1"},
		{contract.ShipmentBucket, "o-1", contract.Shipment{Order: "o-1", Status: contract.ShipmentBooked, Carrier: "acme", Tracking: "T1"}, "shipment", "scheduled · acme T1"},
		{contract.CheckpointBucket, contract.CheckpointKey, contract.Checkpoint{Seq: 40, Sagas: map[contract.SagaStatus]int64{contract.SagaCompleted: 9, contract.SagaCancelled: 1}}, "checkpoint", "10 sagas folded through seq 40"},
		{contract.ControlBucket, contract.LoadKey, contract.LoadSetting{Rate: 20, Burst: 500}, "load", "rate 20/s · last burst 500"},
		{contract.ControlBucket, contract.SeedKey, contract.Seed{Accounts: 1000, AccountBalance: 100_000, SKUs: 1000, StockPerSKU: 50}, "seed", "1000 accounts × 1000.00 · 1000 skus × 50"},
		{contract.ControlBucket, contract.FaultKey(contract.Payment, contract.FaultLatency), contract.Fault{Service: contract.Payment, Kind: contract.FaultLatency, Latency: 300 * time.Millisecond}, "fault", "payment latency · " + faultParams(contract.Fault{Kind: contract.FaultLatency, Latency: 300 * time.Millisecond})},
	}
	for _, tt := range tests {
		r, ok := decodeRecord(tt.bucket, tt.key, jsonOf(t, tt.value))
		if !ok || r.kind != tt.kind || r.summary != tt.line || len(r.fields) == 0 {
			t.Errorf("%s/%s: %v %q %q, want %q %q", tt.bucket, tt.key, ok, r.kind, r.summary, tt.kind, tt.line)
		}
	}
	for _, x := range []struct{ bucket, key, value string }{
		{contract.SagaBucket, "o-1", "not json"},
		{"someone_elses", "k", `{"id":"x"}`},
		{contract.ControlBucket, "other", `{}`},
	} {
		if r, ok := decodeRecord(x.bucket, x.key, []byte(x.value)); ok {
			t.Errorf("%s/%s %q decoded as %+v: want the raw value", x.bucket, x.key, x.value, r)
		}
	}
}
