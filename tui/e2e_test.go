package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/systemtest"
)

// The real binary in a real terminal: `sagascope` with no command opens
// the dashboard on the embedded demo; keys typed into tmux inject "payment
// gateway down", the breaker opens and sagas are cancelled, clearing the
// fault closes the breaker again, q stops everything with exit status 0 and
// leaves the terminal's normal screen.
func TestBinaryInTmux(t *testing.T) {
	needTmux(t)
	tm := startDemoInTmux(t)

	tm.waitScreen(t, "the dashboard shows sagas completing", func(s string) error {
		if n := sagaCount(s, "completed"); n < 20 {
			return fmt.Errorf("%d completed sagas", n)
		}
		return contains(s, "● connected", "payment", "gateway closed")
	})

	// Enter on a consumer charts it from the feed's history; esc returns.
	tm.keys(t, "3", "Enter")
	tm.waitScreen(t, "a consumer's charts", func(s string) error {
		return contains(s, "CONSUMER ", "DELIVERED/S", "ACKED/S", "UNPROCESSED", "ACK PENDING", "history: ")
	})
	tm.keys(t, "Escape")
	tm.waitScreen(t, "the consumers again", func(s string) error { return contains(s, "STREAM › CONSUMER") })

	// Faults screen: payment and dependency_down are preselected.
	tm.keys(t, "4")
	tm.waitScreen(t, "the faults screen", func(s string) error {
		return contains(s, "INJECT A FAULT", "service       ◂ payment ▸", "fault         ◂ dependency_down ▸")
	})
	tm.keys(t, "Enter")
	tm.waitScreen(t, "the fault is applied", func(s string) error { return contains(s, "✓ set payment dependency_down", "IN FORCE (1)") })
	injected := time.Now()
	tm.keys(t, "1")
	before := sagaCount(tm.waitScreen(t, "the breaker opens", func(s string) error { return contains(s, "gateway OPEN") }), "cancelled")
	t.Logf("the payment breaker showed OPEN %v after the fault was applied", time.Since(injected).Round(100*time.Millisecond))
	tm.waitScreen(t, "sagas are cancelled while the gateway is down", func(s string) error {
		if n := sagaCount(s, "cancelled"); n <= before {
			return fmt.Errorf("cancelled stays at %d", n)
		}
		return nil
	})
	t.Logf("cancellations rose %v after the fault was applied", time.Since(injected).Round(100*time.Millisecond))
	// The breaker held open is a diagnosis, on the Overview and in the
	// list d opens; esc closes it.
	tm.waitScreen(t, "the open breaker is diagnosed", func(s string) error { return contains(s, "DIAGNOSES", "gateway breaker is open") })
	tm.keys(t, "d")
	tm.waitScreen(t, "the list of diagnoses", func(s string) error { return contains(s, "enter goes to its screen", "breaker open") })
	tm.keys(t, "Escape")

	// Clear it: the fault is the last row of the screen; down stops there.
	tm.keys(t, "4", "Down", "Down", "Down", "Down", "Down", "Down", "x")
	tm.waitScreen(t, "the fault is cleared", func(s string) error { return contains(s, "✓ clear payment dependency_down", "IN FORCE (0)") })
	tm.keys(t, "1")
	tm.waitScreen(t, "the breaker closes again", func(s string) error { return contains(s, "gateway closed", "faults: none injected") })

	rewindAndPause(t, tm)

	tm.keys(t, "q")
	// The shell that ran the binary prints its exit status on the normal
	// screen, which must be back.
	final := tm.waitScreen(t, "the binary exits", func(s string) error { return contains(s, "sagascope exited with status ") })
	if !strings.Contains(final, "sagascope exited with status 0") {
		t.Errorf("q should exit with status 0:\n%s", final)
	}
	if alt := tm.display(t, "#{alternate_on}"); alt != "0" {
		t.Errorf("after q the terminal is still on the alternate screen (alternate_on %q)", alt)
	}
	// The lines printed after the dashboard may have scrolled: read the
	// history too.
	if s := tm.capture(t, "-S", "-"); !strings.Contains(s, "sagascope: stopped cleanly") {
		t.Errorf("the normal screen should be back with the shutdown message:\n%s", s)
	}
}

// needTmux skips an end-to-end test of the binary with -short, or where
// tmux is not installed.
func needTmux(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary: skipped with -short")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the end-to-end test of the binary needs it")
	}
}

