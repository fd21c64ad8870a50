// Package sessiontest starts a shared session for tests of what each role
// may do: a real embedded server with Auth and JetStream on a t.TempDir(),
// the demo's streams and buckets, and connections that record what the
// server refused them. Import it only from _test.go files.
//
// It serves both sides of the one direction of imports: demo/embedded tests
// what the server lets each role do, and the dashboard's feed tests that it
// can watch as an observer, so neither copies the other's set-up.
package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/topology"
)

// RefusedWithin bounds a call the server refuses: a refused publish is
// dropped, so a JetStream API call waits for an answer that never comes.
const RefusedWithin = 3 * time.Second

// The instance whose control service the session runs, and the saga and the
// dead letter it stores, so that each store an observer reads holds
// something.
const (
	Instance = "p1"
	SagaID   = "o-1"
)

// Session is a shared session: a server with Auth, the demo's streams and
// buckets, a payment control service, one saga and one dead letter, all made
// through the services' own login.
type Session struct {
	Server *embedded.Server
	Roles  embedded.Roles
	// Services is the in-process services' connection.
	Services *Client
}

// Start starts a session; everything in it ends with the test.
func Start(t *testing.T) *Session {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if err != nil {
		t.Fatalf("start a server with Auth: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	roles, ok := srv.Roles()
	if !ok {
		t.Fatal("Roles: no roles on a server started with Auth")
	}
	s := &Session{Server: srv, Roles: roles}
	s.Services = Dial(t, srv.ClientURL(), "services", srv.ClientOptions()...)
	js := s.Services.JS
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tiny := contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}
	if err := topology.Ensure(ctx, js, topology.Options{Seed: tiny}); err != nil {
		t.Fatalf("create the demo's streams as the service user: %v", err)
	}
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := endpoint.Serve(s.Services.NC, endpoint.Config{Service: contract.Payment, Instance: Instance, Version: "1.0.0", Control: kv})
	if err != nil {
		t.Fatalf("serve the control API as the service user: %v", err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	sagas, err := js.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	saga, _ := json.Marshal(contract.Saga{V: contract.Version, ID: SagaID, Status: contract.SagaCharging, Started: time.Now()})
	if _, err := sagas.Put(ctx, SagaID, saga); err != nil {
		t.Fatalf("store saga %s as the service user: %v", SagaID, err)
	}
	dead := nats.NewMsg(contract.DeadLetterSubject(contract.Payment))
	dead.Header.Set(contract.DeadLetterReason, "role test")
	dead.Data = []byte("x")
	if _, err := js.PublishMsg(ctx, dead); err != nil {
		t.Fatalf("store a dead letter as the service user: %v", err)
	}
	return s
}

// Dial logs in as u, with u's inbox prefix as every client of u must.
func (s *Session) Dial(t *testing.T, u embedded.User) *Client {
	t.Helper()
	return Dial(t, s.Server.ClientURL(), u.Name, nats.UserInfo(u.Name, u.Password), nats.CustomInboxPrefix(u.InboxPrefix()))
}

// Client is a connection that records the asynchronous errors the server
// sends it, such as permissions violations. It is safe for concurrent use.
type Client struct {
	NC *nats.Conn
	JS jetstream.JetStream

	mu   sync.Mutex
	errs []error
}

// Dial connects to url with opts under the connection name name, and closes
// the connection when the test ends.
func Dial(t *testing.T, url, name string, opts ...nats.Option) *Client {
	t.Helper()
	c := &Client{}
	opts = append([]nats.Option{nats.Name(name), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	})}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	c.NC = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// Violations returns the permissions violations the server has reported so
// far. They arrive asynchronously, so one caused by the last call may not be
// here yet; Refused waits for one.
func (c *Client) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, err := range c.errs {
		if errors.Is(err, nats.ErrPermissionViolation) {
			out = append(out, err.Error())
		}
	}
	return out
}

// Refused waits up to RefusedWithin until the server has reported a
// violation naming subject, and fails the test if it has not.
func (c *Client) Refused(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(RefusedWithin)
	for {
		for _, v := range c.Violations() {
			if strings.Contains(v, `"`+subject+`"`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server reported no violation for %q; it reported %q", subject, c.Violations())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
