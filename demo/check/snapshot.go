package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
)

// store holds the buckets Run reads, opened once and read as often as
// settling needs.
type store struct {
	js   jetstream.JetStream
	seed contract.Seed

	sagas, accounts, charges, stock, reservations, shipments jetstream.KeyValue
}

// open opens every bucket and reads the seed. The saga bucket is opened
// first so that an empty server is reported by the name a reader expects.
func open(ctx context.Context, js jetstream.JetStream) (*store, error) {
	st := &store{js: js}
	buckets := []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{contract.SagaBucket, &st.sagas},
		{contract.AccountBucket, &st.accounts},
		{contract.ChargeBucket, &st.charges},
		{contract.StockBucket, &st.stock},
		{contract.ReservationBucket, &st.reservations},
		{contract.ShipmentBucket, &st.shipments},
	}
	for _, b := range buckets {
		kv, err := openBucket(ctx, js, b.name)
		if err != nil {
			return nil, err
		}
		*b.kv = kv
	}
	control, err := openBucket(ctx, js, contract.ControlBucket)
	if err != nil {
		return nil, err
	}
	e, err := control.Get(ctx, contract.SeedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: bucket %s has no %q record (topology.Ensure writes it after seeding)", ErrNoData, contract.ControlBucket, contract.SeedKey)
	}
	if err != nil {
		return nil, fmt.Errorf("read seed record: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &st.seed); err != nil {
		return nil, fmt.Errorf("decode seed record in %s: %w", contract.ControlBucket, err)
	}
	return st, nil
}

func openBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %s does not exist (is this the right server?)", ErrNoData, name)
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return kv, nil
}

// snapshot is one read of everything the rules look at. Maps are keyed by
// KV key: saga and order ids, customers, SKUs.
type snapshot struct {
	seed         contract.Seed
	sagas        map[string]contract.Saga
	accounts     map[string]contract.Balance
	stock        map[string]contract.Balance
	charges      map[string]contract.Entry
	reservations map[string]contract.Entry
	shipments    map[string]contract.Shipment
	// lateSagas are sagas created after the saga bucket was read, found
	// while checking effects that had no saga: they exist, so their effects
	// are not orphans, but they are not otherwise checked in this read.
	lateSagas map[string]bool
	// malformed holds a RuleMalformedRecord violation per undecodable
	// record.
	malformed   []Violation
	deadLetters uint64
	streams     map[string]uint64
	// busy is true when a bucket was written while the snapshot was read.
	// Sagas were then in flight even if the saga read found none: one may
	// have started after it.
	busy bool
}

