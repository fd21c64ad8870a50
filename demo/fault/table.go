package fault

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/internal/kvfollow"
)

// Table is the set of faults in force for one service. It is safe for
// concurrent use; reads are lock-free because every handled message asks it.
type Table struct {
	svc    contract.Service
	now    func() time.Time
	faults atomic.Pointer[map[contract.FaultKind]contract.Fault]

	// fired counts the faults that fired, by kind; the map is built once
	// and only read, so counting is lock-free.
	fired map[contract.FaultKind]*atomic.Uint64

	mu        sync.Mutex
	listeners []func(contract.Fault, bool)
}

// NewTable returns an empty table for svc. now is the clock (nil: time.Now).
func NewTable(svc contract.Service, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	t := &Table{svc: svc, now: now, fired: map[contract.FaultKind]*atomic.Uint64{}}
	for _, k := range contract.FaultKinds {
		t.fired[k.Kind] = new(atomic.Uint64)
	}
	t.faults.Store(&map[contract.FaultKind]contract.Fault{})
	return t
}

// Fired counts one firing of a fault of kind k: a call failed or slowed, a
// message duplicated or poisoned, a crash or pause obeyed. Whoever applies
// a fault calls it; Roll does for the faults it decides.
func (t *Table) Fired(k contract.FaultKind) {
	if c := t.fired[k]; c != nil {
		c.Add(1)
	}
}

// Injected returns how often each kind of fault has fired since the table
// was made, for metrics.
func (t *Table) Injected() map[contract.FaultKind]uint64 {
	out := make(map[contract.FaultKind]uint64, len(t.fired))
	for k, c := range t.fired {
		out[k] = c.Load()
	}
	return out
}

// Active returns the fault of kind k in force now, if any.
func (t *Table) Active(k contract.FaultKind) (contract.Fault, bool) {
	f, ok := (*t.faults.Load())[k]
	if !ok || !f.Active(t.now()) {
		return contract.Fault{}, false
	}
	return f, true
}

// Roll reports whether a fault of kind k is in force and its probability
// came up for this call, and counts it fired if so.
func (t *Table) Roll(k contract.FaultKind) bool {
	f, ok := t.Active(k)
	if ok && rand.Float64() < f.Probability {
		t.Fired(k)
		return true
	}
	return false
}

// List returns the faults in force now.
func (t *Table) List() []contract.Fault {
	now := t.now()
	var out []contract.Fault
	for _, f := range *t.faults.Load() {
		if f.Active(now) {
			out = append(out, f)
		}
	}
	SortFaults(out)
	return out
}

// OnChange registers fn to run (on the watcher goroutine) whenever a fault of
// this service is set (active true) or cleared (active false).
func (t *Table) OnChange(fn func(f contract.Fault, active bool)) {
	t.mu.Lock()
	t.listeners = append(t.listeners, fn)
	t.mu.Unlock()
}

// Put sets f in the table, as the watcher does on a bucket update.
func (t *Table) Put(f contract.Fault) {
	t.update(func(m map[contract.FaultKind]contract.Fault) { m[f.Kind] = f })
	t.notify(f, true)
}

// Remove clears kind k, as the watcher does on a bucket delete.
func (t *Table) Remove(k contract.FaultKind) {
	old, ok := (*t.faults.Load())[k]
	if !ok {
		return
	}
	t.update(func(m map[contract.FaultKind]contract.Fault) { delete(m, k) })
	t.notify(old, false)
}

func (t *Table) update(change func(map[contract.FaultKind]contract.Fault)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[contract.FaultKind]contract.Fault, len(*t.faults.Load())+1)
	for k, v := range *t.faults.Load() {
		next[k] = v
	}
	change(next)
	t.faults.Store(&next)
}

func (t *Table) notify(f contract.Fault, active bool) {
	t.mu.Lock()
	ls := append([](func(contract.Fault, bool)){}, t.listeners...)
	t.mu.Unlock()
	for _, fn := range ls {
		fn(f, active)
	}
}

// Watch follows svc's faults in the control bucket until ctx ends, keeping t
// current. It returns once the current faults are loaded, so a service that
// starts while a fault is set applies it from its first message; the watch
// goes on in a goroutine that ends with ctx (wait on the returned channel).
// A watch silenced by the loss of its server is replaced within seconds
// (kvfollow), so a fault set or cleared after a node loss still applies.
func Watch(ctx context.Context, kv jetstream.KeyValue, t *Table, log *slog.Logger) (<-chan struct{}, error) {
	keys := make([]string, len(contract.FaultKinds))
	for i, k := range contract.FaultKinds {
		keys[i] = contract.FaultKey(t.svc, k.Kind)
	}
	apply := func(e jetstream.KeyValueEntry) {
		kind := contract.FaultKind(e.Key()[strings.LastIndexByte(e.Key(), '.')+1:])
		if e.Operation() != jetstream.KeyValuePut {
			t.Remove(kind)
			return
		}
		var f contract.Fault
		if err := json.Unmarshal(e.Value(), &f); err != nil || f.Kind != kind || f.Service != t.svc {
			log.Warn("ignoring malformed fault record", "key", e.Key(), "error", err)
			return
		}
		t.Put(f)
	}
	done, err := kvfollow.Follow(ctx, kv, kvfollow.Options{
		Filter: "fault." + string(t.svc) + ".*", Keys: keys, Apply: apply,
		Restarted: func(err error) { log.Info("fault watch was silent, watching again", "error", err) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch faults of %s: %w", t.svc, err)
	}
	return done, nil
}

// SortFaults orders faults by service (saga order), then kind.
func SortFaults(fs []contract.Fault) {
	rank := func(s contract.Service) int {
		if i := slices.Index(contract.Services, s); i >= 0 {
			return i
		}
		return len(contract.Services)
	}
	slices.SortFunc(fs, func(a, b contract.Fault) int {
		if c := cmp.Compare(rank(a.Service), rank(b.Service)); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
}
