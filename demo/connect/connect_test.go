package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// isolate clears every NATS variable and points the NATS CLI's config dir at
// an empty temp dir, so a developer's own setup cannot change the outcome.
// It returns that config dir.
func isolate(t *testing.T) string {
	t.Helper()
	for _, env := range []string{"NATS_URL", "NATS_CONTEXT", "NATS_CREDS", "NATS_NKEY", "NATS_USER", "NATS_PASSWORD", "NATS_CERT", "NATS_KEY", "NATS_CA"} {
		t.Setenv(env, "")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	return dir
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tryConnect connects with o and closes the connection at once. It fails
// the test unless the outcome is the one wanted (success when ok), and
// returns the error of a wanted failure.
func tryConnect(t *testing.T, o connect.Options, ok bool) error {
	t.Helper()
	nc, err := connect.Connect(testContext(t), o, t.Name())
	if err == nil {
		nc.Close()
	}
	switch {
	case ok && err != nil:
		t.Fatalf("connect: %v", err)
	case !ok && err == nil:
		t.Fatal("connected; want a failure")
	}
	return err
}

// mustConnect connects and closes the connection when the test ends.
func mustConnect(t *testing.T, o connect.Options, name string) *nats.Conn {
	t.Helper()
	nc, err := connect.Connect(testContext(t), o, name)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// authServer starts a plain NATS server (no JetStream needed) that only
// admits alice with password s3cret.
func authServer(t *testing.T) string {
	t.Helper()
	return plainServer(t, &server.Options{Users: []*server.User{{Username: "alice", Password: "s3cret"}}}).ClientURL()
}

// plainServer starts a NATS server without JetStream on a free loopback
// port, configured by o, until the test ends.
func plainServer(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.NoSigs, o.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("NATS server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("NATS server not ready")
	}
	return ns
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// writeContext saves a NATS CLI context file the way `nats context add` does.
func writeContext(t *testing.T, configDir, name string, fields map[string]string) {
	t.Helper()
	dir := filepath.Join(configDir, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConnectReachesAServerWithTheRightOptions(t *testing.T) {
	isolate(t)
	s := natstest.Server(t)
	nc := mustConnect(t, connect.Options{Servers: s.ClientURL()}, "orders-service")

	if !nc.IsConnected() {
		t.Fatalf("not connected: %v", nc.Status())
	}
	if nc.Opts.MaxReconnect != -1 || nc.Opts.RetryOnFailedConnect || nc.Opts.ReconnectJitter == 0 {
		t.Errorf("options: MaxReconnects=%d RetryOnFailedConnect=%v ReconnectJitter=%s, want -1, false, >0",
			nc.Opts.MaxReconnect, nc.Opts.RetryOnFailedConnect, nc.Opts.ReconnectJitter)
	}
	cz, err := s.NATS().Connz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cz.Conns) != 1 || cz.Conns[0].Name != "orders-service" {
		t.Fatalf("server sees %+v, want one connection named orders-service", cz.Conns)
	}
}

func TestConnectReadsNATSURL(t *testing.T) {
	isolate(t)
	s := natstest.Server(t)
	t.Setenv("NATS_URL", s.ClientURL())
	nc := mustConnect(t, connect.Options{}, "env")
	if got := nc.ConnectedUrl(); got != s.ClientURL() {
		t.Fatalf("connected to %s, want %s from NATS_URL", got, s.ClientURL())
	}
}

func TestConnectFailsWithOneClearLine(t *testing.T) {
	port := closedPort(t)
	tests := []struct {
		name    string
		opts    connect.Options
		wantErr error
		wantMsg string // the whole message, or its start when it ends in "..."
	}{
		{
			name:    "an unreachable port says nothing listens there",
			opts:    connect.Options{Servers: fmt.Sprintf("nats://127.0.0.1:%d", port)},
			wantErr: connect.ErrUnreachable,
			wantMsg: fmt.Sprintf("connect to nats://127.0.0.1:%d: no server is listening there (is NATS running? set --server or NATS_URL)", port),
		},
		{
			name:    "an http URL is rejected before dialing",
			opts:    connect.Options{Servers: "http://x"},
			wantErr: connect.ErrInvalidURL,
			wantMsg: `invalid server URL "http://x": scheme "http" is not a NATS scheme (use nats://, tls://, ws:// or wss://)`,
		},
		{
			name:    "a port out of range is rejected",
			opts:    connect.Options{Servers: "nats://:99999"},
			wantErr: connect.ErrInvalidURL,
			wantMsg: `invalid server URL "nats://:99999": port 99999 is out of range 1-65535`,
		},
		{
			name:    "a URL without a host is rejected",
			opts:    connect.Options{Servers: "nats://:4222"},
			wantErr: connect.ErrInvalidURL,
			wantMsg: `invalid server URL "nats://:4222": no host`,
		},
		{
			name:    "an empty entry in a list is rejected",
			opts:    connect.Options{Servers: "nats://a:4222,,nats://b:4222"},
			wantErr: connect.ErrInvalidURL,
			wantMsg: `invalid server URL "": empty entry in the server list`,
		},
		{
			name:    "a password in a bad URL is not echoed",
			opts:    connect.Options{Servers: "nats://bob:hunter2@h:0"},
			wantErr: connect.ErrInvalidURL,
			wantMsg: `invalid server URL "nats://bob:xxxxx@h:0": port 0 is out of range 1-65535`,
		},
		{
			name:    "an unknown context is named",
			opts:    connect.Options{Context: "x"},
			wantErr: connect.ErrUnknownContext,
			wantMsg: `unknown NATS context "x" (no contexts found; create one with ` + "`nats context add`)",
		},
		{
			name:    "a missing creds file names the flag",
			opts:    connect.Options{Servers: "nats://127.0.0.1:4222", Creds: "/nonexistent/user.creds"},
			wantErr: connect.ErrCredentials,
			wantMsg: "cannot use credentials: --creds file /nonexistent/user.creds: no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			begin := time.Now()
			nc, err := connect.Connect(testContext(t), tt.opts, "failing")
			if err == nil {
				nc.Close()
				t.Fatalf("connected; want %v", tt.wantErr)
			}
			if elapsed := time.Since(begin); elapsed > 3*time.Second {
				t.Errorf("failing took %s, want under 3s", elapsed)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message\n got: %s\nwant: %s", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message spans lines: %q", err)
			}
		})
	}
}

func TestConnectAuthenticatesWithUserAndPassword(t *testing.T) {
	url := authServer(t)
	tests := []struct {
		name     string
		opts     connect.Options
		env      map[string]string
		wantAuth bool
	}{
		{name: "the right password is accepted", opts: connect.Options{User: "alice", Password: "s3cret"}, wantAuth: true},
		{name: "NATS_USER and NATS_PASSWORD are used", env: map[string]string{"NATS_USER": "alice", "NATS_PASSWORD": "s3cret"}, wantAuth: true},
		{name: "a wrong password is refused", opts: connect.Options{User: "alice", Password: "guess"}},
		{name: "no credentials are refused", opts: connect.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tt.opts.Servers = url
			err := tryConnect(t, tt.opts, tt.wantAuth)
			if tt.wantAuth {
				return
			}
			want := "connect to " + url + ": authorization failed: check --user/--password or --creds"
			if !errors.Is(err, connect.ErrAuthorization) || !errors.Is(err, nats.ErrAuthorization) || err.Error() != want {
				t.Fatalf("error %q, want %q matching ErrAuthorization", err, want)
			}
		})
	}
}

func TestConnectHonoursANamedCLIContext(t *testing.T) {
	url := authServer(t)
	tests := []struct {
		name    string
		opts    connect.Options
		envName string // NATS_CONTEXT, when the context is named there
	}{
		{name: "named by --context", opts: connect.Options{Context: "lab"}},
		{name: "named by NATS_CONTEXT", envName: "lab"},
		{name: "with --server overriding the context's URL", opts: connect.Options{Context: "stale", Servers: url}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := isolate(t)
			writeContext(t, dir, "lab", map[string]string{"url": url, "user": "alice", "password": "s3cret"})
			writeContext(t, dir, "stale", map[string]string{"url": fmt.Sprintf("nats://127.0.0.1:%d", closedPort(t)), "user": "alice", "password": "s3cret"})
			if tt.envName != "" {
				t.Setenv("NATS_CONTEXT", tt.envName)
			}
			nc := mustConnect(t, tt.opts, "ctx")
			if nc.ConnectedUrl() != url {
				t.Fatalf("connected to %s, want %s", nc.ConnectedUrl(), url)
			}
		})
	}
}

func TestUnknownContextListsTheKnownOnes(t *testing.T) {
	dir := isolate(t)
	writeContext(t, dir, "lab", map[string]string{"url": "nats://127.0.0.1:4222"})
	_, err := connect.Connect(testContext(t), connect.Options{Context: "prod"}, "ctx")
	if want := `unknown NATS context "prod" (known: lab)`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestConnectIsBoundedByTheContext(t *testing.T) {
	isolate(t)
	// A listener that accepts and never speaks: the NATS handshake hangs
	// until something gives up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		close(held)
		for c := range held {
			c.Close()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	nc, err := connect.Connect(ctx, connect.Options{Servers: "nats://" + l.Addr().String()}, "silent")
	if err == nil {
		nc.Close()
		t.Fatalf("connected to a silent listener")
	}
	if elapsed := time.Since(begin); elapsed > time.Second {
		t.Fatalf("gave up after %s, want about 300ms", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, connect.ErrUnreachable) {
		t.Fatalf("error %v, want a deadline or unreachable error", err)
	}
}

func TestConnectWithACanceledContextDoesNotDial(t *testing.T) {
	isolate(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := connect.Connect(ctx, connect.Options{Servers: "nats://127.0.0.1:4222"}, "canceled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestConnectUsesTheInboxPrefixOfTheFlagOrTheContext(t *testing.T) {
	// A server that lets alice subscribe only under her own prefix, as a
	// shared session does, and a responder with every permission.
	url := plainServer(t, &server.Options{Users: []*server.User{
		{Username: "alice", Password: "s3cret", Permissions: &server.Permissions{
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_alice.>"}},
		}},
		{Username: "echo", Password: "echo"},
	}}).ClientURL()
	echo := mustConnect(t, connect.Options{Servers: url, User: "echo", Password: "echo"}, "echo")
	if _, err := echo.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := echo.Flush(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    connect.Options
		context string // the inbox_prefix of context lab
		answer  bool
	}{
		{name: "the default _INBOX is refused by such a server", opts: connect.Options{Servers: url, User: "alice", Password: "s3cret"}},
		{name: "--inbox-prefix is used", opts: connect.Options{Servers: url, User: "alice", Password: "s3cret", InboxPrefix: "_INBOX_alice"}, answer: true},
		{name: "a context's inbox_prefix is used", opts: connect.Options{Context: "lab"}, context: "_INBOX_alice", answer: true},
		{name: "--inbox-prefix wins over the context's", opts: connect.Options{Context: "lab", InboxPrefix: "_INBOX_alice"}, context: "_INBOX_bob", answer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := isolate(t)
			writeContext(t, dir, "lab", map[string]string{"url": url, "user": "alice", "password": "s3cret", "inbox_prefix": tt.context})
			nc, err := connect.Connect(testContext(t), tt.opts, "inbox", connect.QuietErrors)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			_, err = nc.Request("echo", []byte("hi"), time.Second)
			switch {
			case tt.answer && err != nil:
				t.Fatalf("request with inbox %s: %v", nc.NewInbox(), err)
			case !tt.answer && err == nil:
				t.Fatalf("request with inbox %s answered", nc.NewInbox())
			case !tt.answer && !errors.Is(nc.LastError(), nats.ErrPermissionViolation):
				t.Fatalf("last error %v, want a permissions violation", nc.LastError())
			}
		})
	}
}
