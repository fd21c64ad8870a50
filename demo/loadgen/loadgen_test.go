package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a real server with the demo's streams and buckets, and a
// generator that runs as a client of it until the test ends.
type rig struct {
	url     string
	js      jetstream.JetStream
	control jetstream.KeyValue
	orders  jetstream.Stream
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	if err := topology.Ensure(ctx, js, topology.Options{Seed: systemtest.Seed}); err != nil {
		t.Fatal(err)
	}
	control, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	orders, err := js.Stream(ctx, contract.StreamName(contract.Orders))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{url: srv.ClientURL(), js: js, control: control, orders: orders}
}

// start runs a generator as a client of the rig's server until the test
// ends; the test fails if it ends with an error.
func (r *rig) start(t *testing.T, rate float64) *loadgen.Generator {
	t.Helper()
	g := loadgen.New(loadgen.Config{Rate: rate, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- g.RunClient(ctx, loadgen.Client{Instance: "t", Connect: func(_ context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(r.url, nats.Name(name))
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the generator ended with %v", err)
		}
	})
	return g
}

// put stores v under key in the control bucket, as the control plane does.
func (r *rig) put(t *testing.T, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.control.Put(t.Context(), key, b); err != nil {
		t.Fatal(err)
	}
}

// placed is how many place-order commands the orders stream holds.
func (r *rig) placed(t *testing.T) uint64 {
	t.Helper()
	info, err := r.orders.Info(t.Context(), jetstream.WithSubjectFilter(contract.Subject(contract.PlaceOrder)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestTheGeneratorPlacesValidOrdersForSeededCustomers(t *testing.T) {
	r := newRig(t)
	g := r.start(t, 200)
	systemtest.WaitFor(t, systemtest.Quickly, "20 orders placed", func() error {
		if n := r.placed(t); n < 20 {
			return fmt.Errorf("%d placed", n)
		}
		return nil
	})
	m, err := r.orders.GetLastMsgForSubject(t.Context(), contract.Subject(contract.PlaceOrder))
	if err != nil {
		t.Fatal(err)
	}
	env, err := contract.Decode(m.Subject, m.Data)
	if err != nil {
		t.Fatalf("a placed order does not decode: %v", err)
	}
	o := env.Order
	if m.Header.Get(contract.MsgIDHeader) != env.ID || m.Header.Get(contract.SagaHeader) != env.SagaID || env.SagaID == "" {
		t.Errorf("headers %v do not name the envelope %s of saga %s", m.Header, env.ID, env.SagaID)
	}
	if o.Qty < 1 || o.Amount <= 0 || o.Customer == "" || o.SKU == "" {
		t.Errorf("order %+v is not a valid order", o)
	}
	if st := g.Status(); st.Rate != 200 || st.Placed == 0 {
		t.Errorf("status %+v: want the rate and what it placed", st)
	}
}

func TestAStoredSettingWinsOverTheStartingRate(t *testing.T) {
	r := newRig(t)
	r.put(t, contract.LoadKey, contract.LoadSetting{Rate: 7})
	g := r.start(t, 100)
	systemtest.WaitFor(t, systemtest.Quickly, "the stored rate in force", func() error {
		if st := g.Status(); st.Rate != 7 {
			return fmt.Errorf("rate %v", st.Rate)
		}
		return nil
	})
}

func TestABurstFaultOnOrdersMultipliesTheRate(t *testing.T) {
	r := newRig(t)
	g := r.start(t, 10)
	r.put(t, contract.FaultKey(contract.Orders, contract.FaultBurst),
		contract.Fault{Service: contract.Orders, Kind: contract.FaultBurst, Multiplier: 3, Set: time.Now()})
	systemtest.WaitFor(t, systemtest.Quickly, "the burst in force", func() error {
		if st := g.Status(); st.Effective != 30 {
			return fmt.Errorf("effective rate %v", st.Effective)
		}
		return nil
	})
	if err := r.control.Delete(t.Context(), contract.FaultKey(contract.Orders, contract.FaultBurst)); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, systemtest.Quickly, "the burst cleared", func() error {
		if st := g.Status(); st.Effective != 10 {
			return fmt.Errorf("effective rate %v", st.Effective)
		}
		return nil
	})
}

// A burst request is a one-off batch of its size, and a burst already
// stored when a generator starts is not placed again. A burst set while the
// generator is still reading the stored setting counts as stored (so is
// not placed), which is why the test asks again until one is placed.
func TestABurstRequestPlacesItsOrdersOnce(t *testing.T) {
	r := newRig(t)
	r.put(t, contract.LoadKey, contract.LoadSetting{Rate: 0, Burst: 40, BurstID: 1})
	g := r.start(t, 0)
	id := uint64(1)
	systemtest.WaitFor(t, systemtest.Quickly, "a burst placed", func() error {
		id++
		r.put(t, contract.LoadKey, contract.LoadSetting{Rate: 0, Burst: 25, BurstID: id})
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if g.Status().Placed > 0 {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return fmt.Errorf("burst %d not placed", id)
	})
	// Whole bursts of 25, never the stored 40: 40+25k is no multiple of 25.
	systemtest.WaitFor(t, systemtest.Quickly, "whole bursts placed and stored", func() error {
		placed, stored := g.Status().Placed, r.placed(t)
		if placed%25 != 0 || stored != placed {
			return fmt.Errorf("%d placed, %d stored", placed, stored)
		}
		return nil
	})
}
