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
	"github.com/sagascope/sagascope/demo/fold"
)

// store holds the buckets Run reads, opened once and read as often as
// settling needs.
type store struct {
	js   jetstream.JetStream
	seed contract.Seed

	sagas, accounts, charges, stock, reservations, shipments jetstream.KeyValue
	// checkpoint is nil on data from before checkpoints existed.
	checkpoint jetstream.KeyValue
	// ttl is how long the order-keyed records live (0: for ever), and
	// created when the saga bucket was made, from the saga bucket.
	ttl     time.Duration
	created time.Time
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
	status, err := st.sagas.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("read status of bucket %s: %w", contract.SagaBucket, err)
	}
	st.ttl = status.TTL()
	if bs, ok := status.(*jetstream.KeyValueBucketStatus); ok {
		st.created = bs.StreamInfo().Created
	}
	st.checkpoint, err = js.KeyValue(ctx, contract.CheckpointBucket)
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", contract.CheckpointBucket, err)
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

	// checkpoint is what the sagas folded so far did, read before the saga
	// bucket, so a saga whose final record is at or before its Seq is in it
	// and one after is not.
	checkpoint contract.Checkpoint
	// meta is each record's revision and time, by bucket and key.
	meta map[string]map[string]recordMeta
	// ttl is how long the order-keyed records live (0: for ever); read is
	// when this snapshot was taken, by the wall clock the server expires
	// records by; sagaLastSeq is the saga stream's last sequence and
	// created the saga bucket's creation.
	ttl         time.Duration
	read        time.Time
	sagaLastSeq uint64
	created     time.Time
	// nextUnfolded is the sequence of the first saga record after the
	// checkpoint still stored, 0 when there is none.
	nextUnfolded uint64
}

// recordMeta is a record's revision (its stream sequence) and when it was
// written.
type recordMeta struct {
	rev     uint64
	written time.Time
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
	s := &snapshot{
		seed: st.seed, lateSagas: map[string]bool{}, meta: map[string]map[string]recordMeta{},
		ttl: st.ttl, created: st.created, read: time.Now(),
	}
	before, err := st.writeMark(ctx)
	if err != nil {
		return nil, err
	}
	if st.checkpoint != nil {
		if s.checkpoint, err = readCheckpoint(ctx, st.checkpoint); err != nil {
			return nil, err
		}
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

	sagas, meta, bad, err := readBucket[contract.Saga](ctx, st.sagas)
	if err != nil {
		return nil, err
	}
	s.sagas, s.meta[contract.SagaBucket] = sagas, meta
	note(st.sagas.Bucket(), bad)

	g, gctx := errgroup.WithContext(ctx)
	keep := func(bucket string, meta map[string]recordMeta) {
		mu.Lock()
		defer mu.Unlock()
		s.meta[bucket] = meta
	}
	readInto(g, gctx, st.accounts, &s.accounts, note, nil)
	readInto(g, gctx, st.stock, &s.stock, note, nil)
	readInto(g, gctx, st.charges, &s.charges, note, keep)
	readInto(g, gctx, st.reservations, &s.reservations, note, keep)
	readInto(g, gctx, st.shipments, &s.shipments, note, keep)
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
	// A bucket written meanwhile, or a replica catching up (a node just
	// back), may have served a read behind the others: judged as busy, so
	// a conservation mismatch is read again until it settles.
	s.busy = after.sum != before.sum || before.lagging || after.lagging
	s.sagaLastSeq = after.sagaLastSeq
	if s.sagaLastSeq > s.checkpoint.Seq {
		if s.nextUnfolded, err = st.firstAfter(ctx, s.checkpoint.Seq); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(s.malformed, func(a, b Violation) int { return strings.Compare(a.Subject, b.Subject) })
	return s, nil
}

// mark is a number that grows with every write to any bucket read (the sum
// of the last sequences of their streams), and the saga stream's own;
// lagging is true when a replica of one of them is not current, so a read
// it served may be behind the others.
type mark struct {
	sum, sagaLastSeq uint64
	lagging          bool
}

func (st *store) writeMark(ctx context.Context) (mark, error) {
	var m mark
	for _, kv := range []jetstream.KeyValue{st.sagas, st.accounts, st.charges, st.stock, st.reservations, st.shipments} {
		status, err := kv.Status(ctx)
		if err != nil {
			return mark{}, fmt.Errorf("read status of bucket %s: %w", kv.Bucket(), err)
		}
		bs, ok := status.(*jetstream.KeyValueBucketStatus)
		if !ok {
			return mark{}, fmt.Errorf("read status of bucket %s: unexpected status type %T", kv.Bucket(), status)
		}
		info := bs.StreamInfo()
		last := info.State.LastSeq
		m.sum += last
		if c := info.Cluster; c != nil {
			for _, r := range c.Replicas {
				m.lagging = m.lagging || (!r.Offline && (!r.Current || r.Lag > 0))
			}
		}
		if kv == st.sagas {
			m.sagaLastSeq = last
		}
	}
	return m, nil
}

// firstAfter is the sequence of the first saga record after seq still
// stored, 0 when there is none.
func (st *store) firstAfter(ctx context.Context, seq uint64) (uint64, error) {
	name := "KV_" + contract.SagaBucket
	stream, err := st.js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", name, err)
	}
	m, err := stream.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject("$KV."+contract.SagaBucket+".>"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the first saga record after sequence %d: %w", seq, err)
	}
	return m.Sequence, nil
}

// readCheckpoint reads the checkpoint as the folder does (none yet is the
// zero checkpoint); one that does not decode is an error, not a violation:
// without it nothing about expired sagas can be said.
func readCheckpoint(ctx context.Context, kv jetstream.KeyValue) (contract.Checkpoint, error) {
	c, _, err := fold.Read(ctx, kv)
	return c, err
}

// readInto reads kv into *dst in a goroutine of g, passes its undecodable
// keys to note and, when keep is set, its records' revisions and times.
func readInto[T any](g *errgroup.Group, ctx context.Context, kv jetstream.KeyValue, dst *map[string]T, note func(bucket string, bad []string), keep func(bucket string, meta map[string]recordMeta)) {
	g.Go(func() error {
		values, meta, bad, err := readBucket[T](ctx, kv)
		*dst = values
		note(kv.Bucket(), bad)
		if keep != nil {
			keep(kv.Bucket(), meta)
		}
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
	values, _, bad, err := readBucket[T](ctx, kv)
	return values, bad, err
}

// readBucket is ReadBucket with each record's revision and time.
func readBucket[T any](ctx context.Context, kv jetstream.KeyValue) (map[string]T, map[string]recordMeta, []string, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), err)
	}
	defer stop(w)
	values := map[string]T{}
	meta := map[string]recordMeta{}
	bad := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, nil, fmt.Errorf("read bucket %s: watcher closed before the last value arrived (connection lost?)", kv.Bucket())
			}
			if e == nil {
				return values, meta, slices.Sorted(maps.Keys(bad)), nil
			}
			// A key written during the read arrives again; the later value wins.
			meta[e.Key()] = recordMeta{rev: e.Revision(), written: e.Created()}
			var v T
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				delete(values, e.Key())
				bad[e.Key()] = true
				continue
			}
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
