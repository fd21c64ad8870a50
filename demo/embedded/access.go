package embedded

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// tlsTimeout bounds a client's TLS handshake. The server's default (2 s) is
// short for an attendee on a crowded workshop Wi-Fi.
const tlsTimeout = 5 * time.Second

// serverTLS is the loaded certificate, kept so Restart serves the same one
// and in-process clients can pin it.
type serverTLS struct {
	config *tls.Config
	leaf   *x509.Certificate
}

// loadTLS loads the certificate and key, failing with the file named when
// either is missing or they do not match, and on an expired certificate,
// which every client would otherwise refuse with a less clear error.
func loadTLS(certFile, keyFile string) (*serverTLS, error) {
	switch {
	case certFile == "":
		return nil, errors.New("TLS: a key file was given without its certificate file")
	case keyFile == "":
		return nil, errors.New("TLS: a certificate file was given without its key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS: parse certificate %s: %w", certFile, err)
		}
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("TLS: certificate %s expired on %s", certFile, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return &serverTLS{
		config: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		leaf:   leaf,
	}, nil
}

// ClientOptions are what an in-process client adds to ClientURL to connect:
// the service user's login and inbox prefix with Auth, and with TLS a check
// that the server presents exactly this server's certificate. Pinning
// replaces the usual chain and host name check, which would fail for
// 127.0.0.1 with a certificate issued for the machine's name, and is
// stricter than it: no other certificate passes, whoever signed it. nil for
// a plain open server.
func (s *Server) ClientOptions() []nats.Option {
	var opts []nats.Option
	if s.auth != nil {
		svc := s.auth.service
		opts = append(opts, nats.UserInfo(svc.Name, svc.Password), nats.CustomInboxPrefix(svc.InboxPrefix()))
	}
	return append(opts, s.tlsOptions()...)
}

// SystemClientOptions are what an in-process client adds to ClientURL to
// connect to the system account, as SystemUser: the dashboard reads the
// servers' CPU and memory through it (tui.Options.System). ok is false for
// a server with Auth, which has no system user (serverUsers).
func (s *Server) SystemClientOptions() (opts []nats.Option, ok bool) {
	if s.system.Name == "" {
		return nil, false
	}
	return append([]nats.Option{nats.UserInfo(s.system.Name, s.system.Password)}, s.tlsOptions()...), true
}

// tlsOptions pin the server's certificate, with TLS; nil without.
func (s *Server) tlsOptions() []nats.Option {
	if s.tls == nil {
		return nil
	}
	pinned := s.tls.leaf.Raw
	return []nats.Option{nats.Secure(&tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is VerifyConnection's pin, below.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pinned) {
				return errors.New("the server's certificate is not the embedded server's")
			}
			return nil
		},
	})}
}

// Roles returns the operator's and the observer's logins; ok is false when
// the server runs without Auth.
func (s *Server) Roles() (r Roles, ok bool) {
	if s.auth == nil {
		return Roles{}, false
	}
	return s.auth.roles, true
}

// PrintAccess writes, for whoever started the session, how others reach
// it: the addresses, each role's login (a generated password is shown here
// and nowhere else; a given one is not repeated) and a command line for
// each role, with the role's inbox prefix, and warns when a session
// reachable from the network has no TLS. It writes nothing for a server
// without Auth.
func (s *Server) PrintAccess(w io.Writer) {
	r, ok := s.Roles()
	if !ok {
		return
	}
	urls := s.ShareURLs()
	fmt.Fprintf(w, "sagascope: shared session on %s\n", joinOr(urls, s.ClientURL()))
	for _, role := range []struct {
		u    User
		what string
	}{
		{r.Observer, "read-only: give it to attendees"},
		{r.Operator, "faults, load and scenarios: keep it to yourself"},
	} {
		fmt.Fprintf(w, "sagascope:   user %-8s password %s  (%s)\n", role.u.Name, shownPassword(role.u, "(the password you gave)"), role.what)
	}
	url := s.ClientURL()
	if len(urls) > 0 {
		url = urls[0]
	}
	tlsca := ""
	if s.tls != nil && selfSigned(s.tls.leaf) {
		tlsca = " --tlsca <a copy of the server certificate>"
	}
	fmt.Fprintf(w, "sagascope: attendees run: sagascope tui --server %s %s%s\n", url, LoginFlags(r.Observer), tlsca)
	fmt.Fprintf(w, "sagascope: the operator, on another machine: sagascope fault list --server %s %s%s\n", url, LoginFlags(r.Operator), tlsca)
	if s.tls == nil && !isLoopback(s.host) {
		fmt.Fprintln(w, "sagascope: no TLS: these passwords and everything else cross the network in clear text (--tlscert and --tlskey turn it on)")
	}
}

// LoginFlags are the connection flags (demo/connect, the same as the NATS
// CLI's) that log in as u: user, password and u's inbox prefix, without
// which the server refuses u every answer. A password u was given is not
// repeated: it shows as a placeholder.
func LoginFlags(u User) string {
	return fmt.Sprintf("--user %s --password %s --inbox-prefix %s", u.Name, shownPassword(u, "<"+u.Name+" password>"), u.InboxPrefix())
}

// shownPassword is u's password if Start generated it, else placeholder.
func shownPassword(u User, placeholder string) string {
	if u.Generated {
		return u.Password
	}
	return placeholder
}

// selfSigned reports a certificate clients cannot verify without being
// given it (or its CA) with --tlsca.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject)
}

func joinOr(list []string, fallback string) string {
	if len(list) == 0 {
		return fallback
	}
	out := list[0]
	for _, s := range list[1:] {
		out += ", " + s
	}
	return out
}

// ShareURLs are the URLs other machines can use to reach the server: its
// listen host, or for a wildcard host (0.0.0.0, ::) every IPv4 address of
// this machine's interfaces that is neither loopback nor link-local. Empty
// for a loopback host.
func (s *Server) ShareURLs() []string {
	port := strconv.Itoa(s.Port())
	ip := net.ParseIP(s.host)
	switch {
	case isLoopback(s.host):
		return nil
	case ip == nil || !ip.IsUnspecified():
		return []string{s.scheme() + net.JoinHostPort(s.host, port)}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() {
			continue
		}
		// IPv4 only: the one address per network a room of attendees can
		// read off a screen and type.
		if n.IP.To4() == nil {
			continue
		}
		out = append(out, s.scheme()+net.JoinHostPort(n.IP.String(), port))
	}
	return out
}
