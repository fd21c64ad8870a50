// Package ledger takes amounts from balances and gives them back, exactly
// once per order, on two JetStream KV buckets: balances (an account's cents,
// a SKU's units) and entries (one per order). Payment and inventory are both
// ledgers; only the buckets and the words differ.
//
// An operation writes two keys, and JetStream has no transaction across
// keys, so each write is made safe to repeat:
//   - the balance write is a compare-and-set that also records the operation
//     id in the balance's short Applied list, so a retry that finds its id
//     there does not take the amount again;
//   - the entry is created with Create (fails if present), so a compensation
//     that finds no entry leaves a voided tombstone and a late forward
//     operation is refused instead of applied to a cancelled order.
//
// The Applied list keeps the last contract.AppliedWindow operations of a
// key. A retry is recognised as long as fewer operations than that hit the
// same key in between: with the demo's 1,000 keys per bucket at 2,000
// operations/s that is about 30 s, while a redelivery comes after AckWait
// (5 s). `sagascope check` would report a double application.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// Errors an operation ends with besides I/O failures.
var (
	// ErrInsufficient: the balance cannot cover the amount (card declined,
	// out of stock). A business outcome, not retried.
	ErrInsufficient = errors.New("insufficient balance")
	// ErrCancelled: the order was compensated before this forward operation
	// arrived, so it is refused.
	ErrCancelled = errors.New("order already cancelled")
	// ErrUnknownKey: the balance key does not exist (no such customer/sku).
	ErrUnknownKey = errors.New("no such balance")
)

// maxConflicts bounds compare-and-set retries on one key. Conflicts come
// from concurrent operations on the same hot key; each retry re-reads.
const maxConflicts = 50

// maxRemembered bounds the balances a ledger remembers; past it the memory
// starts over (the demo has 1,000 keys per bucket).
const maxRemembered = 8192

// Ledger applies and reverts amounts. It is safe for concurrent use.
type Ledger struct {
	balances jetstream.KeyValue
	entries  jetstream.KeyValue
	now      func() time.Time

	// last remembers each balance as this ledger last wrote it, so a write
	// needs no read while no one else writes the key: the compare-and-set
	// on the remembered revision fails when it is stale, and only then is
	// the balance read.
	mu   sync.Mutex
	last map[string]remembered
}

type remembered struct {
	b   contract.Balance
	rev uint64
}

// New returns a ledger over the two buckets. now is the clock (nil: time.Now).
func New(balances, entries jetstream.KeyValue, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{balances: balances, entries: entries, now: now, last: map[string]remembered{}}
}

// Outcome says what an operation did.
type Outcome int

// Outcomes.
const (
	// Done: this call changed the balance.
	Done Outcome = iota
	// Repeated: an earlier delivery already did it; nothing changed now.
	Repeated
)

// Apply takes amount from key for order, once. A repeat of an applied order
// returns Repeated; an order already reverted or voided returns
// ErrCancelled; a balance too low returns ErrInsufficient.
func (l *Ledger) Apply(ctx context.Context, order, key string, amount int64) (Outcome, error) {
	entry, _, err := l.entry(ctx, order)
	if err != nil {
		return 0, err
	}
	if entry != nil {
		if entry.Status == contract.EntryApplied {
			return Repeated, nil
		}
		return 0, ErrCancelled
	}
	took, err := l.adjust(ctx, key, order, -amount, true)
	if err != nil {
		return 0, err
	}
	e := contract.Entry{Order: order, Key: key, Amount: amount, Status: contract.EntryApplied, Updated: l.now().UTC()}
	entry, err = l.create(ctx, order, e)
	if err != nil {
		return 0, fmt.Errorf("record entry of %s: %w", order, err)
	}
	if entry != nil {
		// A concurrent delivery recorded it first, or a compensation voided
		// the order between our read and our write.
		if entry.Status != contract.EntryApplied {
			if _, err := l.adjust(ctx, key, order+"~undo", amount, false); err != nil {
				return 0, fmt.Errorf("undo %s after it was cancelled: %w", order, err)
			}
			return 0, ErrCancelled
		}
		return Repeated, nil
	}
	if !took {
		// The balance was taken by an earlier delivery that stopped before
		// recording the entry; this call completed it.
		return Repeated, nil
	}
	return Done, nil
}

// Revert gives back what Apply took for order, once. When nothing was taken
// it leaves a voided entry so a late Apply is refused. key and amount name
// what to void when there is no entry yet.
func (l *Ledger) Revert(ctx context.Context, order, key string, amount int64) (Outcome, error) {
	for range maxConflicts {
		entry, rev, err := l.entry(ctx, order)
		if err != nil {
			return 0, err
		}
		now := l.now().UTC()
		switch {
		case entry == nil:
			e := contract.Entry{Order: order, Key: key, Amount: amount, Status: contract.EntryVoided, Updated: now}
			existing, err := l.create(ctx, order, e)
			if err != nil {
				return 0, fmt.Errorf("void %s: %w", order, err)
			}
			if existing != nil {
				continue // recorded since our read: decide on it
			}
			return Done, nil
		case entry.Status != contract.EntryApplied:
			return Repeated, nil
		}
		if _, err := l.adjust(ctx, entry.Key, order+"~revert", entry.Amount, false); err != nil {
			return 0, err
		}
		entry.Status, entry.Updated = contract.EntryReverted, now
		_, err = l.entries.Update(ctx, order, mustJSON(*entry), rev)
		if conflict(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("record revert of %s: %w", order, err)
		}
		return Done, nil
	}
	return 0, fmt.Errorf("revert %s: %d conflicting writes in a row", order, maxConflicts)
}

