package check

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fold"
	"github.com/sagascope/sagascope/demo/topology"
)

// recordTTL is short, so records really expire during a test.
const recordTTL = 2 * time.Second

// foldAll runs a folder until the checkpoint is folded through the saga
// stream's last message, then stops it.
func (f *fixture) foldAll() contract.Checkpoint {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.t.Context())
	folder, err := fold.New(ctx, fold.Config{JS: f.js, Every: 10 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = folder.Run(ctx)
	}()
	defer func() { cancel(); wg.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, _, err := fold.Read(ctx, f.kv(contract.CheckpointBucket))
		if err != nil {
			f.t.Fatal(err)
		}
		if c.Seq > 0 && c.Seq == f.lastSeq(contract.SagaBucket) {
			return c
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("checkpoint folded through %d of %d after 10s", c.Seq, f.lastSeq(contract.SagaBucket))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) lastSeq(bucket string) uint64 {
	f.t.Helper()
	s, err := f.js.Stream(f.t.Context(), "KV_"+bucket)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// waitExpired waits until the order-keyed buckets hold no record.
func (f *fixture) waitExpired() {
	f.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		left := 0
		for _, b := range contract.OrderBuckets {
			s, err := f.js.Stream(f.t.Context(), "KV_"+b)
			if err != nil {
				f.t.Fatal(err)
			}
			left += int(s.CachedInfo().State.Msgs)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d records left after 20s with a TTL of %s", left, recordTTL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCheckStaysExactOverSagasWhoseRecordsExpired: thirty sagas end, are
// folded into the checkpoint and their records expire; five more end and
// are folded with their records still there, and three end after the last
// fold. Check counts the first two kinds from the checkpoint, once, and the
// last from their records, and still catches an amount taken twice, or a
// checkpoint that counts what was never taken.
func TestCheckStaysExactOverSagasWhoseRecordsExpired(t *testing.T) {
	f := newFixtureWith(t, topology.Options{Seed: smallSeed, RecordTTL: recordTTL})
	for i := range 30 {
		if o := order(i, i%3, i%2); i%3 == 2 {
			f.cancelled(o)
		} else {
			f.completed(o)
		}
	}
	f.foldAll()
	f.waitExpired()
	for i := 30; i < 35; i++ {
		f.completed(order(i, i%3, i%2))
	}
	folded := f.foldAll()
	for i := 35; i < 38; i++ {
		f.completed(order(i, i%3, i%2))
	}

	r := f.run(Options{})
	if !r.OK() {
		t.Fatalf("violations over expired records: %v", r.Violations)
	}
	if got := r.Checkpoint.Folded(); got != 35 || folded.Sagas[contract.SagaCompleted] != 25 {
		t.Fatalf("checkpoint counts %d sagas (%v), want 35, 25 completed", got, folded.Sagas)
	}
	if got := r.Sagas[contract.SagaCompleted]; got != 8 || len(r.Sagas) != 1 {
		t.Fatalf("sagas with records %v, want the 8 completed after the records expired", r.Sagas)
	}
	if r.MoneyNow != r.MoneyStart || r.StockNow != r.StockStart {
		t.Fatalf("money %d of %d, stock %d of %d", r.MoneyNow, r.MoneyStart, r.StockNow, r.StockStart)
	}

	t.Run("an amount taken twice from an account whose sagas expired fails", func(t *testing.T) {
		f.adjust(contract.AccountBucket, topology.CustomerID(1), -1250)
		defer f.adjust(contract.AccountBucket, topology.CustomerID(1), 1250)
		got := ruleSubjects(f.run(Options{}).Violations)
		want := []string{"money-conserved saga_accounts", "account-balance cust-0001"}
		if !slices.Equal(got, want) {
			t.Fatalf("violations %v, want %v", got, want)
		}
	})
	t.Run("a checkpoint that counts a charge never taken fails", func(t *testing.T) {
		kv := f.kv(contract.CheckpointBucket)
		e, err := kv.Get(t.Context(), contract.CheckpointKey)
		if err != nil {
			t.Fatal(err)
		}
		var c contract.Checkpoint
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			t.Fatal(err)
		}
		c.Charged[topology.CustomerID(0)] += 1250
		f.put(contract.CheckpointBucket, contract.CheckpointKey, c)
		defer f.putRaw(contract.CheckpointBucket, contract.CheckpointKey, e.Value())
		got := ruleSubjects(f.run(Options{}).Violations)
		want := []string{"money-conserved saga_accounts", "account-balance cust-0000"}
		if !slices.Equal(got, want) {
			t.Fatalf("violations %v, want %v", got, want)
		}
	})
}

// TestCheckReportsRecordsThatExpiredBeforeTheyWereFolded: with no folder
// running, the records of ended sagas expire uncounted. Check says so, as
// well as the money that no longer adds up, instead of passing on what is
// left.
func TestCheckReportsRecordsThatExpiredBeforeTheyWereFolded(t *testing.T) {
	f := newFixtureWith(t, topology.Options{Seed: smallSeed, RecordTTL: recordTTL})
	for i := range 4 {
		f.completed(order(i, 0, 0))
	}
	f.waitExpired()
	got := ruleSubjects(f.run(Options{}).Violations)
	want := []string{
		"money-conserved saga_accounts", "account-balance cust-0000",
		"stock-conserved saga_stock", "stock-balance sku-000",
		"folded-before-expiry saga_sagas",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}
