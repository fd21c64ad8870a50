package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/natstest"
)

// TestDuplicateDeliveriesOnAClusterSucceedOnlyWithTheirEntry is the lost
// charge the node-loss test found. On replicated buckets a Create that loses
// to a concurrent Create still being replicated fails with "wrong last
// sequence" (ErrKeyExists) before the winner's entry can be read. If the
// winner's write is then lost (its leader killed), a delivery that took the
// loser's ErrKeyExists as "already recorded" has acked an order whose
// entry never lands: the balance is taken with no entry. So a delivery may
// succeed only when the entry is recorded: right after Apply returns, the
// stream's leader must hold it. The buckets are read through their leader
// (no direct get), so a read the ledger made is never behind the check's.
func TestDuplicateDeliveriesOnAClusterSucceedOnlyWithTheirEntry(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	ctx := context.Background()
	nc := natstest.Connect(t, c.ClientURLs())
	js := natstest.JetStream(t, nc)
	balances := leaderRead(t, js, "balances")
	entries := leaderRead(t, js, "entries")
	const accounts, orders, deliveries = 50, 1500, 3
	for i := range accounts {
		put(t, balances, fmt.Sprintf("a%d", i), contract.Balance{Available: 1 << 40})
	}
	ledgers := make([]*ledger.Ledger, deliveries)
	for i := range ledgers {
		ledgers[i] = ledger.New(balances, entries, nil)
	}

	var unrecorded atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range orders {
		order, key := fmt.Sprintf("o%d", i), fmt.Sprintf("a%d", i%accounts)
		for _, l := range ledgers {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := l.Apply(ctx, order, key, 7); err != nil {
					t.Errorf("apply %s: %v", order, err)
					return
				}
				if e, err := l.Entry(ctx, order); err != nil {
					t.Errorf("read entry of %s: %v", order, err)
				} else if e == nil {
					unrecorded.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if n := unrecorded.Load(); n > 0 {
		t.Fatalf("%d of %d deliveries succeeded while the stream's leader held no entry for their order", n, orders*deliveries)
	}
}

// leaderRead makes an R3 bucket whose reads go to its stream's leader: a
// KV's stream allows direct gets, which any replica answers, possibly
// behind; without them the bucket reads through the leader.
func leaderRead(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
