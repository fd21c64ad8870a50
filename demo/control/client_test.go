package control

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
	"github.com/sagascope/sagascope/demo/natstest"
)

func TestRequestsWithNobodyServingFailWithErrNoResponders(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	_, err := d.client.Faults(endpointtest.Context(t))
	if !errors.Is(err, ErrNoResponders) || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("Faults with no service = %v; want ErrNoResponders, matching nats.ErrNoResponders too", err)
	}
	want := "list faults: no sagascope service answers on " + contract.FaultListSubject + ": is the demo running?"
	if err.Error() != want {
		t.Fatalf("error text = %q; want %q", err, want)
	}
}

func TestABucketFailureComesBackAsA500RemoteError(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)
	js := natstest.JetStream(t, d.NC)
	if err := js.DeleteKeyValue(ctx, contract.ControlBucket); err != nil {
		t.Fatalf("delete the control bucket: %v", err)
	}
	_, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultPause})
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != 500 || !strings.Contains(err.Error(), "sagascope service failed (500): write fault payment pause") {
		t.Fatalf("SetFault with the bucket gone = %v; want a RemoteError 500 naming the write", err)
	}
}

func TestARefusedPublishIsReportedAtOnceAndClearly(t *testing.T) {
	t.Parallel()
	url := restrictedServer(t)
	d := newDemo(t, withUser(t, url, "admin"))
	d.Serve(t, contract.Payment)

	quiet := func(nc *nats.Conn) *nats.Conn {
		// nats.go prints asynchronous errors to stderr without a handler;
		// the test asserts on them through the returned errors instead.
		nc.SetErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
		return nc
	}
	viewer := NewClient(quiet(natstest.Connect(t, withUser(t, url, "viewer"))))
	deaf := NewClient(quiet(natstest.Connect(t, withUser(t, url, "deaf"))))
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"a read-only user setting a fault", func() error {
			_, err := viewer.SetFault(endpointtest.Context(t), contract.Fault{Service: contract.Payment, Kind: contract.FaultPause})
			return err
		}, "set fault: not permitted to inject faults: this connection is read-only"},
		{"a read-only user resetting faults", func() error {
			return viewer.Reset(endpointtest.Context(t))
		}, "reset faults: not permitted to inject faults: this connection is read-only"},
		{"a read-only user changing the load", func() error {
			_, err := viewer.SetLoad(endpointtest.Context(t), contract.LoadRequest{Burst: 1})
			return err
		}, "set load: not permitted to change the load: this connection is read-only"},
		{"a user who may not receive replies", func() error {
			_, err := deaf.Faults(endpointtest.Context(t))
			return err
		}, "list faults: not permitted to receive answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if !errors.Is(err, ErrNotPermitted) || !errors.Is(err, nats.ErrPermissionViolation) || !strings.HasPrefix(fmt.Sprint(err), tt.want) {
				t.Fatalf("err = %v; want ErrNotPermitted and nats.ErrPermissionViolation, starting %q", err, tt.want)
			}
			// Not a time-out in disguise.
			if took := time.Since(start); took > DefaultTimeout/2 {
				t.Fatalf("took %v to report; want it at once", took)
			}
		})
	}

	// Reading stays allowed, and nothing was set.
	if got, err := viewer.Faults(endpointtest.Context(t)); err != nil || len(got) != 0 {
		t.Fatalf("viewer Faults = %v, %v; want the empty list", got, err)
	}
}

// restrictedServer starts a server with three users: admin may do anything,
// viewer may not publish the control API's writes, deaf may not subscribe
// to reply inboxes. natstest.Server has no users, so this test starts its
// own.
func restrictedServer(t *testing.T) string {
	t.Helper()
	writes := []string{contract.FaultSetSubject, contract.FaultClearSubject, contract.FaultResetSubject, contract.LoadSetSubject}
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		Users: []*natsserver.User{
			{Username: "admin", Password: "admin"},
			{Username: "viewer", Password: "viewer", Permissions: &natsserver.Permissions{
				Publish: &natsserver.SubjectPermission{Deny: writes},
			}},
			{Username: "deaf", Password: "deaf", Permissions: &natsserver.Permissions{
				Subscribe: &natsserver.SubjectPermission{Deny: []string{"_INBOX.>"}},
			}},
		},
	})
	if err != nil {
		t.Fatalf("configure restricted server: %v", err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("restricted server did not start")
	}
	return s.ClientURL()
}

func withUser(t *testing.T, url, user string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(url, "nats://")
	if !ok {
		t.Fatalf("unexpected client URL %q", url)
	}
	return "nats://" + user + ":" + user + "@" + rest
}
