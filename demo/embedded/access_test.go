package embedded_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	// cmdline: connect is the name of server_test.go's helper.
	cmdline "github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/embedded/sessiontest"
	"github.com/sagascope/sagascope/demo/embedded/testcert"
)

func TestTLSServesOnlyClientsThatSpeakIt(t *testing.T) {
	// The certificate names the machine, not 127.0.0.1, as a real one
	// would: in-process clients must still get in, by the pin.
	cert, key := testcert.Write(t, "workshop.example")
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), TLSCert: cert, TLSKey: key, Auth: &embedded.Auth{}})
	if !strings.HasPrefix(srv.ClientURL(), "tls://") {
		t.Fatalf("ClientURL %s, want tls://", srv.ClientURL())
	}
	roles, _ := srv.Roles()
	login := nats.UserInfo(roles.Observer.Name, roles.Observer.Password)
	plainURL := "nats://" + strings.TrimPrefix(srv.ClientURL(), "tls://")
	tests := []struct {
		name     string
		url      string
		opts     []nats.Option
		admit    bool
		readOnly bool // what control.ReadOnly says of an admitted client
	}{
		{name: "in-process clients get in by the pinned certificate", url: srv.ClientURL(), opts: srv.ClientOptions(), admit: true},
		{name: "a client trusting the certificate gets in", url: srv.ClientURL(), opts: []nats.Option{login, nats.RootCAs(cert), withServerName("workshop.example")}, admit: true, readOnly: true},
		{name: "a client that does not trust it is refused", url: srv.ClientURL(), opts: []nats.Option{login}},
		{name: "a client checking for the wrong host name is refused", url: srv.ClientURL(), opts: []nats.Option{login, nats.RootCAs(cert)}},
		{name: "a plain-text client is refused", url: plainURL, opts: []nats.Option{login}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(tt.url, append(tt.opts, nats.NoReconnect(), nats.Timeout(5*time.Second))...)
			if err == nil {
				defer nc.Close()
			}
			switch {
			case tt.admit && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.admit && err == nil:
				t.Fatalf("admitted over %s", nc.ConnectedUrl())
			case tt.admit && !nc.TLSRequired():
				t.Fatal("connected without TLS")
			}
			if !tt.admit {
				return
			}
			// The read-only probe dials again with the client's own
			// login and TLS settings.
			if ro, err := control.ReadOnly(testContext(t, 10*time.Second), nc); err != nil || ro != tt.readOnly {
				t.Fatalf("ReadOnly = %v, %v; want %v", ro, err, tt.readOnly)
			}
		})
	}
}

func withServerName(name string) nats.Option {
	return func(o *nats.Options) error {
		if o.TLSConfig != nil {
			o.TLSConfig.ServerName = name
		}
		return nil
	}
}

func TestThePinRefusesAnotherCertificate(t *testing.T) {
	cert, key := testcert.Write(t, "127.0.0.1")
	first := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), TLSCert: cert, TLSKey: key})
	other, otherKey := testcert.Write(t, "127.0.0.1")
	second := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), TLSCert: other, TLSKey: otherKey})
	nc, err := nats.Connect(second.ClientURL(), append(first.ClientOptions(), nats.NoReconnect())...)
	if err == nil {
		nc.Close()
		t.Fatal("the first server's pin accepted the second server's certificate")
	}
}

