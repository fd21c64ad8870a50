// Package natstest gives tests a real NATS server with JetStream and client
// connections that clean up after themselves. Import it only from _test.go
// files.
//
// Everything here goes over TCP loopback to a real embedded nats-server; there
// is no fake. Every resource is released through t.Cleanup in reverse order of
// creation (connections drain before their server shuts down), so tests that
// run goleak stay clean.
package natstest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/embedded"
)

// closeTimeout bounds how long Connect's cleanup waits for a drained
// connection to close. Draining flushes pending publishes and lets
// subscription handlers finish; a handler blocked for longer than this is a
// bug in the test, reported as a failure rather than a hang.
const closeTimeout = 10 * time.Second

// Server starts an embedded NATS server with JetStream on a free loopback
// port, storing into a t.TempDir(), and shuts it down (waiting until it is
// fully down) when the test ends. Each call gets its own server, so parallel
// tests do not share streams.
func Server(t testing.TB) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(embedded.Options{
		Port:    -1,
		DataDir: t.TempDir(),
		Name:    "natstest",
		Logf:    serverLogf(t),
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// serverLogf forwards the server's warnings and errors to the test log, where
// they show for failing tests and under -v. Informational lines are dropped:
// a start alone logs about thirty.
func serverLogf(t testing.TB) func(string, ...any) {
	return func(format string, args ...any) {
		if strings.HasPrefix(format, "[WRN]") || strings.HasPrefix(format, "[ERR]") || strings.HasPrefix(format, "[FTL]") {
			// The server keeps logging from its own goroutines during
			// shutdown; t.Logf after the test has finished panics.
			defer func() { _ = recover() }()
			t.Logf("nats-server: "+format, args...)
		}
	}
}

// Connect connects to url over TCP with a connection name derived from the
// test, failing the test if it cannot. When the test ends the connection is
// drained and Cleanup waits until it is closed, so no client goroutine
// outlives the test.
//
// extra options (a login, an inbox prefix) are applied after these.
func Connect(t testing.TB, url string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	closed := make(chan struct{})
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name("natstest:" + t.Name()),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		// Tests that restart the server mid-test want the client to keep
		// reconnecting, quickly; Cleanup ends it in any case.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
	}, extra...)...)
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", url, err)
	}
	t.Cleanup(func() {
		// Drain fails on an already closed connection; the ClosedHandler
		// has run then, so waiting below still returns at once.
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		select {
		case <-closed:
		case <-time.After(closeTimeout):
			nc.Close()
			t.Errorf("natstest: connection to %s did not close within %s after Drain", url, closeTimeout)
		}
	})
	return nc
}

// JetStream returns a JetStream context on nc, failing the test if it cannot
// be created. It needs no cleanup of its own: it lives as long as nc.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: JetStream on %s: %v", nc.ConnectedUrl(), err)
	}
	return js
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// test that must name a port before a process listens on it (a server
// started as a separate process, a binary's --port). The default 4222 may
// belong to someone else's demo.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PublishMany publishes n messages, the i-th on subject(i), with async
// publishes waited on every 2,000 so the window never overflows, and
// returns once the server has acked all of them.
func PublishMany(t testing.TB, js jetstream.JetStream, n int, subject func(i int) string, data []byte) {
	t.Helper()
	for i := range n {
		if _, err := js.PublishAsync(subject(i), data); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if i%2_000 == 0 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
}
