package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/natstest"
)

// TestMain fails the package if any server or client goroutine outlives the
// tests: the point of the helpers is that their cleanup is complete.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHelpersGiveAWorkingJetStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	s := natstest.Server(t)
	nc := natstest.Connect(t, s.ClientURL())
	js := natstest.JetStream(t, nc)

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("hello")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, "t.1")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got := string(msg.Data); got != "hello" {
		t.Fatalf("got %q, want %q", got, "hello")
	}
}

func TestEachServerIsIsolated(t *testing.T) {
	a, b := natstest.Server(t), natstest.Server(t)
	if a.ClientURL() == b.ClientURL() {
		t.Fatalf("two servers share %s", a.ClientURL())
	}
	if a.DataDir() == b.DataDir() {
		t.Fatalf("two servers share store %s", a.DataDir())
	}
}

func TestConnectSurvivesServerShutdownBeforeCleanup(t *testing.T) {
	s := natstest.Server(t)
	nc := natstest.Connect(t, s.ClientURL())
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	// The server goes away first; cleanup must still close the client
	// (which is now reconnecting) without hanging or leaking.
	s.Shutdown()
}

func TestConnectNamesTheConnection(t *testing.T) {
	s := natstest.Server(t)
	natstest.Connect(t, s.ClientURL())
	cz, err := s.NATS().Connz(nil)
	if err != nil {
		t.Fatalf("connz: %v", err)
	}
	if len(cz.Conns) != 1 || cz.Conns[0].Name != "natstest:"+t.Name() {
		t.Fatalf("connections = %+v, want one named natstest:%s", cz.Conns, t.Name())
	}
}
