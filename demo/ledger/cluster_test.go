package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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
// stream's leader must hold it.
func TestDuplicateDeliveriesOnAClusterSucceedOnlyWithTheirEntry(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	ctx := context.Background()
	nc := natstest.Connect(t, c.ClientURLs())
	js := natstest.JetStream(t, nc)
	balances, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "balances", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "entries", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
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
				if !leaderHolds(t, nc, "KV_entries", "$KV.entries."+order) {
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

// leaderHolds reports whether stream's leader has a message on subject. The
// plain message get (not direct get) is answered by the leader alone.
func leaderHolds(t *testing.T, nc *nats.Conn, stream, subject string) bool {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	msg, err := nc.Request("$JS.API.STREAM.MSG.GET."+stream, req, 5*time.Second)
	if err != nil {
		t.Errorf("get %s: %v", subject, err)
		return true
	}
	var resp struct {
		Error *struct {
			Code int `json:"err_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		t.Errorf("get %s: %v", subject, err)
		return true
	}
	return resp.Error == nil
}
