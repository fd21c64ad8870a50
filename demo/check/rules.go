package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// maxWarnedIDs is how many parked saga ids a warning names; the count is
// always complete.
const maxWarnedIDs = 5

// evaluate applies every rule to one snapshot. Violations come grouped in
// rule order, each group sorted by subject, so two reports of the same data
// are identical.
func evaluate(s *snapshot, grace time.Duration, now time.Time) Report {
	r := Report{
		Sagas:        map[contract.SagaStatus]int{},
		Charges:      countEntries(s.charges),
		Reservations: countEntries(s.reservations),
		Shipments:    booked(s.shipments),
		MoneyStart:   s.seed.TotalMoney(),
		StockStart:   s.seed.TotalStock(),
		DeadLetters:  s.deadLetters,
		Streams:      s.streams,
		Violations:   slices.Clone(s.malformed),
	}
	ids := slices.Sorted(maps.Keys(s.sagas))

	var parked []string
	for _, id := range ids {
		sg := s.sagas[id]
		r.Sagas[sg.Status]++
		switch {
		case sg.Status == contract.SagaCompensationFailed:
			parked = append(parked, id)
		case !sg.Status.Final():
			if v, stuck := stuckSaga(id, sg, grace, now); stuck {
				r.Stuck++
				r.Violations = append(r.Violations, v)
			}
		}
	}

	money := quantity{
		total: RuleMoneyConserved, perKey: RuleAccountBalance, bucket: contract.AccountBucket,
		entry: "charge", unit: "cents", seeded: s.seed.AccountBalance, seededTotal: s.seed.TotalMoney(),
	}
	var vs []Violation
	r.MoneyNow, vs = money.check(s.accounts, s.charges)
	r.Violations = append(r.Violations, vs...)

	stock := quantity{
		total: RuleStockConserved, perKey: RuleStockBalance, bucket: contract.StockBucket,
		entry: "reservation", unit: "units", seeded: s.seed.StockPerSKU, seededTotal: s.seed.TotalStock(),
	}
	r.StockNow, vs = stock.check(s.stock, s.reservations)
	r.Violations = append(r.Violations, vs...)

	var completed, cancelled []Violation
	for _, id := range ids {
		switch sg := s.sagas[id]; sg.Status {
		case contract.SagaCompleted:
			completed = append(completed, completedEffects(id, sg.Order, s)...)
		case contract.SagaCancelled:
			cancelled = append(cancelled, cancelledEffects(id, s)...)
		}
	}
	r.Violations = append(r.Violations, completed...)
	r.Violations = append(r.Violations, cancelled...)
	r.Violations = append(r.Violations, orphans(s)...)

	if len(parked) > 0 {
		r.Warnings = append(r.Warnings, parkedWarning(parked))
	}
	return r
}

func countEntries(entries map[string]contract.Entry) map[contract.EntryStatus]int {
	n := map[contract.EntryStatus]int{}
	for _, e := range entries {
		n[e.Status]++
	}
	return n
}

// stuckSaga judges an in-flight saga by its Deadline, which the
// orchestrator sets whenever a step is in flight. A saga without one (an
// older or hand-written record) is judged by Updated instead: no progress
// for Grace means nothing is moving it. A saga with neither has been stuck
// since the zero time.
func stuckSaga(id string, sg contract.Saga, grace time.Duration, now time.Time) (Violation, bool) {
	ref, since := sg.Deadline, "past its deadline"
	if ref.IsZero() {
		ref, since = sg.Updated, "since its last update (it has no deadline)"
	}
	if !now.After(ref.Add(grace)) {
		return Violation{}, false
	}
	return Violation{
		Rule:    RuleSagaFinished,
		Subject: id,
		Detail:  fmt.Sprintf("still %s %s %s (grace %s)", sg.Status, now.Sub(ref).Round(time.Second), since, grace),
	}, true
}

// quantity describes one of the two conserved quantities: money in accounts
// and charges, or stock in SKUs and reservations.
type quantity struct {
	total, perKey Rule
	bucket        string // the balances' bucket, the subject of the total
	entry, unit   string // "charge", "cents"
	seeded        int64  // each balance's starting value
	seededTotal   int64
}

