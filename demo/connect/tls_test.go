package connect_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/embedded/testcert"
)

// tlsServer starts a plain NATS server that requires TLS with the given
// certificate, and returns its host:port.
func tlsServer(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ns := plainServer(t, &server.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	return ns.Addr().String()
}

// TestTLSAndLoginFailuresAreOneClearLine covers what goes wrong when an
// attendee attaches to a shared session: the certificate, the CA, the
// scheme, the password.
func TestTLSAndLoginFailuresAreOneClearLine(t *testing.T) {
	cert, key := testcert.Write(t, "127.0.0.1")
	good := tlsServer(t, cert, key)
	otherHost, otherHostKey := testcert.Write(t, "workshop.example")
	misnamed := tlsServer(t, otherHost, otherHostKey)
	expired, expiredKey := testcert.WriteExpired(t, "127.0.0.1")
	stale := tlsServer(t, expired, expiredKey)
	plain := authServer(t)
	junk := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shared.Shutdown)

	tests := []struct {
		name     string
		opts     connect.Options
		wantErr  error
		contains []string
	}{
		{name: "the right CA connects", opts: connect.Options{Servers: "tls://" + good, TLSCA: cert}},
		{
			name:     "a self-signed server without --tlsca says to check the CA",
			opts:     connect.Options{Servers: "tls://" + good},
			wantErr:  connect.ErrCredentials,
			contains: []string{"TLS handshake failed", "certificate signed by unknown authority", "--tlsca"},
		},
		{
			name:     "a nats:// URL to a TLS server fails the same way",
			opts:     connect.Options{Servers: "nats://" + good},
			wantErr:  connect.ErrCredentials,
			contains: []string{"TLS handshake failed", "--tlsca"},
		},
		{
			name:     "a certificate for another host name is named",
			opts:     connect.Options{Servers: "tls://" + misnamed, TLSCA: otherHost},
			wantErr:  connect.ErrCredentials,
			contains: []string{"TLS handshake failed", "127.0.0.1"},
		},
		{
			name:     "an expired certificate is named",
			opts:     connect.Options{Servers: "tls://" + stale, TLSCA: expired},
			wantErr:  connect.ErrCredentials,
			contains: []string{"TLS handshake failed", "expired"},
		},
		{
			name:     "tls:// to a server without TLS says so",
			opts:     connect.Options{Servers: "tls://" + strings.TrimPrefix(plain, "nats://")},
			wantErr:  connect.ErrCredentials,
			contains: []string{"the server does not offer TLS"},
		},
		{
			name:     "a CA file that is not a certificate",
			opts:     connect.Options{Servers: "tls://" + good, TLSCA: junk},
			wantErr:  connect.ErrCredentials,
			contains: []string{"cannot use credentials", "failed to parse root certificate", junk},
		},
		{
			name:     "a wrong observer password on a shared session",
			opts:     connect.Options{Servers: shared.ClientURL(), User: embedded.ObserverUser, Password: "guess"},
			wantErr:  connect.ErrAuthorization,
			contains: []string{"authorization failed: check --user/--password"},
		},
		{
			name:     "no login on a shared session",
			opts:     connect.Options{Servers: shared.ClientURL()},
			wantErr:  connect.ErrAuthorization,
			contains: []string{"authorization failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			err := tryConnect(t, tt.opts, tt.wantErr == nil)
			if tt.wantErr == nil {
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
			for _, want := range tt.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("message spans lines: %q", err)
			}
		})
	}
}
