package embedded_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/embedded"
)

// A server without Auth has a system user for the in-process dashboard:
// it reads the server's varz (CPU, memory) from the system account, while
// a client without a login still has every right in the global account,
// JetStream included, and a wrong system password is refused.
func TestALocalServerHasASystemLoginBesideTheOpenOne(t *testing.T) {
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir()})
	opts, ok := srv.SystemClientOptions()
	if !ok {
		t.Fatal("no system login on a server without Auth")
	}
	sys, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect as the system user: %v", err)
	}
	defer sys.Close()
	msg, err := sys.Request("$SYS.REQ.SERVER.PING.VARZ", nil, 2*time.Second)
	if err != nil {
		t.Fatalf("varz from the system account: %v", err)
	}
	var varz struct {
		Data struct {
			Mem int64 `json:"mem"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &varz); err != nil || varz.Data.Mem <= 0 {
		t.Fatalf("varz %s: %v", msg.Data, err)
	}

	js := connect(t, srv.ClientURL())
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream for a client without a login: %v", err)
	}
	if _, err := js.Conn().Request("$SYS.REQ.SERVER.PING.VARZ", nil, 300*time.Millisecond); err == nil {
		t.Fatal("a client without a login reached the system account")
	}
	if nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(embedded.SystemUser, "guess"), nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Fatalf("a wrong system password: %v, want an authorization violation", err)
	}
}

// A shared session has no system user: nats-server would then admit
// clients without a login (serverUsers).
func TestASharedSessionHasNoSystemLogin(t *testing.T) {
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if _, ok := srv.SystemClientOptions(); ok {
		t.Fatal("a system login on a server with Auth")
	}
}

// Every node of a cluster takes the same system login, so a system
// connection may reconnect to any of them.
func TestEveryClusterNodeTakesTheSameSystemLogin(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	for _, s := range c.Servers() {
		opts, ok := c.Servers()[0].SystemClientOptions()
		if !ok {
			t.Fatal("no system login on a cluster node")
		}
		nc, err := nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect())...)
		if err != nil {
			t.Fatalf("node %s refuses node s1's system login: %v", s.NATS().Name(), err)
		}
		if _, err := nc.Request("$SYS.REQ.SERVER.PING.VARZ", nil, 2*time.Second); err != nil {
			t.Errorf("varz through %s: %v", s.NATS().Name(), err)
		}
		nc.Close()
	}
}
