package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

func TestSagaRecordSamplesOnlySagasPlacedInTheWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	from, to := t0.Add(time.Second), t0.Add(2*time.Second)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	rec := sagaRecord{
		"before":    {placed: at(999), ended: at(1005), outcome: contract.OrderCompleted},
		"first":     {placed: at(1000), ended: at(1004), outcome: contract.OrderCompleted},
		"slow":      {placed: at(1500), ended: at(1530), outcome: contract.OrderCompleted},
		"cancelled": {placed: at(1600), ended: at(1601), outcome: contract.OrderCancelled},
		"parked":    {placed: at(1700), ended: at(1701), outcome: contract.OrderCompFailed},
		"unended":   {placed: at(1800)},
		"at end":    {placed: at(2000), ended: at(2001), outcome: contract.OrderCompleted},
		// A final event whose placement was stored before the read began.
		"only end": {ended: at(1200), outcome: contract.OrderCompleted},
	}
	for i := range 8 {
		rec[fmt.Sprint("fast", i)] = &sagaTimes{placed: at(1100 + i), ended: at(1102 + i), outcome: contract.OrderCompleted}
	}
	var l Latency
	rec.result(&l, from, to)
	want := Latency{Window: time.Second, Placed: 13, Sagas: 10, Cancelled: 2, Incomplete: 1,
		P50: 2 * time.Millisecond, P99: 30 * time.Millisecond, Max: 30 * time.Millisecond}
	if l != want {
		t.Errorf("got %+v\nwant %+v", l, want)
	}
}

func TestQuantileIsNearestRank(t *testing.T) {
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, 1}, {0.1, 1}, {0.11, 2}, {0.5, 5}, {0.99, 10}, {1, 10},
	}
	for _, tt := range tests {
		if got := quantile(sorted, tt.q); got != tt.want {
			t.Errorf("quantile(%g) = %d, want %d", tt.q, got, tt.want)
		}
	}
}