// rewindAndPause goes back in the dashboard's history to the gateway
// down, while the live system has it up again, and returns to live; then
// pauses, sees the sagas stand still while time goes on, and resumes.
func rewindAndPause(t *testing.T, tm *tmux) {
	t.Helper()
	// From live, [ goes to the newest notable event, then the ones
	// before: the breaker closing, the fault cleared, the breaker opening.
	var rewound string
	for range 8 {
		tm.keys(t, "[")
		time.Sleep(500 * time.Millisecond)
		if rewound = tm.capture(t); contains(rewound, "REWOUND to", "gateway OPEN") == nil {
			break
		}
	}
	if err := contains(rewound, "REWOUND to", "behind live", "gateway OPEN", "◆ "); err != nil {
		t.Fatalf("[ did not rewind to the gateway down: %v\n%s", err, rewound)
	}
	lines := strings.Split(strings.TrimRight(rewound, "\n"), "\n")
	t.Logf("rewound, the header and the status line read:\n%s\n%s", lines[0], lines[max(len(lines)-2, 0)])
	tm.keys(t, "L")
	tm.waitScreen(t, "L returns to live", func(s string) error {
		if strings.Contains(s, "REWOUND") {
			return fmt.Errorf("still rewound")
		}
		return contains(s, "gateway closed")
	})

	tm.keys(t, "p")
	paused := tm.waitScreen(t, "p pauses and the dashboard falls behind live", func(s string) error {
		m := behindLive.FindStringSubmatch(s)
		if m == nil {
			return fmt.Errorf("not paused, or less than a second behind")
		}
		if n, _ := strconv.Atoi(m[1]); n < 3 {
			return fmt.Errorf("%ds behind live", n)
		}
		return nil
	})
	if after := tm.capture(t); sagaCount(after, "completed") != sagaCount(paused, "completed") {
		t.Errorf("the sagas completed moved while paused:\n%s", after)
	}
	tm.keys(t, "p")
	tm.waitScreen(t, "p again resumes and sagas complete", func(s string) error {
		if strings.Contains(s, "PAUSED") {
			return fmt.Errorf("still paused")
		}
		if n := sagaCount(s, "completed"); n <= sagaCount(paused, "completed") {
			return fmt.Errorf("completed stays at %d", n)
		}
		return nil
	})
}

var behindLive = regexp.MustCompile(`PAUSED · ([0-9]+)s behind live`)

// buildBinary builds sagascope from the repository root, once for every
// end-to-end test of this run (each drives its own process of it), into a
// directory TestMain removes.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			built.skip = "the go command is not on PATH: cannot build the binary"
			return
		}
		dir, err := os.MkdirTemp("", "sagascope-e2e-")
		if err != nil {
			built.err = fmt.Errorf("make a directory for the binary: %w", err)
			return
		}
		built.dir = dir
		bin := filepath.Join(dir, "sagascope")
		cmd := exec.Command(gobin, "build", "-o", bin, ".")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		built.bin = bin
	})
	switch {
	case built.skip != "":
		t.Skip(built.skip)
	case built.err != nil:
		t.Fatal(built.err)
	}
	return built.bin
}

// built is the binary the end-to-end tests share.
var built struct {
	once     sync.Once
	bin, dir string
	skip     string
	err      error
}

// shellQuote joins words into a sh command line, each single-quoted.
func shellQuote(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// tmux is one detached tmux session on a private server socket, so the
// test neither sees nor disturbs the user's sessions.
type tmux struct {
	sock string
}

func startTmux(t *testing.T, width, height int, command ...string) *tmux {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	// remain-on-exit keeps the pane, and what it last showed, if the
	// command ends early.
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm := &tmux{sock: filepath.Join(dir, "tmux.sock")}
	args := append([]string{"-f", conf, "new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height)}, command...)
	if out, err := tm.cmd(args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	// kill-server hangs up the pane: SIGHUP ends a binary the test left
	// running when it failed early.
	t.Cleanup(func() { _ = tm.cmd("kill-server").Run() })
	return tm
}

func (tm *tmux) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...)
	// A tmux inside tmux refuses to start without this.
	cmd.Env = append(os.Environ(), "TMUX=")
	return cmd
}

func (tm *tmux) keys(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if out, err := tm.cmd("send-keys", "-t", "e2e", k).CombinedOutput(); err != nil {
			t.Fatalf("tmux send-keys %s: %v\n%s", k, err, out)
		}
		// One key at a time, as a person types: the program reads them in
		// order either way, but a screen switch shows before the next key.
		time.Sleep(50 * time.Millisecond)
	}
}

// capture is the pane's text, without colours; args are capture-pane's
// (e.g. "-S", "-" to start from the history's first line).
func (tm *tmux) capture(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tm.cmd(append([]string{"capture-pane", "-p", "-t", "e2e"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	return string(out)
}

func (tm *tmux) display(t *testing.T, format string) string {
	t.Helper()
	out, err := tm.cmd("display-message", "-p", "-t", "e2e", format).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux display-message: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitScreen waits until cond accepts the pane's text and returns it.
func (tm *tmux) waitScreen(t *testing.T, what string, cond func(screen string) error) string {
	t.Helper()
	var screen string
	systemtest.WaitFor(t, systemtest.Eventually, what, func() error {
		screen = tm.capture(t)
		if err := cond(screen); err != nil {
			return fmt.Errorf("%w; the screen:\n%s", err, screen)
		}
		return nil
	})
	return screen
}

func contains(screen string, texts ...string) error {
	for _, s := range texts {
		if !strings.Contains(screen, s) {
			return fmt.Errorf("no %q", s)
		}
	}
	return nil
}

var sagaTotal = regexp.MustCompile(`(completed|cancelled) ([0-9,]+)`)

// sagaCount reads a total from the overview's SAGAS line, -1 if absent.
func sagaCount(screen, outcome string) int {
	for _, line := range strings.Split(screen, "\n") {
		if !strings.HasPrefix(line, "SAGAS") {
			continue
		}
		for _, m := range sagaTotal.FindAllStringSubmatch(line, -1) {
			if m[1] == outcome {
				n, _ := strconv.Atoi(strings.ReplaceAll(m[2], ",", ""))
				return n
			}
		}
	}
	return -1
}