// check returns balances plus applied entries, and the violations of the
// total rule and of the per-key rule. The per-key rule is the sharper one:
// an amount taken twice for one order balances no applied entry, even when
// something else happens to restore the total.
func (q quantity) check(balances map[string]contract.Balance, entries map[string]contract.Entry) (int64, []Violation) {
	applied := map[string]int64{}
	var sumApplied, sumAvailable int64
	for _, e := range entries {
		if e.Status == contract.EntryApplied {
			applied[e.Key] += e.Amount
			sumApplied += e.Amount
		}
	}
	var perKey []Violation
	for _, key := range slices.Sorted(maps.Keys(balances)) {
		got := balances[key].Available
		sumAvailable += got
		want := q.seeded - applied[key]
		if got != want {
			perKey = append(perKey, Violation{
				Rule:    q.perKey,
				Subject: key,
				Detail: fmt.Sprintf("available %d %s, want %d = seeded %d - applied %ss %d (%s)",
					got, q.unit, want, q.seeded, q.entry, applied[key], offBy(got-want, q.unit)),
			})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(applied)) {
		if !hasKey(balances, key) {
			perKey = append(perKey, Violation{
				Rule:    q.perKey,
				Subject: key,
				Detail:  fmt.Sprintf("applied %ss of %d %s but no balance in %s", q.entry, applied[key], q.unit, q.bucket),
			})
		}
	}
	now := sumAvailable + sumApplied
	var out []Violation
	if now != q.seededTotal {
		out = append(out, Violation{
			Rule:    q.total,
			Subject: q.bucket,
			Detail: fmt.Sprintf("balances %d + applied %ss %d = %d %s, seeded %d (%s)",
				sumAvailable, q.entry, sumApplied, now, q.unit, q.seededTotal, offBy(now-q.seededTotal, q.unit)),
		})
	}
	return now, append(out, perKey...)
}

func offBy(diff int64, unit string) string {
	if diff < 0 {
		return fmt.Sprintf("%d %s missing", -diff, unit)
	}
	return fmt.Sprintf("%d %s too many", diff, unit)
}

// completedEffects checks a completed saga took exactly its order's money
// and stock and scheduled its shipment. Entries are keyed by order id, so
// there is at most one of each; "exactly one" means that one is applied and
// matches the order.
func completedEffects(id string, o contract.Order, s *snapshot) []Violation {
	var out []Violation
	add := func(format string, args ...any) {
		out = append(out, Violation{Rule: RuleCompletedEffects, Subject: id, Detail: fmt.Sprintf(format, args...)})
	}
	check := func(name, unit string, entries map[string]contract.Entry, key string, amount int64) {
		e, ok := entries[id]
		switch {
		case !ok:
			add("no %s; want %d %s applied on %s", name, amount, unit, key)
		case e.Status != contract.EntryApplied:
			add("%s is %s; want applied", name, e.Status)
		case e.Key != key || e.Amount != amount:
			add("%s of %d %s on %s; want %d %s on %s", name, e.Amount, unit, e.Key, amount, unit, key)
		}
	}
	check("charge", "cents", s.charges, o.Customer, o.Amount)
	check("reservation", "units", s.reservations, o.SKU, o.Qty)
	if sh, ok := s.shipments[id]; !ok {
		add("no shipment")
	} else if sh.Status == contract.ShipmentVoided {
		add("shipment is cancelled; want scheduled")
	}
	return out
}

// cancelledEffects checks a cancelled saga gave back everything it took.
func cancelledEffects(id string, s *snapshot) []Violation {
	var out []Violation
	add := func(format string, args ...any) {
		out = append(out, Violation{Rule: RuleCancelledNetsZero, Subject: id, Detail: fmt.Sprintf(format, args...)})
	}
	if e, ok := s.charges[id]; ok && e.Status == contract.EntryApplied {
		add("charge of %d cents on %s is still applied; want reverted or voided", e.Amount, e.Key)
	}
	if e, ok := s.reservations[id]; ok && e.Status == contract.EntryApplied {
		add("reservation of %d units of %s is still applied; want reverted or voided", e.Amount, e.Key)
	}
	if sh, ok := s.shipments[id]; ok && sh.Status != contract.ShipmentVoided {
		add("shipment %q by %q exists; a cancelled order ships nothing", sh.Tracking, sh.Carrier)
	}
	return out
}

// orphans finds effects whose saga does not exist. Only applied entries
// count: a reverted or voided entry holds nothing.
func orphans(s *snapshot) []Violation {
	exists := func(id string) bool { return hasKey(s.sagas, id) || s.lateSagas[id] }
	byID := map[string][]string{}
	for id, e := range s.charges {
		if e.Status == contract.EntryApplied && !exists(id) {
			byID[id] = append(byID[id], fmt.Sprintf("applied charge of %d cents on %s", e.Amount, e.Key))
		}
	}
	for id, e := range s.reservations {
		if e.Status == contract.EntryApplied && !exists(id) {
			byID[id] = append(byID[id], fmt.Sprintf("applied reservation of %d units of %s", e.Amount, e.Key))
		}
	}
	for id, sh := range s.shipments {
		if sh.Status != contract.ShipmentVoided && !exists(id) {
			byID[id] = append(byID[id], "shipment")
		}
	}
	var out []Violation
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, Violation{Rule: RuleOrphanEffect, Subject: id, Detail: strings.Join(byID[id], ", ") + " but no saga"})
	}
	return out
}

func parkedWarning(ids []string) string {
	noun := "sagas"
	if len(ids) == 1 {
		noun = "saga"
	}
	shown := ids[:min(len(ids), maxWarnedIDs)]
	w := fmt.Sprintf("%d %s parked as %s (a compensation kept failing; settle by hand): %s",
		len(ids), noun, contract.SagaCompensationFailed, strings.Join(shown, ", "))
	if more := len(ids) - len(shown); more > 0 {
		w += fmt.Sprintf(" and %d more", more)
	}
	return w
}

// booked counts shipments that ship something; cancelled ones are
// tombstones left so a late schedule command is refused.
func booked(shipments map[string]contract.Shipment) int {
	n := 0
	for _, sh := range shipments {
		if sh.Status != contract.ShipmentVoided {
			n++
		}
	}
	return n
}
