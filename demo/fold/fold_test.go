package fold_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fold"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a real server with the demo's buckets and the totals the test
// expects the checkpoint to reach.
type rig struct {
	t     *testing.T
	js    jetstream.JetStream
	kv    map[string]jetstream.KeyValue
	mu    sync.Mutex
	want  contract.Checkpoint
	count int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := natstest.Server(t)
	js := natstest.JetStream(t, natstest.Connect(t, srv.ClientURL()))
	seed := contract.Seed{Accounts: 3, AccountBalance: 1 << 40, SKUs: 3, StockPerSKU: 1 << 40}
	if err := topology.Ensure(t.Context(), js, topology.Options{Seed: seed}); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, js: js, kv: map[string]jetstream.KeyValue{}}
	r.want.Sagas, r.want.Charged, r.want.Reserved = map[contract.SagaStatus]int64{}, map[string]int64{}, map[string]int64{}
	for _, b := range []string{contract.SagaBucket, contract.CheckpointBucket, contract.ChargeBucket, contract.ReservationBucket, contract.ShipmentBucket} {
		kv, err := js.KeyValue(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		r.kv[b] = kv
	}
	return r
}

func (r *rig) put(bucket, key string, v any) uint64 {
	r.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	rev, err := r.kv[bucket].Put(context.Background(), key, b)
	if err != nil {
		r.t.Errorf("put %s/%s: %v", bucket, key, err)
	}
	return rev
}

// saga writes one saga as the orchestrator would: a record in flight, then
// its final record, and for a parked saga the effects it left, and adds
// what it did to the expected totals.
func (r *rig) saga(status contract.SagaStatus) {
	r.mu.Lock()
	r.count++
	n := r.count
	r.mu.Unlock()
	o := contract.Order{
		ID: fmt.Sprintf("o%05d", n), Customer: topology.CustomerID(n % 3), SKU: topology.SKU(n % 2),
		Qty: int64(1 + n%4), Amount: int64(100 + n),
	}
	s := contract.Saga{V: contract.Version, ID: o.ID, Order: o, Status: contract.SagaCharging, Started: time.Now()}
	r.put(contract.SagaBucket, o.ID, s)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch status {
	case contract.SagaCompleted:
		r.want.Charged[o.Customer] += o.Amount
		r.want.Reserved[o.SKU] += o.Qty
		r.want.Shipments++
	case contract.SagaCompensationFailed:
		// The refund gave up: the charge stays applied; the reservation was
		// never made.
		r.put(contract.ChargeBucket, o.ID, contract.Entry{Order: o.ID, Key: o.Customer, Amount: o.Amount, Status: contract.EntryApplied})
		r.put(contract.ReservationBucket, o.ID, contract.Entry{Order: o.ID, Key: o.SKU, Amount: o.Qty, Status: contract.EntryVoided})
		r.want.Charged[o.Customer] += o.Amount
	}
	r.want.Sagas[status]++
	s.Status = status
	r.put(contract.SagaBucket, o.ID, s)
}

// mixed writes n sagas: mostly completed, some cancelled, a few parked,
// and a few left in flight, which count for nothing.
func (r *rig) mixed(n int) {
	for i := range n {
		switch i % 10 {
		case 7, 8:
			r.saga(contract.SagaCancelled)
		case 9:
			if i%20 == 9 {
				r.saga(contract.SagaCompensationFailed)
			} else {
				r.saga(contract.SagaReserving) // in flight
			}
		default:
			r.saga(contract.SagaCompleted)
		}
	}
}

// expected is what the checkpoint must hold once every record is folded.
func (r *rig) expected() contract.Checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.want
	delete(w.Sagas, contract.SagaReserving)
	return w
}

// caughtUp waits until the checkpoint is folded through the saga stream's
// last message and returns it.
func (r *rig) caughtUp(within time.Duration) contract.Checkpoint {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := r.js.Stream(context.Background(), "KV_"+contract.SagaBucket)
		if err != nil {
			r.t.Fatal(err)
		}
		c, _, err := fold.Read(context.Background(), r.kv[contract.CheckpointBucket])
		if err != nil {
			r.t.Fatal(err)
		}
		if last := s.CachedInfo().State.LastSeq; c.Seq == last {
			return c
		} else if time.Now().After(deadline) {
			r.t.Fatalf("checkpoint folded through %d, the stream ends at %d, after %s", c.Seq, last, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) folder(every time.Duration) *fold.Folder {
	r.t.Helper()
	f, err := fold.New(r.t.Context(), fold.Config{JS: r.js, Every: every, Standby: 3 * every})
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// sameTotals compares what the checkpoint counts with what was written.
func sameTotals(t *testing.T, got, want contract.Checkpoint) {
	t.Helper()
	got.V, got.Seq, got.Through, got.After = 0, 0, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("checkpoint counts\n%+v\nwant\n%+v", got, want)
	}
}

func TestAFolderCountsEveryEndedSagaOnceWhatItDid(t *testing.T) {
	r := newRig(t)
	r.mixed(400)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.folder(20 * time.Millisecond).Run(ctx) }()
	c := r.caughtUp(10 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sameTotals(t, c, r.expected())
	if c.Sagas[contract.SagaCompensationFailed] == 0 || c.Sagas[contract.SagaCancelled] == 0 {
		t.Fatalf("the test wrote no parked or no cancelled saga: %v", c.Sagas)
	}
}

// Folders stopped at random moments, while sagas keep ending, and two at a
// time now and then: each stop loses what it folded since its last write,
// and the next folder starts over from the checkpoint, so every saga is
// counted once. Starting from the checkpoint's own message instead of the
// next counts some twice.
func TestFoldersStoppedAtAnyMomentAndRacingEachOtherCountEachSagaOnce(t *testing.T) {
	r := newRig(t)
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for range 30 {
			r.mixed(40)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	var wg sync.WaitGroup
	stops := 0
	for running := true; running; {
		select {
		case <-writing:
			running = false
		default:
		}
		n := 1 + rng.IntN(2) // one folder, or two racing
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(5+rng.IntN(60))*time.Millisecond)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.folder(2 * time.Millisecond).Run(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		cancel()
		stops++
	}
	ctx, cancel := context.WithCancel(t.Context())
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.folder(20 * time.Millisecond).Run(ctx)
	}()
	c := r.caughtUp(20 * time.Second)
	cancel()
	wg.Wait()
	t.Logf("%d folders stopped mid-way; %d sagas folded through sequence %d", stops, c.Folded(), c.Seq)
	sameTotals(t, c, r.expected())
}
