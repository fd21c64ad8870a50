package control

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo is a server with the demo's resources and a client connection, with
// no control service running until the test calls serve.
type demo struct {
	url    string
	kv     jetstream.KeyValue
	nc     *nats.Conn
	client *Client
	clock  *clock
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	srv := natstest.Server(t)
	return newDemo(t, srv.ClientURL())
}

// newDemo creates the demo's resources on the server at url.
func newDemo(t *testing.T, url string) *demo {
	t.Helper()
	nc := natstest.Connect(t, url)
	js := natstest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The control plane never reads accounts or stock; seeding the default
	// 1,100 of them would be most of each test's run time.
	tiny := contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}
	if err := topology.Ensure(ctx, js, topology.Options{Seed: tiny}); err != nil {
		t.Fatalf("create the demo's resources: %v", err)
	}
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		t.Fatalf("open control bucket: %v", err)
	}
	return &demo{url: url, kv: kv, nc: nc, client: NewClient(nc), clock: newClock()}
}

// serve starts the control service of svc on its own connection, as one
// service instance would, on the demo's clock.
func (d *demo) serve(t *testing.T, svc contract.Service, edit ...func(*Config)) micro.Service {
	t.Helper()
	nc := natstest.Connect(t, d.url)
	js := natstest.JetStream(t, nc)
	kv, err := js.KeyValue(t.Context(), contract.ControlBucket)
	if err != nil {
		t.Fatalf("open control bucket: %v", err)
	}
	cfg := Config{Service: svc, Instance: string(svc) + "-1", Version: "1.0.0", Control: kv, Now: d.clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := Serve(nc, cfg)
	if err != nil {
		t.Fatalf("serve %s: %v", svc, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s control service: %v", svc, err)
		}
	})
	return s
}

// lastSeq is the control bucket's last stream sequence: any write, delete
// marker included, moves it.
func (d *demo) lastSeq(t *testing.T) uint64 {
	t.Helper()
	st, err := d.kv.Status(t.Context())
	if err != nil {
		t.Fatalf("control bucket status: %v", err)
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clock is a settable clock for expiry; it starts at a fixed instant.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
