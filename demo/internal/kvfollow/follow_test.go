package kvfollow_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/internal/kvfollow"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// values is what a follower applied, by key.
type values struct {
	mu  sync.Mutex
	got map[string]string
}

func (v *values) apply(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		v.got[e.Key()] = string(e.Value())
	} else {
		delete(v.got, e.Key())
	}
}

func (v *values) get(k string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.got[k]
	return s, ok
}

func TestAFollowerAppliesInitialValuesThenChangesOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	js := natstest.JetStream(t, natstest.Connect(t, natstest.Server(t).ClientURL()))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ctl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "f.a", "1"); err != nil {
		t.Fatal(err)
	}
	var applied []string
	var mu sync.Mutex
	done, err := kvfollow.Follow(ctx, kv, kvfollow.Options{Filter: "f.*", Keys: []string{"f.a", "f.b"}, Every: 20 * time.Millisecond,
		Apply: func(e jetstream.KeyValueEntry) {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, fmt.Sprintf("%s %s %s", e.Operation(), e.Key(), e.Value()))
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := fmt.Sprint(applied)
	mu.Unlock()
	if first != "[KeyValuePutOp f.a 1]" {
		t.Fatalf("on return applied %s, want the initial value", first)
	}
	if _, err := kv.PutString(ctx, "f.b", "2"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "f.a"); err != nil {
		t.Fatal(err)
	}
	want := "[KeyValuePutOp f.a 1 KeyValuePutOp f.b 2 KeyValueDeleteOp f.a ]"
	systemtest.WaitFor(t, 10*time.Second, "the changes applied", func() error {
		mu.Lock()
		defer mu.Unlock()
		if got := fmt.Sprint(applied); got != want {
			return fmt.Errorf("applied %s", got)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // five checks: none may apply anything again
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(applied); got != want {
		t.Fatalf("applied %s, want each change once: %s", got, want)
	}
}

// The server holding a watch's consumer stops: the follower replaces the
// silent watch and applies a change made after the stop. The library's own
// recovery of an ordered consumer takes 10 s or more (two missed 5 s
// heartbeats, then a new consumer), so a change seen within 5 s is the
// follower's doing; the check reads every 200 ms.
func TestAFollowerSeesChangesAfterItsWatchsServerStops(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	servers := c.Servers()
	admin := natstest.JetStream(t, natstest.Connect(t, c.ClientURLs()))
	if _, err := admin.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ctl", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	kv, err := natstest.JetStream(t, natstest.Connect(t, servers[0].ClientURL())).KeyValue(ctx, "ctl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "load", "10"); err != nil {
		t.Fatal(err)
	}

	// Follow from a client on s1 until the watch's consumer is on another
	// server, so stopping that server leaves the client connected.
	var v *values
	var restarted atomic.Int32
	var done <-chan struct{}
	stop, host := func() {}, -1
	for range 20 {
		fctx, fcancel := context.WithCancel(ctx)
		v = &values{got: map[string]string{}}
		done, err = kvfollow.Follow(fctx, kv, kvfollow.Options{Filter: "load", Keys: []string{"load"}, Every: 200 * time.Millisecond,
			Apply: v.apply, Restarted: func(error) { restarted.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		stop = func() { fcancel(); <-done }
		if host = consumerHost(t, ctx, admin, servers); host > 0 {
			break
		}
		stop()
	}
	defer func() { stop() }()
	if host <= 0 {
		t.Skip("the watch's consumer never landed off the client's server")
	}
	c.Stop(host)
	other := natstest.JetStream(t, natstest.Connect(t, servers[3-host].ClientURL()))
	// The bucket may have no leader for a moment after the stop.
	systemtest.WaitFor(t, 30*time.Second, "a write after the stop", func() error {
		okv, err := other.KeyValue(ctx, "ctl")
		if err == nil {
			_, err = okv.PutString(ctx, "load", "20")
		}
		return err
	})
	systemtest.WaitFor(t, 5*time.Second, "the change applied", func() error {
		if got, _ := v.get("load"); got != "20" {
			return fmt.Errorf("load is %q", got)
		}
		return nil
	})
	if restarted.Load() == 0 {
		t.Fatal("the change arrived without the follower replacing its watch")
	}
}

// consumerHost is the index of the server holding the one consumer of the
// bucket's stream (the watch's), -1 while it is not known.
func consumerHost(t *testing.T, ctx context.Context, js jetstream.JetStream, servers []*embedded.Server) int {
	t.Helper()
	s, err := js.Stream(ctx, "KV_ctl")
	if err != nil {
		t.Fatal(err)
	}
	for ci := range s.ListConsumers(ctx).Info() {
		if ci.Cluster == nil {
			continue
		}
		for i, srv := range servers {
			if ns := srv.NATS(); ns != nil && ns.Name() == ci.Cluster.Leader {
				return i
			}
		}
	}
	return -1
}
