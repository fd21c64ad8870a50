package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// driver runs the real program (feed, control client, key handling,
// renderer) against a live connection, as Run does, and lets a test type
// keys and read what the screen shows. It is teatest's idea without the
// dependency: the program's own filter answers probes with the view.
type driver struct {
	p *tea.Program
	// out is the file the program draws to: writes to a file are safe
	// from the renderer's goroutine, and the test reads it once the
	// program has ended.
	out  string
	done chan error
}

// probeMsg asks the program for its current view.
type probeMsg struct{ view chan string }

func drive(t *testing.T, nc *nats.Conn, width, height int, tune ...func(*Options)) *driver {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "terminal")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = out.Close() })
	in, inW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	probe := tea.WithFilter(func(m tea.Model, msg tea.Msg) tea.Msg {
		if pm, ok := msg.(probeMsg); ok {
			pm.view <- m.View()
			return nil
		}
		return msg
	})
	opts := Options{Title: "test", RefreshEvery: 200 * time.Millisecond, Input: in, Output: out, NoColor: true}
	for _, f := range tune {
		f(&opts)
	}
	p, wait, err := start(ctx, nc, opts, probe, tea.WithoutSignalHandler())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	d := &driver{p: p, out: outPath, done: make(chan error, 1)}
	go func() {
		_, err := p.Run()
		d.done <- errors.Join(err, wait())
	}()
	t.Cleanup(func() {
		cancel()
		_ = inW.Close()
		select {
		case <-d.done:
		case <-time.After(systemtest.Quickly):
			t.Error("the program did not stop")
		}
	})
	p.Send(tea.WindowSizeMsg{Width: width, Height: height})
	return d
}

func (d *driver) view(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	d.p.Send(probeMsg{view: ch})
	select {
	case v := <-ch:
		return v
	case <-time.After(systemtest.Quickly):
		t.Fatal("the program does not answer")
	}
	return ""
}

func (d *driver) press(keys ...string) {
	for _, k := range keys {
		d.p.Send(keyMsg(k))
	}
}

// waitView waits until the view contains every text.
func (d *driver) waitView(t *testing.T, what string, texts ...string) string {
	t.Helper()
	return d.waitViewWithin(t, systemtest.Eventually, what, texts...)
}

// waitViewWithin is waitView with its own deadline.
func (d *driver) waitViewWithin(t *testing.T, timeout time.Duration, what string, texts ...string) string {
	t.Helper()
	var v string
	systemtest.WaitFor(t, timeout, what, func() error {
		v = d.view(t)
		for _, s := range texts {
			if !strings.Contains(v, s) {
				return fmt.Errorf("no %q in the view:\n%s", s, v)
			}
		}
		return nil
	})
	return v
}

// The whole loop on a live system: data arrives on screen, keys switch
// screens, a fault set and cleared on the Faults screen is applied through
// the control API, the load keys change the load, q quits and restores the
// terminal.
func TestProgramDrivesTheLiveSystem(t *testing.T) {
	sys := systemtest.Start(t, 20)
	d := drive(t, sys.NC, 80, 24)
	ctx := t.Context()

	d.waitView(t, "the overview shows the running system", "● connected", "load 20/s", "payment      1", "SAGAS  completed")

	d.press("2")
	d.waitView(t, "the streams screen lists the saga streams", "STREAMS", "SAGA_ORDERS", "SAGA_PAYMENT")
	d.press("tab")
	d.waitView(t, "tab goes on to the consumers", "CONSUMERS", "SAGA_PAYMENT › payment")

	// Faults: payment is preselected with dependency_down; one step left
	// on the kind is "error", whose probability defaults to 30%.
	d.press("4", "down", "left", "enter")
	d.waitView(t, "the fault is applied and listed", "✓ set payment error", "IN FORCE (1)", "error 30%")
	systemtest.WaitFor(t, systemtest.Quickly, "the control API has the fault", func() error {
		fs, err := sys.Ctl.Faults(ctx)
		if err != nil {
			return err
		}
		if len(fs) != 1 || fs[0].Service != contract.Payment || fs[0].Kind != contract.FaultError || fs[0].Probability != 0.3 || fs[0].Duration != 30*time.Second {
			return fmt.Errorf("faults %+v", fs)
		}
		return nil
	})
	// The instances report the fault in their status: the overview, which
	// reads only the status feed, lists it.
	d.press("1")
	d.waitView(t, "the overview shows the fault from the status feed", "faults (1): payment error 30%")

	// The fault row comes after the form's three rows (service, fault,
	// probability, duration): move onto it and clear it.
	d.press("4", "down", "down", "down", "down", "x")
	d.waitView(t, "the fault is cleared", "✓ clear payment error", "IN FORCE (0)")
	if fs, err := sys.Ctl.Faults(ctx); err != nil || len(fs) != 0 {
		t.Errorf("after clearing, faults %+v, %v", fs, err)
	}

	d.press("+")
	d.waitView(t, "more load", "✓ load 50/s")
	if l, err := sys.Ctl.Load(ctx); err != nil || l.Rate != 50 {
		t.Errorf("after +, load %+v, %v", l, err)
	}
	d.press("b")
	d.waitView(t, "a burst", "✓ burst of 500 orders")

	d.press("q")
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("q should quit cleanly: %v", err)
		}
	case <-time.After(systemtest.Quickly):
		t.Fatal("q did not quit")
	}
	if out, err := os.ReadFile(d.out); err != nil || !strings.Contains(string(out), "\x1b[?1049l") {
		t.Error("the terminal was not restored: no exit from the alternate screen")
	}
	d.done <- nil // for Cleanup
}

// A NATS server without sagascope: the dashboard still runs and says
// plainly that no service answers when asked to inject a fault.
func TestProgramWithoutSagascopeServices(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	d := drive(t, nc, 80, 24)
	d.waitView(t, "the overview explains", "No sagascope services report")
	d.press("4")
	d.waitView(t, "the faults screen says control is unavailable", "no sagascope service answers the control API")
	d.press("enter")
	d.waitView(t, "injecting says why it failed", "✗ set fault: no sagascope service answers")
	d.press("1")
	d.waitView(t, "the dashboard keeps running", "No sagascope services report")
}

// A read-only user: the server refuses the control request; the dashboard
// says so and keeps running.
func TestProgramOnAReadOnlyConnection(t *testing.T) {
	// A server with a viewer who may not publish control requests.
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{{Username: "viewer", Password: "viewer", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Deny: []string{contract.ControlPrefix + ".>"}},
		}}}}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("viewer", "viewer"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	d := drive(t, nc, 80, 24)
	d.press("4", "enter")
	d.waitView(t, "the refusal is explained", "✗ set fault: not permitted to inject faults")
	d.press("+")
	d.waitView(t, "the load refusal too", "✗ get load: not permitted")
	d.press("2")
	d.waitView(t, "the dashboard keeps running", "STREAMS")
}