func TestStartRefusesUnusableTLSFiles(t *testing.T) {
	cert, key := testcert.Write(t, "localhost")
	expired, expiredKey := testcert.WriteExpired(t, "localhost")
	_, otherKey := testcert.Write(t, "localhost")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, want string
	}{
		{name: "a certificate without its key", cert: cert, want: "without its key file"},
		{name: "a key without its certificate", key: key, want: "without its certificate file"},
		{name: "a missing file", cert: cert, key: "/nonexistent/key.pem", want: "no such file"},
		{name: "a file that is not PEM", cert: junk, key: key, want: junk},
		{name: "a key of another certificate", cert: cert, key: otherKey, want: "private key does not match"},
		{name: "an expired certificate", cert: expired, key: expiredKey, want: "expired on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), TLSCert: tt.cert, TLSKey: tt.key})
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestShareFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		port    int // --port, before Apply
		want    embedded.Options
		wantErr string
	}{
		{name: "no flags keep loopback, open", want: embedded.Options{}},
		{name: "every interface needs logins", args: []string{"--listen", "0.0.0.0:4222"},
			want: embedded.Options{Host: "0.0.0.0", Port: 4222, Auth: &embedded.Auth{}}},
		{name: "a bare port means every interface", args: []string{"--listen", ":5222"},
			want: embedded.Options{Host: "0.0.0.0", Port: 5222, Auth: &embedded.Auth{}}},
		{name: "a host without a port keeps --port", args: []string{"--listen", "192.0.2.7"}, port: 4333,
			want: embedded.Options{Host: "192.0.2.7", Port: 4333, Auth: &embedded.Auth{}}},
		{name: "port 0 picks a free port", args: []string{"--listen", "127.0.0.1:0"},
			want: embedded.Options{Host: "127.0.0.1", Port: -1}},
		{name: "loopback stays open", args: []string{"--listen", "localhost:4222"},
			want: embedded.Options{Host: "localhost", Port: 4222}},
		{name: "an IPv6 address in brackets", args: []string{"--listen", "[::]:4222"},
			want: embedded.Options{Host: "::", Port: 4222, Auth: &embedded.Auth{}}},
		{name: "a bare IPv6 loopback", args: []string{"--listen", "::1"},
			want: embedded.Options{Host: "::1"}},
		{name: "a password turns logins on on loopback", args: []string{"--operator-password", "op"},
			want: embedded.Options{Auth: &embedded.Auth{OperatorPassword: "op"}}},
		{name: "passwords come from the environment", args: []string{"--listen", "0.0.0.0"},
			env:  map[string]string{embedded.OperatorPasswordEnv: "op", embedded.ObserverPasswordEnv: "obs"},
			want: embedded.Options{Host: "0.0.0.0", Auth: &embedded.Auth{OperatorPassword: "op", ObserverPassword: "obs"}}},
		{name: "a flag wins over the environment", args: []string{"--observer-password", "flag"},
			env:  map[string]string{embedded.ObserverPasswordEnv: "env"},
			want: embedded.Options{Auth: &embedded.Auth{ObserverPassword: "flag"}}},
		{name: "TLS files are passed on", args: []string{"--tlscert", "c.pem", "--tlskey", "k.pem"},
			want: embedded.Options{TLSCert: "c.pem", TLSKey: "k.pem"}},
		{name: "a certificate needs its key", args: []string{"--tlscert", "c.pem"}, wantErr: "--tlscert and --tlskey go together"},
		{name: "two ports are ambiguous", args: []string{"--listen", "0.0.0.0:4222"}, port: 4333, wantErr: "has a port and --port says 4333"},
		{name: "a port out of range", args: []string{"--listen", "0.0.0.0:70000"}, wantErr: `port "70000" is not in 0..65535`},
		{name: "a port that is not a number", args: []string{"--listen", "0.0.0.0:http"}, wantErr: `port "http"`},
		{name: "a URL is not an address", args: []string{"--listen", "nats://0.0.0.0:4222"}, wantErr: "is not a host name or address"},
		{name: "a host with a space", args: []string{"--listen", "my host"}, wantErr: "is not a host name or address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(embedded.OperatorPasswordEnv, tt.env[embedded.OperatorPasswordEnv])
			t.Setenv(embedded.ObserverPasswordEnv, tt.env[embedded.ObserverPasswordEnv])
			var sh embedded.Share
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			sh.Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got := embedded.Options{Port: tt.port}
			err := sh.Apply(&got)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, embedded.ErrBadListen) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrBadListen containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != tt.want.Host || got.Port != tt.want.Port || got.TLSCert != tt.want.TLSCert || got.TLSKey != tt.want.TLSKey {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
			if (got.Auth == nil) != (tt.want.Auth == nil) || got.Auth != nil && *got.Auth != *tt.want.Auth {
				t.Errorf("auth %+v, want %+v", got.Auth, tt.want.Auth)
			}
		})
	}
}