// read takes a snapshot. The saga bucket is read before the effect buckets
// on purpose: the orchestrator marks a saga completed or cancelled only after
// its effects were written or undone, so effects read later are at least as
// new as the outcome they are judged against. The reverse order would report
// a saga completed a moment ago as missing its charge. The price is that
// effects of sagas started after the saga read look orphaned, so those few
// are looked up again one by one. The effect and balance buckets are read
// concurrently: besides being faster, it starts their reads at nearly the
// same instant, which narrows the window in which one ledger operation's
// two writes land on different sides of the snapshot.
// TestRunUnderLoadReportsNoFalseViolations fails if either order is changed.
func (st *store) read(ctx context.Context) (*snapshot, error) {
	s := &snapshot{seed: st.seed, lateSagas: map[string]bool{}}
	before, err := st.writeMark(ctx)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex // guards s.malformed, appended from every reader
	note := func(bucket string, bad []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, key := range bad {
			s.malformed = append(s.malformed, Violation{
				Rule: RuleMalformedRecord, Subject: bucket + "/" + key, Detail: "value does not decode; left out of the other rules",
			})
		}
	}

	sagas, bad, err := ReadBucket[contract.Saga](ctx, st.sagas)
	if err != nil {
		return nil, err
	}
	s.sagas = sagas
	note(st.sagas.Bucket(), bad)

	g, gctx := errgroup.WithContext(ctx)
	readInto(g, gctx, st.accounts, &s.accounts, note)
	readInto(g, gctx, st.stock, &s.stock, note)
	readInto(g, gctx, st.charges, &s.charges, note)
	readInto(g, gctx, st.reservations, &s.reservations, note)
	readInto(g, gctx, st.shipments, &s.shipments, note)
	g.Go(func() (err error) {
		s.streams, s.deadLetters, err = st.streamCounts(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := st.findLateSagas(ctx, s); err != nil {
		return nil, err
	}
	after, err := st.writeMark(ctx)
	if err != nil {
		return nil, err
	}
	s.busy = after != before
	slices.SortFunc(s.malformed, func(a, b Violation) int { return strings.Compare(a.Subject, b.Subject) })
	return s, nil
}

// writeMark returns a number that grows with every write to any bucket
// read: the sum of the last sequences of their streams.
func (st *store) writeMark(ctx context.Context) (uint64, error) {
	var mark uint64
	for _, kv := range []jetstream.KeyValue{st.sagas, st.accounts, st.charges, st.stock, st.reservations, st.shipments} {
		status, err := kv.Status(ctx)
		if err != nil {
			return 0, fmt.Errorf("read status of bucket %s: %w", kv.Bucket(), err)
		}
		bs, ok := status.(*jetstream.KeyValueBucketStatus)
		if !ok {
			return 0, fmt.Errorf("read status of bucket %s: unexpected status type %T", kv.Bucket(), status)
		}
		mark += bs.StreamInfo().State.LastSeq
	}
	return mark, nil
}

// readInto reads kv into *dst in a goroutine of g and passes its
// undecodable keys to note.
func readInto[T any](g *errgroup.Group, ctx context.Context, kv jetstream.KeyValue, dst *map[string]T, note func(bucket string, bad []string)) {
	g.Go(func() error {
		values, bad, err := ReadBucket[T](ctx, kv)
		*dst = values
		note(kv.Bucket(), bad)
		return err
	})
}

// lookupLimit bounds concurrent Gets when looking up late sagas. Under load
// there can be a few hundred (the sagas started while the bucket was read).
const lookupLimit = 16

// findLateSagas looks up, one by one, the sagas of effects that would
// otherwise be orphans.
func (st *store) findLateSagas(ctx context.Context, s *snapshot) error {
	missing := map[string]bool{}
	for id, e := range s.charges {
		if e.Status == contract.EntryApplied && !hasKey(s.sagas, id) {
			missing[id] = true
		}
	}
	for id, e := range s.reservations {
		if e.Status == contract.EntryApplied && !hasKey(s.sagas, id) {
			missing[id] = true
		}
	}
	for id := range s.shipments {
		if !hasKey(s.sagas, id) {
			missing[id] = true
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lookupLimit)
	for _, id := range slices.Sorted(maps.Keys(missing)) {
		g.Go(func() error {
			_, err := st.sagas.Get(gctx, id)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("look up saga %s: %w", id, err)
			}
			mu.Lock()
			defer mu.Unlock()
			s.lateSagas[id] = true
			return nil
		})
	}
	return g.Wait()
}

// streamCounts returns the message count of each service's stream and of
// the dead-letter stream.
func (st *store) streamCounts(ctx context.Context) (map[string]uint64, uint64, error) {
	count := func(name string) (uint64, error) {
		s, err := st.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return 0, fmt.Errorf("%w: stream %s does not exist (is this the right server?)", ErrNoData, name)
		}
		if err != nil {
			return 0, fmt.Errorf("read stream %s: %w", name, err)
		}
		return s.CachedInfo().State.Msgs, nil
	}
	streams := map[string]uint64{}
	for _, svc := range contract.Services {
		name := contract.StreamName(svc)
		n, err := count(name)
		if err != nil {
			return nil, 0, err
		}
		streams[name] = n
	}
	dead, err := count(contract.DeadLetterStream)
	if err != nil {
		return nil, 0, err
	}
	return streams, dead, nil
}

// ReadBucket returns the latest value of every key in kv, decoded as T, and
// the keys whose value does not decode. It reads through one ordered
// consumer (WatchAll) up to the marker that ends the initial values, which
// costs one stream of deliveries instead of a request per key (about a
// second per 100k keys on a laptop). A key written while it reads may show
// its older or its newer value, or rarely be left out; only keys of sagas in
// flight are written then, and the rules allow for that (conservation
// settles, orphans are looked up again).
func ReadBucket[T any](ctx context.Context, kv jetstream.KeyValue) (map[string]T, []string, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), err)
	}
	defer stop(w)
	values := map[string]T{}
	bad := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("read bucket %s: watcher closed before the last value arrived (connection lost?)", kv.Bucket())
			}
			if e == nil {
				return values, slices.Sorted(maps.Keys(bad)), nil
			}
			var v T
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				delete(values, e.Key())
				bad[e.Key()] = true
				continue
			}
			// A key written during the read arrives again; the later value wins.
			values[e.Key()] = v
			delete(bad, e.Key())
		}
	}
}

// stopDrainLimit bounds how long stop waits for a watcher to close.
const stopDrainLimit = 5 * time.Second

// stop ends a watcher and drains it until the library closes its channel.
// The watcher's delivery goroutine sends on a 256-slot channel while holding
// a lock, so a watcher stopped while values keep arriving (a bucket under
// load) would leave that goroutine blocked for ever if nobody read.
func stop(w jetstream.KeyWatcher) {
	_ = w.Stop() // errors mean the subscription is already gone, which closes the channel too
	timeout := time.NewTimer(stopDrainLimit)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			return
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
