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
		Checkpoint:   s.checkpoint,
		RecordTTL:    s.ttl,
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
		if s.folded(id) {
			r.FoldedWithRecords++
		}
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
	r.MoneyNow, vs = money.check(s.accounts, s.live(contract.ChargeBucket, s.charges), s.checkpoint.Charged)
	r.Violations = append(r.Violations, vs...)

	stock := quantity{
		total: RuleStockConserved, perKey: RuleStockBalance, bucket: contract.StockBucket,
		entry: "reservation", unit: "units", seeded: s.seed.StockPerSKU, seededTotal: s.seed.TotalStock(),
	}
	r.StockNow, vs = stock.check(s.stock, s.live(contract.ReservationBucket, s.reservations), s.checkpoint.Reserved)
	r.Violations = append(r.Violations, vs...)

	var completed, cancelled []Violation
	for _, id := range ids {
		sg := s.sagas[id]
		if s.expiring(sg.Started) {
			continue // its first effects may have expired already
		}
		switch sg.Status {
		case contract.SagaCompleted:
			completed = append(completed, completedEffects(id, sg.Order, s)...)
		case contract.SagaCancelled:
			cancelled = append(cancelled, cancelledEffects(id, s)...)
		}
	}
	r.Violations = append(r.Violations, completed...)
	r.Violations = append(r.Violations, cancelled...)
	r.Violations = append(r.Violations, orphans(s)...)
	if v, ok := foldedBeforeExpiry(s); ok {
		r.Violations = append(r.Violations, v)
	}

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
//
// folded is what the checkpoint's sagas left applied, by key: entries holds
// only the others, so each amount counts once whether its record is still
// there or expired.
func (q quantity) check(balances map[string]contract.Balance, entries map[string]contract.Entry, folded map[string]int64) (int64, []Violation) {
	applied := map[string]int64{}
	var sumApplied, sumAvailable int64
	for _, e := range entries {
		if e.Status == contract.EntryApplied {
			applied[e.Key] += e.Amount
			sumApplied += e.Amount
		}
	}
	for key, n := range folded {
		applied[key] += n
		sumApplied += n
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
// count: a reverted or voided entry holds nothing. An effect about to expire
// may outlive its saga's record by the moment between the two buckets'
// expiry: it is not an orphan.
func orphans(s *snapshot) []Violation {
	exists := func(bucket, id string) bool {
		return hasKey(s.sagas, id) || s.lateSagas[id] || s.expiring(s.meta[bucket][id].written)
	}
	byID := map[string][]string{}
	for id, e := range s.charges {
		if e.Status == contract.EntryApplied && !exists(contract.ChargeBucket, id) {
			byID[id] = append(byID[id], fmt.Sprintf("applied charge of %d cents on %s", e.Amount, e.Key))
		}
	}
	for id, e := range s.reservations {
		if e.Status == contract.EntryApplied && !exists(contract.ReservationBucket, id) {
			byID[id] = append(byID[id], fmt.Sprintf("applied reservation of %d units of %s", e.Amount, e.Key))
		}
	}
	for id, sh := range s.shipments {
		if sh.Status != contract.ShipmentVoided && !exists(contract.ShipmentBucket, id) {
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

// expirySlack is how near its expiry a record must be to count as about to
// expire (a third of the TTL when that is less): clocks of the services,
// the servers and check may differ by this much, and the buckets expire
// records each on its own timer.
const expirySlack = time.Minute

// expiring reports whether a record written at t may expire, or its saga's
// record may have expired, by the time s was read.
func (s *snapshot) expiring(t time.Time) bool {
	return s.ttl > 0 && t.Before(s.read.Add(-s.ttl+min(expirySlack, s.ttl/3)))
}

// folded reports whether saga id is counted in the checkpoint: its record
// is final and at or before the checkpoint's Seq.
func (s *snapshot) folded(id string) bool {
	sg, ok := s.sagas[id]
	return ok && sg.Status.Final() && s.meta[contract.SagaBucket][id].rev <= s.checkpoint.Seq
}

// live returns the entries of bucket that the conservation rules count one
// by one: not those of folded sagas, which the checkpoint counts, nor those
// about to expire whose saga's record is gone, which it counted before.
func (s *snapshot) live(bucket string, entries map[string]contract.Entry) map[string]contract.Entry {
	out := make(map[string]contract.Entry, len(entries))
	for id, e := range entries {
		switch {
		case s.folded(id):
		case !hasKey(s.sagas, id) && !s.lateSagas[id] && s.expiring(s.meta[bucket][id].written):
		default:
			out[id] = e
		}
	}
	return out
}

// foldedBeforeExpiry reports records that may have expired before the
// orders service folded them into the checkpoint: then what their sagas did
// is counted nowhere and the conservation rules cannot be trusted. Every
// record after the checkpoint was written after the later of its Through
// and its After (the bucket's creation before anything was folded), so it
// expires no sooner than that plus the TTL; and when the first record after
// the checkpoint is the very next sequence, nothing between is gone.
func foldedBeforeExpiry(s *snapshot) (Violation, bool) {
	if s.ttl <= 0 || s.sagaLastSeq <= s.checkpoint.Seq || s.nextUnfolded == s.checkpoint.Seq+1 {
		return Violation{}, false
	}
	since := s.checkpoint.Through
	if s.checkpoint.Seq == 0 {
		since = s.created
	}
	if s.checkpoint.After.After(since) {
		since = s.checkpoint.After
	}
	if !since.Before(s.read.Add(-s.ttl)) {
		return Violation{}, false
	}
	what := fmt.Sprintf("the checkpoint is folded through sequence %d", s.checkpoint.Seq)
	if s.checkpoint.Seq == 0 {
		what = "nothing is folded"
	}
	return Violation{
		Rule:    RuleFoldedBeforeExpiry,
		Subject: contract.SagaBucket,
		Detail: fmt.Sprintf("%s and records live %s, but sequences up to %d were written and the folder has not been caught up for %s: some may have expired uncounted (is the orders service running?)",
			what, s.ttl, s.sagaLastSeq, s.read.Sub(since).Round(time.Second)),
	}, true
}
