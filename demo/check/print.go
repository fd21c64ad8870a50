package check

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sagascope/sagascope/demo/contract"
)

// MaxPrinted is how many violations Print lists; the rest are counted.
const MaxPrinted = 20

// statusOrder is the order Print lists saga statuses in: the saga's own
// progression, then the outcomes.
var statusOrder = []contract.SagaStatus{
	contract.SagaCharging, contract.SagaReserving, contract.SagaScheduling, contract.SagaCompensating,
	contract.SagaCompleted, contract.SagaCancelled, contract.SagaCompensationFailed,
}

var entryOrder = []contract.EntryStatus{contract.EntryApplied, contract.EntryReverted, contract.EntryVoided}

// Print writes r for a person: a verdict line, the counts, the warnings,
// then one line per violation, at most MaxPrinted of them. Errors writing
// to w are ignored, as with fmt.Fprintf to a terminal.
func (r Report) Print(w io.Writer) {
	var b strings.Builder
	switch n := len(r.Violations); n {
	case 0:
		b.WriteString("sagascope check: OK\n")
	case 1:
		b.WriteString("sagascope check: FAILED, 1 violation\n")
	default:
		fmt.Fprintf(&b, "sagascope check: FAILED, %d violations\n", n)
	}
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	total := 0
	for _, n := range r.Sagas {
		total += n
	}
	line("sagas", "%d (%s), %d in flight, %d stuck", total, countList(r.Sagas, statusOrder, false), r.InFlight(), r.Stuck)
	line("charges", "%s", countList(r.Charges, entryOrder, true))
	line("reservations", "%s", countList(r.Reservations, entryOrder, true))
	line("shipments", "%d", r.Shipments)
	if c := r.Checkpoint; c.Seq > 0 || r.RecordTTL > 0 {
		folded := map[contract.SagaStatus]int{}
		for st, n := range c.Sagas {
			folded[st] = int(n)
		}
		line("folded", "%d sagas (%s), %d shipments, through sequence %d; %d of them still have records",
			c.Folded(), countList(folded, statusOrder, false), c.Shipments, c.Seq, r.FoldedWithRecords)
		if r.RecordTTL > 0 {
			line("records", "expire %s after their last write; money and stock count the folded sagas in their place", r.RecordTTL)
		}
	}
	line("money", "start %d, now %d cents (balances + applied charges%s)", r.MoneyStart, r.MoneyNow, r.foldedTerm())
	line("stock", "start %d, now %d units (balances + applied reservations%s)", r.StockStart, r.StockNow, r.foldedTerm())
	line("dead letters", "%d", r.DeadLetters)
	var streams []string
	for _, svc := range contract.Services {
		name := contract.StreamName(svc)
		if n, ok := r.Streams[name]; ok {
			streams = append(streams, fmt.Sprintf("%s %d", name, n))
		}
	}
	line("streams", "%s", orNone(strings.Join(streams, ", ")))
	if r.Reads > 1 {
		line("reads", "%d (re-read for a conservation mismatch while sagas were in flight)", r.Reads)
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warning)
	}
	for i, v := range r.Violations {
		if i == MaxPrinted {
			fmt.Fprintf(&b, "... and %d more\n", len(r.Violations)-MaxPrinted)
			break
		}
		fmt.Fprintf(&b, "violation: %s\n", v)
	}
	_, _ = io.WriteString(w, b.String())
}

// countList formats counts as "a 1, b 2" in the given order, then any keys
// not in it, sorted and quoted. zeros keeps the ordered keys that have no count.
func countList[K ~string](counts map[K]int, order []K, zeros bool) string {
	var parts []string
	for _, k := range order {
		if n := counts[k]; n > 0 || zeros {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(order, k) {
			parts = append(parts, fmt.Sprintf("%q %d", string(k), counts[k])) // not a known status: show it exactly
		}
	}
	return orNone(strings.Join(parts, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (r Report) foldedTerm() string {
	if r.Checkpoint.Seq == 0 {
		return ""
	}
	return " + folded"
}
