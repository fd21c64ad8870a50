// Package natstest gives telemetry's tests a real nats-server with
// JetStream, and connections to it, that clean up after themselves. It is
// telemetry's own (demo/natstest starts the demo's embedded server), so
// telemetry's tests need nothing of the demo. Import it only from _test.go
// files.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds the wait for a started server to accept clients.
const readyTimeout = 10 * time.Second

// Server starts a nats-server with JetStream on a free loopback port,
// storing into a t.TempDir(), and shuts it down (waiting until it is fully
// down) when the test ends. Each call gets its own server.
func Server(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyTimeout) {
		t.Fatalf("natstest: server not ready for connections within %s", readyTimeout)
	}
	return s
}

// Connect connects to s and closes the connection when the test ends,
// before s shuts down (cleanups run last first). Telemetry's tests use
// synchronous subscriptions only, so there is no handler to drain.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.Name("telemetry:"+t.Name()))
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection to s.
func JetStream(t testing.TB, s *server.Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, s))
	if err != nil {
		t.Fatalf("natstest: JetStream: %v", err)
	}
	return js
}
