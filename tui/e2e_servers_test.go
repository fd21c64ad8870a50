package tui

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// The real binary in tmux on three clustered servers: `sagascope tui`
// shows the three on the Servers screen (0) with an R3 stream's leader;
// when that node is stopped, the screen shows it offline and the stream's
// new leader, and the Events screen the leader change.
func TestTheServersScreenInTmuxShowsADeadNodeAndTheNewLeader(t *testing.T) {
	needTmux(t)
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	js := natstest.JetStream(t, natstest.Connect(t, c.ClientURLs()))
	var leader string
	systemtest.WaitFor(t, systemtest.Quickly, "an R3 stream with a leader", func() error {
		s, err := js.CreateOrUpdateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENTS", Subjects: []string{"payments"}, Replicas: 3})
		if err != nil {
			return err
		}
		info, err := s.Info(t.Context())
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("info %v: %v", info, err)
		}
		leader = info.Cluster.Leader
		return nil
	})

	bin := buildBinary(t)
	run := shellQuote(bin, "tui", "--read-only", "--server", c.ClientURLs())
	tm := startTmux(t, 160, 48, "sh", "-c", run+`; echo "sagascope exited with status $?"; sleep 600`)
	tm.waitScreen(t, "the dashboard", func(s string) error { return contains(s, "● connected", "0 Servers") })
	tm.keys(t, "0", "a")
	ledBy := regexp.MustCompile(`PAYMENTS\s+(\S+)\s+leader\s+leading`)
	tm.waitScreen(t, "three servers and the stream led by "+leader, func(s string) error {
		if m := ledBy.FindStringSubmatch(s); m == nil || m[1] != leader {
			return fmt.Errorf("PAYMENTS is not shown led by %s", leader)
		}
		return contains(s, "SERVERS  3", "s1", "s2", "s3", "REPLICAS  of every stream")
	})

	dead := -1
	for i, s := range c.Servers() {
		if s.NATS().Name() == leader {
			dead = i
		}
	}
	c.Stop(dead)
	stopped := time.Now()
	screen := tm.waitScreen(t, leader+" offline and a new leader", func(s string) error {
		if m := ledBy.FindStringSubmatch(s); m == nil || m[1] == leader {
			return fmt.Errorf("PAYMENTS is not shown led by another node")
		}
		return contains(s, "1 offline", "OFFLINE")
	})
	t.Logf("the Servers screen showed %s offline and the new leader %v after the stop:\n%s", leader, time.Since(stopped).Round(100*time.Millisecond), screen)

	tm.keys(t, "6")
	tm.waitScreen(t, "the leader change among the events", func(s string) error {
		return contains(s, "leader_changed", "leader "+leader+" → ")
	})
	tm.keys(t, "q")
	tm.waitScreen(t, "the binary exits", func(s string) error { return contains(s, "sagascope exited with status 0") })
}
