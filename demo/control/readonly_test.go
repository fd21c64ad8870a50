package control

import (
	"net/url"
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
func sharedSession(t *testing.T) (operatorURL, observerURL string) {
	t.Helper()
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	roles, _ := srv.Roles()
	withLogin := func(u embedded.User) string {
		parsed, err := url.Parse(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		parsed.User = url.UserPassword(u.Name, u.Password)
		return parsed.String()
	}
	return withLogin(roles.Operator), withLogin(roles.Observer)
}

// quietConnect connects with an error handler that does not print, as
// sagascope's commands do.
func quietConnect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestReadOnlyAsksTheServerWithoutChangingAnything(t *testing.T) {
	t.Parallel()
	opURL, obsURL := sharedSession(t)
	d := newDemo(t, opURL)
	svc := d.Serve(t, contract.Payment)
	open := natstest.Server(t)
	tests := []struct {
		name string
		url  string
		want bool
		// reaches says the probe gets to the payment service, which
		// refuses it.
		reaches bool
	}{
		{name: "an observer is read-only", url: obsURL, want: true},
		{name: "the operator is not", url: opURL, reaches: true},
		{name: "a user of an open server is not", url: open.ClientURL()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, refusedBefore := d.LastSeq(t), faultSetErrors(t, svc)
			nc := quietConnect(t, tt.url)
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
	opURL, obsURL := sharedSession(t)
	for _, tt := range []struct {
		url  string
		want bool
	}{{obsURL, true}, {opURL, false}} {
		got, err := ReadOnly(endpointtest.Context(t), quietConnect(t, tt.url))
		if err != nil || got != tt.want {
			t.Fatalf("ReadOnly with no service = %v, %v; want %v", got, err, tt.want)
		}
	}
}

func TestReadOnlyFailsWhenItCannotTell(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	closed := quietConnect(t, srv.ClientURL())
	closed.Close()
	if got, err := ReadOnly(endpointtest.Context(t), closed); err == nil {
		t.Fatalf("ReadOnly on a closed connection = %v, nil; want an error", got)
	}
}
