package tui

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/natstest"
)

// The done-means of time travel: 20 s of the demo recorded with the
// payment gateway taken down part way, replayed with no server, and the
// notable-event key ] seeks to where the breaker shows OPEN.
func TestAReplayOfTheGatewayDownSeeksToTheOpenBreaker(t *testing.T) {
	needTmux(t)
	bin := buildBinary(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(natstest.FreePort(t))
	port := url[len("nats://127.0.0.1:"):]
	ctx, cancel := context.WithCancel(context.Background())
	demo := exec.CommandContext(ctx, bin, "--data", filepath.Join(t.TempDir(), "data"), "--fresh", "--port", port, "--no-tui", "--load", "20")
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = demo.Wait() })
	// The demo is up when a fault list answers.
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command(bin, "fault", "list", "--server", url).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the embedded demo did not answer fault list in 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	rec := filepath.Join(t.TempDir(), "gateway.rec")
	record := exec.Command(bin, "record", "--server", url, "--duration", "20s", rec)
	if err := record.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if out, err := exec.Command(bin, "fault", "set", "payment", "dependency_down", "--server", url).CombinedOutput(); err != nil {
		t.Fatalf("fault set: %v\n%s", err, out)
	}
	if err := record.Wait(); err != nil {
		t.Fatalf("record: %v", err)
	}
	cancel()

	tm := startTmux(t, 160, 48, bin, "replay", rec)
	tm.waitScreen(t, "the replay's first frame", func(s string) error { return contains(s, "REPLAY", "gateway closed") })
	tm.keys(t, "p") // pause where it is, so only the seeks move it
	for range 4 {
		tm.keys(t, "]")
		time.Sleep(300 * time.Millisecond)
		if contains(tm.capture(t), "gateway OPEN") == nil {
			break
		}
	}
	tm.waitScreen(t, "the payment breaker OPEN at a notable event", func(s string) error { return contains(s, "REPLAY", "gateway OPEN") })
	tm.keys(t, "q")
}
