package connect_test

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sagascope/sagascope/demo/connect"
)

// twoAccounts is a server with an application account and a system
// account, each with one user.
func twoAccounts(t *testing.T) string {
	t.Helper()
	app, sys := server.NewAccount("APP"), server.NewAccount("SYS")
	return plainServer(t, &server.Options{
		Accounts:      []*server.Account{app, sys},
		SystemAccount: "SYS",
		Users: []*server.User{
			{Username: "app", Password: "app", Account: app},
			{Username: "sys", Password: "sys", Account: sys},
		},
	}).ClientURL()
}

// accountOf asks the server which account the connection is in.
func accountOf(t *testing.T, o connect.Options) string {
	t.Helper()
	nc := mustConnect(t, o, "system test")
	msg, err := nc.Request("$SYS.REQ.USER.INFO", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("user info: %v", err)
	}
	var r struct {
		Data struct {
			Account string `json:"account"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	return r.Data.Account
}

// The system login takes the servers from the main connection (here from
// NATS_URL) and none of the main login's variables.
func TestASystemLoginTakesTheServersButNotTheLoginOfTheEnvironment(t *testing.T) {
	isolate(t)
	url := twoAccounts(t)
	t.Setenv("NATS_URL", url)
	t.Setenv("NATS_USER", "app")
	t.Setenv("NATS_PASSWORD", "app")

	var main connect.Options
	var sys connect.System
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	main.Register(fs)
	sys.Register(fs)
	if err := fs.Parse([]string{"--system-user", "sys", "--system-password", "sys"}); err != nil {
		t.Fatal(err)
	}
	if !sys.Set() || (connect.System{}).Set() {
		t.Fatal("Set does not tell a system login from none")
	}
	if got := accountOf(t, main); got != "APP" {
		t.Fatalf("the main login is in %q, want APP", got)
	}
	if got := accountOf(t, sys.Options(main)); got != "SYS" {
		t.Fatalf("the system login is in %q, want SYS", got)
	}
}
