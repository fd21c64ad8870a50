package tui

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
)

// A workshop as a room runs it, with the real binary in two terminals on
// one shared session: the instructor's embedded dashboard (the operator)
// starts slow-database in step mode; the attendee's `sagascope tui` (the
// observer's login, --name ada) follows it without a key, answers the
// question, and the instructor's screen counts the answer; the instructor
// moves on and reveals, and the attendee's screen follows both.
func TestAWorkshopRoomFollowsTheInstructorsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary: skipped with -short")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the end-to-end test of a workshop needs it")
	}
	began := time.Now()
	bin := buildBinary(t)
	t.Logf("built the binary in %v", time.Since(began).Round(100*time.Millisecond))
	port := strconv.Itoa(natstest.FreePort(t))
	// A given observer password turns logins on on loopback; the
	// operator's is generated and only the instructor's process needs it.
	instructorCmd := "env " + shellQuote(embedded.ObserverPasswordEnv+"=watch-only", embedded.OperatorPasswordEnv+"=") + " " +
		shellQuote(bin, "--data", filepath.Join(t.TempDir(), "data"), "--fresh", "--listen", "127.0.0.1:"+port, "--load", "20", "--name", "teacher")
	instructor := startTmux(t, 160, 48, "sh", "-c", instructorCmd+`; echo "sagascope exited with status $?"; sleep 600`)
	instructor.waitScreen(t, "the instructor's dashboard shows sagas completing", func(s string) error {
		if n := sagaCount(s, "completed"); n < 5 {
			return fmt.Errorf("%d completed sagas", n)
		}
		return contains(s, "● connected")
	})

	attendeeCmd := shellQuote(bin, "tui", "--server", "nats://127.0.0.1:"+port, "--user", embedded.ObserverUser, "--password", "watch-only",
		"--inbox-prefix", "_INBOX_"+embedded.ObserverUser, "--name", "ada")
	attendee := startTmux(t, 120, 40, "sh", "-c", attendeeCmd+`; echo "sagascope exited with status $?"; sleep 600`)
	attendee.waitScreen(t, "the attendee's dashboard is attached", func(s string) error { return contains(s, "● connected", "payment") })

	t.Logf("both dashboards attached %v after the start", time.Since(began).Round(100*time.Millisecond))
	// The first scenario of the catalogue is slow-database.
	instructor.keys(t, "9", "m", "Enter", "y")
	instructor.waitScreen(t, "the instructor's run waits before its first phase", func(s string) error {
		return contains(s, "▶ slow-database", "INTRODUCE (1 of 4)", "waiting · n moves on", "0 answered · v reveals")
	})
	// The attendee did not touch a key: the run takes their screen.
	attendee.waitScreen(t, "the attendee sees the run's title, narrative and question", func(s string) error {
		return contains(s, "▶ slow-database", "INTRODUCE (1 of 4)", "Orders flow through payment", "PREDICT", "does the backlog wait?", "waiting for the instructor")
	})
	attendee.keys(t, "a", "b")
	attendee.waitScreen(t, "the attendee's answer is sent", func(s string) error { return contains(s, "✓ answered b", "▸ b)") })
	instructor.waitScreen(t, "the instructor's screen counts the answer", func(s string) error {
		return contains(s, "1 answered · v reveals", "b) 1 ")
	})

	instructor.keys(t, "n")
	attendee.waitScreen(t, "the attendee follows the instructor into the next phase", func(s string) error {
		return contains(s, "OBSERVE (2 of 4)", "Every database query now takes a second", "waiting for the instructor")
	})
	instructor.keys(t, "v")
	attendee.waitScreen(t, "the attendee sees the reveal", func(s string) error {
		return contains(s, "✓ b) 1 ", "1 answered · what the system did:")
	})
	t.Logf("the room followed the run through its reveal %v after the start", time.Since(began).Round(100*time.Millisecond))
}
