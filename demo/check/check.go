// Package check proves that a sagascope run left its data consistent: every
// saga finished, no money or stock was created or lost, and each finished
// saga's effects match its outcome. It only reads the KV buckets and streams
// the demo writes; it never changes them, so it is safe to run against a
// live system under load.
package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/wait"
)

// ErrNoData is wrapped by the error Run returns when the server holds no
// sagascope data at all: a bucket, a stream or the seed record is missing.
// It usually means the check was pointed at the wrong server or account.
var ErrNoData = errors.New("no sagascope data found")

// Defaults of Options.
const (
	DefaultGrace  = 30 * time.Second
	DefaultSettle = 10 * time.Second
)

// settlePoll is how long Run waits between two reads while it lets a
// conservation mismatch settle. One operation's two writes land within
// milliseconds of each other, so a short pause is enough; reading 100k keys
// takes longer than this anyway.
const settlePoll = 100 * time.Millisecond

// Options tune Run. The zero value uses the defaults.
type Options struct {
	// Grace is added to an in-flight saga's Deadline before it counts as
	// stuck (zero: DefaultGrace; negative: no grace). The orchestrator's
	// sweeper acts on a deadline a little after it passes, so a saga just
	// past its deadline is still being handled.
	Grace time.Duration
	// Settle bounds how long Run keeps re-reading when a conservation rule
	// fails while sagas are in flight (zero: DefaultSettle; negative: check
	// once). A ledger operation writes the balance and the entry separately,
	// so a read under load can fall between the two. Sagas count as in
	// flight when the read found some, or when any bucket was written while
	// it read, since a saga started after the saga bucket was read is not in
	// it, or when a replica of a bucket was not current: the ordered
	// consumer that reads a bucket may be placed on any replica, and one
	// catching up after its node came back serves older values. Settle is
	// measured on the wall clock, not on Now, because it waits
	// for real writes, from the end of the first read. Violations that are not about conservation never
	// cause a re-read.
	Settle time.Duration
	// Now is the clock deadlines are judged by (nil: time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	switch {
	case o.Grace == 0:
		o.Grace = DefaultGrace
	case o.Grace < 0:
		o.Grace = 0
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Rule names one invariant. Its value is the short id reports print.
type Rule string

// The invariants Run checks.
const (
	// RuleSagaFinished: every saga is final, or in flight with its deadline
	// plus grace not yet passed.
	RuleSagaFinished Rule = "saga-finished"
	// RuleMoneyConserved: account balances plus applied charges equal the
	// seeded money.
	RuleMoneyConserved Rule = "money-conserved"
	// RuleAccountBalance: each account holds its seeded balance minus its
	// applied charges. This is what proves no order was charged twice.
	RuleAccountBalance Rule = "account-balance"
	// RuleStockConserved: stock plus applied reservations equal the seeded
	// stock.
	RuleStockConserved Rule = "stock-conserved"
	// RuleStockBalance: each SKU holds its seeded stock minus its applied
	// reservations.
	RuleStockBalance Rule = "stock-balance"
	// RuleCompletedEffects: a completed saga has its charge and its
	// reservation applied, for its order's customer, SKU and amounts, and a
	// shipment.
	RuleCompletedEffects Rule = "completed-effects"
	// RuleCancelledNetsZero: a cancelled saga has nothing applied and no
	// shipment; reverted or voided entries are fine.
	RuleCancelledNetsZero Rule = "cancelled-nets-zero"
	// RuleOrphanEffect: an applied charge or reservation, or a shipment,
	// belongs to a saga that exists.
	RuleOrphanEffect Rule = "orphan-effect"
	// RuleFoldedBeforeExpiry: no saga record expired before the orders
	// service folded it into the checkpoint (contract.Checkpoint).
	RuleFoldedBeforeExpiry Rule = "folded-before-expiry"
	// RuleMalformedRecord: every record decodes. An undecodable record is
	// left out of the other rules, which then usually fail too.
	RuleMalformedRecord Rule = "malformed-record"
)

// conservation reports whether r is about sums of balances, the rules a read
// between the two writes of one ledger operation can break for a moment.
func (r Rule) conservation() bool {
	switch r {
	case RuleMoneyConserved, RuleAccountBalance, RuleStockConserved, RuleStockBalance:
		return true
	}
	return false
}

// Violation is one broken invariant.
type Violation struct {
	Rule Rule
	// Subject is what broke it: a saga (order) id, a customer, a SKU, or a
	// bucket name for totals and undecodable records.
	Subject string
	// Detail says what is wrong, on one line.
	Detail string
}

// String is the violation on one line: "rule subject: detail".
func (v Violation) String() string { return string(v.Rule) + " " + v.Subject + ": " + v.Detail }

// Report is what Run found in the last read it made.
type Report struct {
	// Sagas counts sagas by status.
	Sagas map[contract.SagaStatus]int
	// Stuck counts sagas in flight past their deadline plus grace; each is
	// also a RuleSagaFinished violation.
	Stuck int
	// Charges and Reservations count entries by status; Shipments counts
	// shipments.
	Charges      map[contract.EntryStatus]int
	Reservations map[contract.EntryStatus]int
	Shipments    int
	// MoneyStart is the seeded money in cents; MoneyNow is account balances
	// plus applied charges. They are equal when money is conserved.
	MoneyStart, MoneyNow int64
	// StockStart is the seeded stock in units; StockNow is SKU balances plus
	// applied reservations.
	StockStart, StockNow int64
	// DeadLetters is the number of messages in contract.DeadLetterStream.
	DeadLetters uint64
	// Streams is the number of messages in each service's saga stream, by
	// stream name.
	Streams map[string]uint64
	// Violations lists every broken invariant, grouped by rule, each group
	// sorted by subject.
	Violations []Violation
	// Warnings are states that are allowed but should be seen, such as
	// sagas parked as compensation_failed.
	Warnings []string
	// Reads is how many times Run read the data: more than one when it
	// waited for in-flight sagas to settle a conservation mismatch.
	Reads int
	// Checkpoint is what the sagas folded so far did: the conservation
	// rules count it in place of their records, which expire RecordTTL
	// after their last write (0: never).
	Checkpoint contract.Checkpoint
	RecordTTL  time.Duration
	// FoldedWithRecords counts the folded sagas whose records are still
	// there: they are in Sagas too.
	FoldedWithRecords int
}

// OK reports whether no invariant is broken. Warnings do not count.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// InFlight is the number of sagas that are not final.
func (r Report) InFlight() int {
	n := 0
	for s, c := range r.Sagas {
		if !s.Final() {
			n += c
		}
	}
	return n
}

func (r Report) conservationBroken() bool {
	for _, v := range r.Violations {
		if v.Rule.conservation() {
			return true
		}
	}
	return false
}

// Run reads every saga, balance, entry and shipment and checks the
// invariants (see the Rule constants). When a conservation rule fails while
// sagas are in flight it re-reads until the rule holds or opt.Settle passes
// (see Options.Settle), and reports the last read.
//
// Run returns an error only when it cannot read: a lost connection, a
// cancelled ctx, or no sagascope data on the server (wrapping ErrNoData).
// Broken invariants are in the Report, never in the error.
func Run(ctx context.Context, js jetstream.JetStream, opt Options) (Report, error) {
	opt = opt.withDefaults()
	st, err := open(ctx, js)
	if err != nil {
		return Report{}, err
	}
	var settleBy time.Time
	for reads := 1; ; reads++ {
		snap, err := st.read(ctx)
		if err != nil {
			return Report{}, err
		}
		if reads == 1 {
			// From the end of the first read: a read slowed by a loaded
			// server still leaves Settle for the re-reads.
			settleBy = time.Now().Add(opt.Settle)
		}
		rep := evaluate(snap, opt.Grace, opt.Now())
		rep.Reads = reads
		if !rep.conservationBroken() || (rep.InFlight() == 0 && !snap.busy) {
			return rep, nil
		}
		pause := min(settlePoll, time.Until(settleBy))
		if pause <= 0 {
			return rep, nil
		}
		if err := wait.For(ctx, pause); err != nil {
			return Report{}, fmt.Errorf("wait for in-flight sagas to settle: %w", err)
		}
	}
}