func TestPrintAccessShowsGeneratedPasswordsOnly(t *testing.T) {
	cert, key := testcert.Write(t, "127.0.0.1")
	srv := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{OperatorPassword: "given-secret"}, TLSCert: cert, TLSKey: key})
	roles, _ := srv.Roles()
	var b strings.Builder
	srv.PrintAccess(&b)
	out := b.String()
	for _, want := range []string{
		"user observer password " + roles.Observer.Password,
		"user operator password (the password you gave)",
		"sagascope tui --server " + srv.ClientURL() + " --user observer --password " + roles.Observer.Password + " --inbox-prefix _INBOX_observer --tlsca",
		"sagascope fault list --server " + srv.ClientURL() + " --user operator --password <operator password> --inbox-prefix _INBOX_operator --tlsca",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("access notice lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "given-secret") {
		t.Errorf("access notice repeats a given password:\n%s", out)
	}
	if strings.Count(out, roles.Observer.Password) != 2 {
		t.Errorf("the observer password should show in its line and the command:\n%s", out)
	}
	if strings.Contains(out, "clear text") {
		t.Errorf("a TLS session warned of clear text:\n%s", out)
	}

	// Reachable from the network without TLS: said once, with the way out.
	plain := start(t, embedded.Options{Host: "0.0.0.0", Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	b.Reset()
	plain.PrintAccess(&b)
	if !strings.Contains(b.String(), "no TLS: these passwords and everything else cross the network in clear text (--tlscert and --tlskey turn it on)") {
		t.Errorf("a session on every interface without TLS should warn:\n%s", b.String())
	}
	// On loopback nothing crosses a network.
	local := start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	b.Reset()
	local.PrintAccess(&b)
	if strings.Contains(b.String(), "clear text") {
		t.Errorf("a loopback session warned of clear text:\n%s", b.String())
	}

	open := start(t, embedded.Options{Port: -1, DataDir: t.TempDir()})
	b.Reset()
	open.PrintAccess(&b)
	if b.Len() != 0 {
		t.Errorf("an open server printed access: %q", b.String())
	}
}

func TestASessionOnEveryInterfaceIsReachedOverLoopbackInProcess(t *testing.T) {
	srv := start(t, embedded.Options{Host: "0.0.0.0", Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	port := ":" + strconv.Itoa(srv.Port())
	if want := "nats://127.0.0.1" + port; srv.ClientURL() != want {
		t.Fatalf("ClientURL %s, want %s", srv.ClientURL(), want)
	}
	for _, u := range srv.ShareURLs() {
		if strings.Contains(u, "127.0.0.1") || !strings.HasSuffix(u, port) {
			t.Errorf("share URL %s: want a non-loopback address with port %s", u, port)
		}
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.ClientOptions()...)
	if err != nil {
		t.Fatalf("in-process client: %v", err)
	}
	nc.Close()
}

// TestPrintAccessCommandLinesLogInEachRole connects with the flags PrintAccess prints for
// each role, parsed as every command parses them, and makes the command's
// first request: the dashboard's read-only probe, a fault list.
func TestPrintAccessCommandLinesLogInEachRole(t *testing.T) {
	s := sessiontest.Start(t)
	var b strings.Builder
	s.Server.PrintAccess(&b)
	tests := []struct {
		role, command string
		readOnly      bool
	}{
		{role: "attendees run: ", command: "sagascope tui ", readOnly: true},
		{role: "the operator, on another machine: ", command: "sagascope fault list "},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.role, ": "), func(t *testing.T) {
			_, line, ok := strings.Cut(b.String(), tt.role+tt.command)
			if !ok {
				t.Fatalf("no %q in:\n%s", tt.role+tt.command, b.String())
			}
			line, _, _ = strings.Cut(line, "\n")
			var opts cmdline.Options
			fs := flag.NewFlagSet(tt.command, flag.ContinueOnError)
			opts.Register(fs)
			if err := fs.Parse(strings.Fields(line)); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			nc, err := cmdline.Dial(t.Context(), opts, tt.command)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			ctx := testContext(t, 10*time.Second)
			if ro, err := control.ReadOnly(ctx, nc); err != nil || ro != tt.readOnly {
				t.Fatalf("ReadOnly = %v, %v; want %v", ro, err, tt.readOnly)
			}
			if _, err := control.NewClient(nc).Faults(ctx); err != nil {
				t.Fatalf("fault list: %v", err)
			}
			if err := nc.LastError(); err != nil {
				t.Fatalf("last error %v", err)
			}
		})
	}
}
