package check

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/internal/golden"
)

// failingReport has one of everything Print shows.
func failingReport() Report {
	return Report{
		Sagas: map[contract.SagaStatus]int{
			contract.SagaCompleted: 9120, contract.SagaCancelled: 801, contract.SagaCompensationFailed: 2,
			contract.SagaCharging: 40, contract.SagaScheduling: 3, "paused": 1,
		},
		Stuck:        1,
		Charges:      map[contract.EntryStatus]int{contract.EntryApplied: 9163, contract.EntryReverted: 700},
		Reservations: map[contract.EntryStatus]int{contract.EntryApplied: 9123, contract.EntryReverted: 60, contract.EntryVoided: 740},
		Shipments:    9120,
		MoneyStart:   100_000_000_000, MoneyNow: 99_999_998_750,
		StockStart: 10_000_000_000, StockNow: 10_000_000_000,
		DeadLetters: 17,
		Streams:     map[string]uint64{"SAGA_ORDERS": 40210, "SAGA_PAYMENT": 21003, "SAGA_INVENTORY": 20044, "SAGA_SHIPPING": 18243},
		Violations: []Violation{
			{RuleSagaFinished, "order-77", "still charging 2m14s past its deadline (grace 30s)"},
			{RuleMoneyConserved, contract.AccountBucket, "balances 99999835500 + applied charges 163250 = 99999998750 cents, seeded 100000000000 (1250 cents missing)"},
			{RuleAccountBalance, "cust-0042", "available 99998750 cents, want 100000000 = seeded 100000000 - applied charges 0 (1250 cents missing)"},
		},
		Warnings: []string{"2 sagas parked as compensation_failed (a compensation kept failing; settle by hand): order-3, order-9"},
		Reads:    4,
	}
}

func TestPrintMatchesGolden(t *testing.T) {
	tests := []struct {
		name   string
		report Report
		file   string
	}{
		{"a failing report lists counts, warnings and violations", failingReport(), "failing.golden"},
		{"an empty report says OK and prints none for empty counts", Report{}, "empty.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.report.Print(&b)
			golden.Check(t, tt.file, b.String())
		})
	}
}

func TestPrintKeyLines(t *testing.T) {
	many := failingReport()
	many.Violations = nil
	for i := range MaxPrinted + 5 {
		many.Violations = append(many.Violations, Violation{RuleOrphanEffect, fmt.Sprintf("order-%02d", i), "shipment but no saga"})
	}
	tests := []struct {
		name   string
		report Report
		want   []string // lines that must appear, each whole
		absent []string // substrings that must not appear
	}{
		{
			name:   "a failing report starts with the verdict and the violation count",
			report: failingReport(),
			want: []string{
				"sagascope check: FAILED, 3 violations",
				`sagas         9967 (charging 40, scheduling 3, completed 9120, cancelled 801, compensation_failed 2, "paused" 1), 44 in flight, 1 stuck`,
				"money         start 100000000000, now 99999998750 cents (balances + applied charges)",
				"reads         4 (re-read for a conservation mismatch while sagas were in flight)",
				"warning: 2 sagas parked as compensation_failed (a compensation kept failing; settle by hand): order-3, order-9",
				"violation: account-balance cust-0042: available 99998750 cents, want 100000000 = seeded 100000000 - applied charges 0 (1250 cents missing)",
			},
		},
		{
			name:   "more violations than MaxPrinted are cut with a count of the rest",
			report: many,
			want: []string{
				fmt.Sprintf("sagascope check: FAILED, %d violations", MaxPrinted+5),
				"violation: orphan-effect order-00: shipment but no saga",
				fmt.Sprintf("violation: orphan-effect order-%02d: shipment but no saga", MaxPrinted-1),
				"... and 5 more",
			},
			absent: []string{fmt.Sprintf("order-%02d", MaxPrinted)},
		},
		{
			name:   "a report read once does not mention re-reads",
			report: Report{Reads: 1},
			want:   []string{"sagascope check: OK"},
			absent: []string{"reads"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.report.Print(&b)
			lines := strings.Split(b.String(), "\n")
			for _, want := range tt.want {
				if !slices.Contains(lines, want) {
					t.Errorf("missing line %q in:\n%s", want, b.String())
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(b.String(), bad) {
					t.Errorf("output contains %q:\n%s", bad, b.String())
				}
			}
		})
	}
}
