// Package fold keeps the checkpoint of the sagas that ended
// (contract.Checkpoint), so their records can expire and `sagascope check`
// still counts what they did.
//
// A Folder reads the saga bucket's stream in order, from the message after
// the checkpoint's Seq, adds every final record it meets to the totals, and
// writes the checkpoint with a compare-and-set on the revision it read.
// The totals are those of exactly the records up to Seq, computed from the
// checkpoint before, so whatever a folder writes is right for its Seq: one
// that stops before its write has folded nothing and the next starts from
// the same Seq. The compare-and-set keeps a slower folder from moving the
// checkpoint back and puts all but one folder on standby. A saga's record
// is final only once (the orchestrator never moves a final saga), so
// counting final records counts sagas.
package fold

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/wait"
)

// Defaults of Config.
const (
	// DefaultEvery is how often a folder writes the checkpoint while there
	// is something new: a 1,000-customer checkpoint is about 45 KB, so two
	// writes a second cost 90 KB/s whatever the saga rate.
	DefaultEvery = 500 * time.Millisecond
	// DefaultStandby is how long a folder that lost a write waits before it
	// looks whether the winner still writes.
	DefaultStandby = 2 * time.Second
)

// Config configures a Folder.
type Config struct {
	JS  jetstream.JetStream
	Log *slog.Logger
	// Every is how often the checkpoint is written while records come
	// (zero: DefaultEvery).
	Every time.Duration
	// Standby is how long a folder that lost a write to another stands by
	// before it checks whether that one still folds (zero: DefaultStandby).
	Standby time.Duration
}

// Folder folds final saga records into the checkpoint.
type Folder struct {
	cfg                                      Config
	checkpoint, charges, reservations, ships jetstream.KeyValue
	// heartbeat is how often the checkpoint is written while nothing
	// ends, to keep its After recent: a quarter of the records' TTL.
	heartbeat time.Duration
}

// New opens the buckets a folder reads and writes.
func New(ctx context.Context, cfg Config) (*Folder, error) {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Standby <= 0 {
		cfg.Standby = DefaultStandby
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f := &Folder{cfg: cfg, heartbeat: time.Minute}
	sagas, err := cfg.JS.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", contract.SagaBucket, err)
	}
	status, err := sagas.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("read status of %s: %w", contract.SagaBucket, err)
	}
	if ttl := status.TTL(); ttl > 0 {
		f.heartbeat = min(f.heartbeat, ttl/4)
	}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{contract.CheckpointBucket, &f.checkpoint},
		{contract.ChargeBucket, &f.charges},
		{contract.ReservationBucket, &f.reservations},
		{contract.ShipmentBucket, &f.ships},
	} {
		kv, err := cfg.JS.KeyValue(ctx, b.name)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	return f, nil
}

// errLost means another folder wrote the checkpoint first.
var errLost = errors.New("another folder wrote the checkpoint first")

// Run folds until ctx ends. A write lost to another folder puts this one on
// standby until that one stops writing; an error is logged and retried.
func (f *Folder) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errLost):
			if err := f.standBy(ctx); err != nil {
				return nil
			}
		case err != nil:
			f.cfg.Log.Warn("fold sagas into the checkpoint", "error", err)
			if wait.For(ctx, f.cfg.Standby) != nil {
				return nil
			}
		}
	}
	return nil
}

// standBy returns once the checkpoint went a whole Standby unwritten.
// A checkpoint that cannot be read counts as written: the folder stands by
// until it can tell.
func (f *Folder) standBy(ctx context.Context) error {
	_, last, _ := Read(ctx, f.checkpoint)
	for {
		if err := wait.For(ctx, f.cfg.Standby); err != nil {
			return err
		}
		_, rev, err := Read(ctx, f.checkpoint)
		if err == nil && rev == last {
			return nil
		}
		last = rev
	}
}

// Read returns the checkpoint and its revision; a bucket without one yet
// gives the zero checkpoint and revision 0.
func Read(ctx context.Context, kv jetstream.KeyValue) (contract.Checkpoint, uint64, error) {
	e, err := kv.Get(ctx, contract.CheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return contract.Checkpoint{}, 0, nil
	}
	if err != nil {
		return contract.Checkpoint{}, 0, fmt.Errorf("read checkpoint: %w", err)
	}
	var c contract.Checkpoint
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return contract.Checkpoint{}, 0, fmt.Errorf("decode checkpoint: %w", err)
	}
	return c, e.Revision(), nil
}