// Void records that nothing is to be taken for order (a declined or failed
// forward step), so a duplicate of the forward command is refused. When an
// entry already exists it is returned instead and nothing is written.
func (l *Ledger) Void(ctx context.Context, order, key string, amount int64) (*contract.Entry, error) {
	e := contract.Entry{Order: order, Key: key, Amount: amount, Status: contract.EntryVoided, Updated: l.now().UTC()}
	existing, err := l.create(ctx, order, e)
	if err != nil {
		return nil, fmt.Errorf("void %s: %w", order, err)
	}
	return existing, nil
}

// create records e as order's entry unless order has one, which it returns
// instead (nil: e was recorded).
//
// On a replicated bucket a Create can be refused ("wrong last sequence",
// ErrKeyExists) while the write it lost to is still being replicated, so the
// entry cannot be read yet; and if that write's leader dies it never lands.
// Taking the refusal as proof of an entry would ack an order with none (the
// node-loss test saw a balance taken and no charge entry). So a refusal
// counts only once the entry is read; until then create reads and tries
// again, backing off, and in the end fails, so the message is redelivered.
func (l *Ledger) create(ctx context.Context, order string, e contract.Entry) (*contract.Entry, error) {
	wait := time.Millisecond
	for range maxConflicts {
		_, err := l.entries.Create(ctx, order, mustJSON(e))
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, err
		}
		existing, _, err := l.entry(ctx, order)
		if err != nil || existing != nil {
			return existing, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	return nil, fmt.Errorf("refused %d times with no entry to read", maxConflicts)
}

// Entry returns order's entry, nil when there is none.
func (l *Ledger) Entry(ctx context.Context, order string) (*contract.Entry, error) {
	e, _, err := l.entry(ctx, order)
	return e, err
}

func (l *Ledger) entry(ctx context.Context, order string) (*contract.Entry, uint64, error) {
	kve, err := l.entries.Get(ctx, order)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read entry of %s: %w", order, err)
	}
	var e contract.Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, 0, fmt.Errorf("decode entry of %s: %w", order, err)
	}
	return &e, kve.Revision(), nil
}

// adjust adds delta to key's balance once for op. took is false when op was
// already recorded on the balance. check refuses to go below zero.
func (l *Ledger) adjust(ctx context.Context, key, op string, delta int64, check bool) (took bool, err error) {
	mayRemember := true
	for range maxConflicts {
		b, rev, stale, err := l.balance(ctx, key, mayRemember)
		mayRemember = false
		if err != nil {
			return false, err
		}
		applied, short := slices.Contains(b.Applied, op), check && b.Available+delta < 0
		if (applied || short) && stale {
			continue // a remembered balance may be out of date: decide on a read
		}
		if applied {
			return false, nil
		}
		if short {
			return false, fmt.Errorf("%w: %s has %d, needs %d", ErrInsufficient, key, b.Available, -delta)
		}
		b.Available += delta
		b.Applied = append(b.Applied, op)
		if n := len(b.Applied) - contract.AppliedWindow; n > 0 {
			b.Applied = slices.Delete(b.Applied, 0, n)
		}
		wrote, err := l.balances.Update(ctx, key, mustJSON(b), rev)
		if conflict(err) {
			continue // someone else wrote it since our read or our last write
		}
		if err != nil {
			return false, fmt.Errorf("write balance %s: %w", key, err)
		}
		l.remember(key, b, wrote)
		return true, nil
	}
	return false, fmt.Errorf("write balance %s: %d conflicting writes in a row", key, maxConflicts)
}

// balance returns key's balance and revision: the remembered one when
// mayRemember and there is one (stale true: it may be out of date), else
// read from the bucket. The result is the caller's to change.
func (l *Ledger) balance(ctx context.Context, key string, mayRemember bool) (b contract.Balance, rev uint64, stale bool, err error) {
	if mayRemember {
		l.mu.Lock()
		r, ok := l.last[key]
		l.mu.Unlock()
		if ok {
			r.b.Applied = slices.Clone(r.b.Applied) // shared with the map
			return r.b, r.rev, true, nil
		}
	}
	kve, err := l.balances.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return b, 0, false, fmt.Errorf("%w: %s", ErrUnknownKey, key)
	}
	if err != nil {
		return b, 0, false, fmt.Errorf("read balance %s: %w", key, err)
	}
	if err := json.Unmarshal(kve.Value(), &b); err != nil {
		return b, 0, false, fmt.Errorf("decode balance %s: %w", key, err)
	}
	return b, kve.Revision(), false, nil
}

// remember keeps b as key's balance at revision rev; b must not change
// afterwards.
func (l *Ledger) remember(key string, b contract.Balance, rev uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) >= maxRemembered {
		clear(l.last)
	}
	l.last[key] = remembered{b: b, rev: rev}
}

// conflict reports a compare-and-set that lost to a concurrent write.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("ledger: marshal " + err.Error())
	}
	return b
}
