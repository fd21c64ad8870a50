package tui

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sagascope/sagascope/demo/natstest"
)

// The Messages and KV views in the real binary on the embedded demo: a
// service stream's messages followed as the load writes them, a saga's
// record in its bucket, and q still quits.
func TestBrowseInTmux(t *testing.T) {
	needTmux(t)
	tm := startDemoInTmux(t)
	tm.waitScreen(t, "the dashboard is connected", func(s string) error { return contains(s, "● connected") })

	tm.keys(t, "2", "/", "SAGA_ORDERS", "Enter", "Enter")
	tm.waitScreen(t, "the orders stream's messages", func(s string) error {
		return contains(s, "MESSAGES  SAGA_ORDERS", "no direct get", "saga.v1.orders.cmd.place", `{"v":1,"type":"orders.place"`)
	})
	tm.keys(t, "F")
	tm.waitScreen(t, "the stream followed", func(s string) error { return contains(s, "● following") })
	tm.keys(t, "Enter")
	tm.waitScreen(t, "a message in full", func(s string) error { return contains(s, "HEADERS", "Nats-Msg-Id", `"type": "orders.`) })

	tm.keys(t, "Escape", "Escape", "Escape", "/", "KV_saga_sagas", "Enter", "Enter")
	tm.waitScreen(t, "the saga bucket's keys", func(s string) error { return contains(s, "KV  saga_sagas", "keys · revision", "charge ") })
	tm.keys(t, "Enter")
	tm.waitScreen(t, "a saga's history", func(s string) error { return contains(s, "saga_sagas ›", "kept") })
	tm.keys(t, "Enter")
	tm.waitScreen(t, "its record decoded", func(s string) error { return contains(s, "RECORD (saga)", "order       customer") })

	tm.keys(t, "q")
	tm.waitScreen(t, "the binary exits", func(s string) error { return contains(s, "sagascope exited with status 0") })
}

// startDemoInTmux runs the binary on a fresh embedded demo under load in a
// 160x48 tmux pane. A shell runs it, as from a prompt: the shell says how
// the binary exited once it has, and the terminal is the shell's again.
func startDemoInTmux(t *testing.T) *tmux {
	t.Helper()
	bin := buildBinary(t)
	run := shellQuote(bin, "--data", filepath.Join(t.TempDir(), "data"), "--fresh", "--port", strconv.Itoa(natstest.FreePort(t)), "--load", "20")
	return startTmux(t, 160, 48, "sh", "-c", run+`; echo "sagascope exited with status $?"; sleep 600`)
}