// follow folds from the checkpoint on, writing it every Every while there
// is something new, until ctx ends or a write fails.
func (f *Folder) follow(ctx context.Context) error {
	c, rev, err := Read(ctx, f.checkpoint)
	if err != nil {
		return err
	}
	occ := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if c.Seq > 0 {
		occ = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: c.Seq + 1}
	}
	stream := "KV_" + contract.SagaBucket
	cons, err := f.cfg.JS.OrderedConsumer(ctx, stream, occ)
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	// Messages, unlike Fetch, keeps one consumer and starts it again from
	// the last message seen when a delivery goes missing (a server lost
	// mid-way), so no record is skipped.
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow %s: %w", stream, err)
	}
	defer it.Stop()
	pending, written := false, time.Now()
	for ctx.Err() == nil {
		asked := time.Now()
		wctx, cancel := context.WithTimeout(ctx, f.cfg.Every)
		m, err := it.Next(jetstream.NextContext(wctx))
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			// Nothing came for Every: whatever was stored before the wait
			// began has been delivered.
			c.After = asked.UTC()
		case err != nil:
			return fmt.Errorf("follow %s: %w", stream, err)
		default:
			if err := f.add(ctx, &c, m); err != nil {
				return err
			}
			pending = true
		}
		due := time.Since(written)
		if !(pending && due >= f.cfg.Every) && due < f.heartbeat {
			continue
		}
		if rev, err = f.write(ctx, c, rev); err != nil {
			return err
		}
		pending, written = false, time.Now()
	}
	return nil
}

// write stores c with a compare-and-set on rev and returns its new revision.
func (f *Folder) write(ctx context.Context, c contract.Checkpoint, rev uint64) (uint64, error) {
	c.V = contract.Version
	b, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("encode checkpoint: %w", err)
	}
	var wrote uint64
	if rev == 0 {
		wrote, err = f.checkpoint.Create(ctx, contract.CheckpointKey, b)
	} else {
		wrote, err = f.checkpoint.Update(ctx, contract.CheckpointKey, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errLost
	}
	if err != nil {
		return 0, fmt.Errorf("write checkpoint through %d: %w", c.Seq, err)
	}
	return wrote, nil
}

// finals are the words a final record holds: a record with none of them is
// skipped without decoding, which most of the stream is.
var finals = [][]byte{
	[]byte(contract.SagaCompleted), []byte(contract.SagaCancelled), []byte(contract.SagaCompensationFailed),
}

// add folds one message of the saga bucket's stream into c.
func (f *Folder) add(ctx context.Context, c *contract.Checkpoint, m jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("fold %s: %w", m.Subject(), err)
	}
	c.Seq, c.Through = md.Sequence.Stream, md.Timestamp.UTC()
	if op := m.Headers().Get("KV-Operation"); op != "" || !containsAny(m.Data(), finals) {
		return nil // a delete, a purge, or a saga in flight
	}
	var s contract.Saga
	if json.Unmarshal(m.Data(), &s) != nil || !s.Status.Final() {
		return nil // check reports undecodable records; nothing to count
	}
	if c.Sagas == nil {
		c.Sagas, c.Charged, c.Reserved = map[contract.SagaStatus]int64{}, map[string]int64{}, map[string]int64{}
	}
	c.Sagas[s.Status]++
	id := strings.TrimPrefix(m.Subject(), "$KV."+contract.SagaBucket+".")
	switch s.Status {
	case contract.SagaCompleted:
		c.Charged[s.Order.Customer] += s.Order.Amount
		c.Reserved[s.Order.SKU] += s.Order.Qty
		c.Shipments++
	case contract.SagaCompensationFailed:
		// A compensation gave up, so what stayed applied is in the
		// effects' records, not in the saga's: read them while they live.
		return f.addParked(ctx, c, id)
	}
	return nil
}

// addParked counts what a saga parked as compensation_failed left applied.
func (f *Folder) addParked(ctx context.Context, c *contract.Checkpoint, id string) error {
	for _, e := range []struct {
		kv  jetstream.KeyValue
		sum map[string]int64
	}{{f.charges, c.Charged}, {f.reservations, c.Reserved}} {
		var entry contract.Entry
		found, err := get(ctx, e.kv, id, &entry)
		if err != nil {
			return err
		}
		if found && entry.Status == contract.EntryApplied {
			e.sum[entry.Key] += entry.Amount
		}
	}
	var sh contract.Shipment
	found, err := get(ctx, f.ships, id, &sh)
	if err != nil {
		return err
	}
	if found && sh.Status != contract.ShipmentVoided {
		c.Shipments++
	}
	return nil
}

func get(ctx context.Context, kv jetstream.KeyValue, key string, v any) (bool, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s/%s: %w", kv.Bucket(), key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", kv.Bucket(), key, err)
	}
	return true, nil
}

func containsAny(b []byte, words [][]byte) bool {
	for _, w := range words {
		if bytes.Contains(b, w) {
			return true
		}
	}
	return false
}
