// Package endpointtest runs the control plane's service endpoint for tests:
// a real server with the demo's streams and buckets, and endpoint instances
// serving its control bucket on a settable clock. Import it only from
// _test.go files.
//
// It serves both sides of the control plane: demo/control/endpoint tests
// what the endpoints answer, and demo/control tests its client and commands
// against them, so neither copies the other's set-up. It does not import
// demo/control, so demo/control's internal tests may import it.
package endpointtest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint"
	"github.com/sagascope/sagascope/demo/internal/testclock"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

// Demo is a server with the demo's resources and a connection to it, with
// no endpoint running until the test calls Serve.
type Demo struct {
	URL string
	// Login are the connection options of the login that made the
	// resources; Serve's endpoints connect with them too.
	Login []nats.Option
	// KV is the control bucket, opened on NC.
	KV jetstream.KeyValue
	// NC is the test's own connection, for a client or raw requests.
	NC *nats.Conn
	// Clock is the clock of every endpoint Serve starts.
	Clock *Clock
}

// Start starts a server of its own and creates the demo's resources on it;
// everything ends with the test.
func Start(t *testing.T) *Demo {
	t.Helper()
	return New(t, natstest.Server(t).ClientURL())
}

// New creates the demo's resources on the server at url, logged in with
// login (none: the server's default).
func New(t *testing.T, url string, login ...nats.Option) *Demo {
	t.Helper()
	nc := natstest.Connect(t, url, login...)
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
	return &Demo{URL: url, Login: login, KV: kv, NC: nc, Clock: NewClock()}
}

// Serve starts the control endpoint of svc on its own connection, as one
// service instance would, on d.Clock; edit changes its Config first. The
// endpoint stops with the test.
func (d *Demo) Serve(t *testing.T, svc contract.Service, edit ...func(*endpoint.Config)) micro.Service {
	t.Helper()
	nc := natstest.Connect(t, d.URL, d.Login...)
	js := natstest.JetStream(t, nc)
	kv, err := js.KeyValue(t.Context(), contract.ControlBucket)
	if err != nil {
		t.Fatalf("open control bucket: %v", err)
	}
	cfg := endpoint.Config{Service: svc, Instance: string(svc) + "-1", Version: "1.0.0", Control: kv, Now: d.Clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := endpoint.Serve(nc, cfg)
	if err != nil {
		t.Fatalf("serve %s: %v", svc, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s control endpoint: %v", svc, err)
		}
	})
	return s
}

// LastSeq is the control bucket's last stream sequence: any write, delete
// marker included, moves it.
func (d *Demo) LastSeq(t *testing.T) uint64 {
	t.Helper()
	st, err := d.KV.Status(t.Context())
	if err != nil {
		t.Fatalf("control bucket status: %v", err)
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
}

// Context bounds one step of a test: ten seconds, and no longer than the
// test.
func Context(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond, for five seconds at most, for what the system
// settles into asynchronously.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Clock is the settable clock of the endpoints a Demo serves.
type Clock = testclock.Clock

// NewClock returns a clock stopped at a fixed instant.
func NewClock() *Clock { return testclock.At(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }
