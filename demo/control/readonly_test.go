package control

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
)

// sharedSession starts a server with the operator and observer roles and
// returns its URL with each login in it.
func sharedSession(t *testing.T) (services []nats.Option, operator, observer login) {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	roles, _ := srv.Roles()
	as := func(u embedded.User) login {
		return login{url: srv.ClientURL(), opts: []nats.Option{nats.UserInfo(u.Name, u.Password), nats.CustomInboxPrefix(u.InboxPrefix())}}
	}
	return srv.ClientOptions(), as(roles.Operator), as(roles.Observer)
}

// login is a server and how to log in to it.
type login struct {
	url  string
	opts []nats.Option
}

// quietConnect connects with an error handler that does not print, as
// sagascope's commands do.
func quietConnect(t *testing.T, l login) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(l.url, append([]nats.Option{nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}, l.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestReadOnlyAsksTheServerWithoutChangingAnything(t *testing.T) {
	t.Parallel()
	services, op, obs := sharedSession(t)
	d := newDemo(t, op.url, services...)
	svc := d.Serve(t, contract.Payment)
	open := natstest.Server(t)
	tests := []struct {
		name  string
		login login
		want  bool
		// reaches says the probe gets to the payment service, which
		// refuses it.
		reaches bool
	}{
		{name: "an observer is read-only", login: obs, want: true},
		{name: "the operator is not", login: op, reaches: true},
		{name: "a user of an open server is not", login: login{url: open.ClientURL()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, refusedBefore := d.LastSeq(t), faultSetErrors(t, svc)
			nc := quietConnect(t, tt.login)
			got, err := ReadOnly(endpointtest.Context(t), nc)
			if err != nil {
				t.Fatalf("ReadOnly: %v", err)
			}
			if got != tt.want {
				t.Fatalf("ReadOnly = %v, want %v", got, tt.want)
			}
			// The dashboard shows its connection's last error; the
			// probe's expected violation must not become it.
			if err := nc.LastError(); err != nil {
				t.Fatalf("the probe left an error on the connection: %v", err)
			}
			if tt.reaches {
				// Only once the service has answered can the bucket
				// show what the probe did.
				endpointtest.Eventually(t, "the service refuses the probe", func() bool { return faultSetErrors(t, svc) == refusedBefore+1 })
			}
			if after := d.LastSeq(t); after != before {
				t.Fatalf("the probe wrote to the control bucket: last sequence %d -> %d", before, after)
			}
		})
	}
}

// faultSetErrors is how many requests the fault-set endpoint answered with
// an error.
func faultSetErrors(t *testing.T, svc micro.Service) int {
	t.Helper()
	for _, e := range svc.Stats().Endpoints {
		if e.Subject == contract.FaultSetSubject {
			return e.NumErrors
		}
	}
	t.Fatalf("no endpoint serves %s", contract.FaultSetSubject)
	return 0
}

func TestReadOnlyNeedsNoRunningService(t *testing.T) {
	t.Parallel()
	_, op, obs := sharedSession(t)
	for _, tt := range []struct {
		login login
		want  bool
	}{{obs, true}, {op, false}} {
		got, err := ReadOnly(endpointtest.Context(t), quietConnect(t, tt.login))
		if err != nil || got != tt.want {
			t.Fatalf("ReadOnly with no service = %v, %v; want %v", got, err, tt.want)
		}
	}
}

func TestReadOnlyFailsWhenItCannotTell(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	closed := quietConnect(t, login{url: srv.ClientURL()})
	closed.Close()
	if got, err := ReadOnly(endpointtest.Context(t), closed); err == nil {
		t.Fatalf("ReadOnly on a closed connection = %v, nil; want an error", got)
	}
}
