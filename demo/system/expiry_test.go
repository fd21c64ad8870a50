package system_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fold"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// Records that expire a few seconds after their last write, under load,
// with the orders service (and the folder it runs) crashed and restarted
// mid-way: every order placed is folded into the checkpoint exactly once,
// and check is exact over sagas whose records are long gone.
func TestRecordsExpiringUnderLoadAcrossAnOrdersCrashAreFoldedOnce(t *testing.T) {
	const ttl = 5 * time.Second
	r := demo(t, 50, func(c *system.Config) { c.Topology.RecordTTL = ttl })
	first := r.waitFolded(t, 100)
	r.crash(t, r.feed.wait(t, r.feed.mark(), quickly, "orders reports", func(s contract.Status) bool { return s.Service == contract.Orders }))
	r.waitFolded(t, first+100)
	// The first sagas' records are gone by now.
	r.waitGone(t, ttl)

	r.settle(t)
	c := r.waitCaughtUp(t)
	placed := r.placed(t)
	if c.Folded() != int64(placed) {
		t.Fatalf("%d orders placed, the checkpoint counts %d sagas (%v)", placed, c.Folded(), c.Sagas)
	}
	rep := r.mustCheck(t)
	if rep.Checkpoint.Folded() != c.Folded() {
		t.Fatalf("check read a checkpoint of %d sagas, want %d", rep.Checkpoint.Folded(), c.Folded())
	}
	t.Logf("%d orders placed and folded; %d sagas with records left", placed, len(sagas(t, r.js)))
}

func (r *rig) checkpoint(t *testing.T) (contract.Checkpoint, uint64) {
	t.Helper()
	kv, err := r.js.KeyValue(requestCtx(t), contract.CheckpointBucket)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := fold.Read(requestCtx(t), kv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.js.Stream(requestCtx(t), "KV_"+contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	return c, s.CachedInfo().State.LastSeq
}

// waitFolded waits until the checkpoint counts at least n sagas.
func (r *rig) waitFolded(t *testing.T, n int64) int64 {
	t.Helper()
	var got int64
	systemtest.WaitFor(t, eventually, fmt.Sprintf("%d sagas folded", n), func() error {
		c, _ := r.checkpoint(t)
		if got = c.Folded(); got < n {
			return fmt.Errorf("%d folded", got)
		}
		return nil
	})
	return got
}

// waitCaughtUp waits until the checkpoint is folded through the saga
// stream's last message.
func (r *rig) waitCaughtUp(t *testing.T) contract.Checkpoint {
	t.Helper()
	var c contract.Checkpoint
	systemtest.WaitFor(t, eventually, "the checkpoint folded through the last saga record", func() error {
		var last uint64
		if c, last = r.checkpoint(t); c.Seq != last {
			return fmt.Errorf("folded through %d of %d", c.Seq, last)
		}
		return nil
	})
	return c
}

// waitGone waits until the saga stream has dropped its first records.
func (r *rig) waitGone(t *testing.T, ttl time.Duration) {
	t.Helper()
	systemtest.WaitFor(t, eventually+ttl, "the first saga records expired", func() error {
		s, err := r.js.Stream(requestCtx(t), "KV_"+contract.SagaBucket)
		if err != nil {
			return err
		}
		st := s.CachedInfo().State
		if c, _ := r.checkpoint(t); st.Msgs >= uint64(c.Folded()) {
			return fmt.Errorf("%d records stored, %d sagas folded", st.Msgs, c.Folded())
		}
		return nil
	})
}

// placed counts the orders the load generator placed: the place commands
// the orders stream stored, each once (the generator sets a message id).
func (r *rig) placed(t *testing.T) uint64 {
	t.Helper()
	s, err := r.js.Stream(requestCtx(t), contract.StreamName(contract.Orders))
	if err != nil {
		t.Fatal(err)
	}
	subject := contract.Subject(contract.PlaceOrder)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}
