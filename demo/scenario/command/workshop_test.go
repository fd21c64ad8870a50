package command_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/scenario/command"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// `scenario run --step --report FILE` as an instructor drives it from a
// second terminal: the run waits at each phase boundary until `scenario
// next`, `scenario reveal` reveals the question's answer with the room's
// tally, and the debrief file has the verdict, the prediction and the
// waits. Once it is over, next and reveal say there is no run to pace.
func TestAStepRunIsPacedByNextAndRevealAndWritesItsDebrief(t *testing.T) {
	dir := t.TempDir()
	file, report := filepath.Join(dir, "workshop.yaml"), filepath.Join(dir, "debrief.md")
	if err := os.WriteFile(file, []byte(systemtest.StepScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	urls := make(chan string, 1)
	startLab := func(ctx context.Context, sys scenario.System) (scenario.Lab, error) {
		lab, err := system.StartLab(ctx, system.LabOptions{Dir: t.TempDir(), System: sys})
		if err != nil {
			return nil, err
		}
		urls <- lab.URLs()
		return lab, nil
	}
	// The run prints from its goroutine while the test reads.
	var out systemtest.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- command.Run(ctx, []string{"run", "--file", file, "--step", "--report", report, "--scale", "0.25", "--patience", "3"}, &out, startLab)
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("the run ended before its system started: %v\n%s", err, out.String())
	}

	const waiting = "waiting for the instructor"
	waitFor := func(n int) {
		t.Helper()
		for strings.Count(out.String(), waiting) < n {
			select {
			case err := <-done:
				t.Fatalf("the run ended (%v) before it waited %d times:\n%s", err, n, out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	pace := func(cmd, says string) {
		t.Helper()
		var b bytes.Buffer
		if err := command.Run(ctx, []string{cmd, "--server", url}, &b, noLab(t)); err != nil || !strings.Contains(b.String(), says) {
			t.Fatalf("scenario %s: %v, printed %q; want %q", cmd, err, b.String(), says)
		}
	}

	waitFor(1)
	answer(ctx, t, url, "ada", 1)
	pace("next", "moves on")
	waitFor(2)
	pace("reveal", "revealed the answer of phase 1's question")
	pace("next", "moves on")
	waitFor(3)
	pace("next", "moves on")
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"? How many instances report running?: 1 answered; right: b) four", "debrief written to " + report} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the run printed no %q:\n%s", want, out.String())
		}
	}
	md, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# workshop: a short story told in step mode", "**PASS**", "| b) four (right) | 1 |", "Right: b) four. one per service", "waited for the instructor", "answer revealed"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the debrief lacks %q:\n%s", want, md)
		}
	}
}

// answer sends one attendee's answer to the question open on the run the
// system at url stores last.
func answer(ctx context.Context, t *testing.T, url, name string, choice int) {
	t.Helper()
	nc := natstest.Connect(t, url)
	_, _, e := systemtest.LastRunStart(ctx, t, natstest.JetStream(t, nc))
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := control.NewClient(nc).Answer(actx, contract.Answer{Run: e.Run, Phase: 0, Choice: choice, Name: name}); err != nil {
		t.Fatal(err)
	}
}

// With no run on the system, next and reveal fail saying so, at once.
func TestNextAndRevealWithoutARunSaySo(t *testing.T) {
	srv := natstest.Server(t)
	for _, cmd := range []string{"next", "reveal"} {
		t.Run(cmd, func(t *testing.T) {
			var b bytes.Buffer
			err := command.Run(t.Context(), []string{cmd, "--server", srv.ClientURL()}, &b, noLab(t))
			if !errors.Is(err, control.ErrNoRunWaiting) {
				t.Fatalf("scenario %s: %v, printed %q; want %v", cmd, err, b.String(), control.ErrNoRunWaiting)
			}
		})
	}
}
