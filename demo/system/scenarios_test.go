package system_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/system"
)

// The test variant of a run: waits and holds at a quarter (at least a
// second each), deadlines three times as patient, because other test
// binaries share this small machine and -race slows everything. A
// scenario that never shows what it expects still fails.
var quick = scenario.Options{Scale: 0.25, Patience: 3}

// runScenario runs sc on a fresh lab and returns its transcript; after,
// if given, looks at the system once the run has ended, before it stops.
func runScenario(t *testing.T, sc *scenario.Scenario, target func(*system.Lab) scenario.Target, after ...func(*system.Lab)) (scenario.Result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	local, err := system.StartLab(ctx, system.LabOptions{Dir: t.TempDir(), System: sc.System})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	opt := quick
	opt.OnEvent = scenario.Printer{W: &out}.Event
	res, err := scenario.Run(ctx, sc, target(local), opt)
	for _, f := range after {
		f(local)
	}
	if cerr := local.Close(); cerr != nil {
		t.Errorf("close the lab: %v", cerr)
	}
	if err != nil {
		t.Fatalf("run %s: %v\n%s", sc.Name, err, out.String())
	}
	return res, out.String()
}

func owned(l *system.Lab) scenario.Target { return l }

// The reliability suite: every shipped scenario passes against real
// embedded servers (the cluster one against three clustered on loopback),
// its actions applied through the control API and the harness, its
// expectations read from the status feed and JetStream, and sagascope
// check proving nothing was lost or applied twice.
func TestEveryShippedScenarioPasses(t *testing.T) {
	all, err := scenario.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range all {
		t.Run(sc.Name, func(t *testing.T) {
			res, transcript := runScenario(t, sc, owned)
			t.Logf("\n%s", transcript)
			if !res.Pass() {
				t.Fatalf("%s did not pass: %d of %d expectations failed, stopped early: %v", sc.Name, res.Failed(), len(res.Checks), res.Err)
			}
			// A node stop is measured: sagas flowing again and the stream
			// the node led elected a new leader.
			if sc.Needs().Nodes && len(res.NodeLosses) == 0 {
				t.Errorf("%s stopped a node and measured no node loss", sc.Name)
			}
			for _, l := range res.NodeLosses {
				if !l.Flowing || !l.Elected || l.Stream == "" {
					t.Errorf("node loss of %s not measured in full: %+v", l.Node, l)
				}
			}
		})
	}
}

// Attached to a system it did not start, the runner cannot restart the
// server: the step fails saying so, the scenario fails, and the faults it
// set are cleared.
func TestAHarnessStepOnAnAttachedSystemFailsAsNotAvailable(t *testing.T) {
	sc, err := scenario.Parse("attached.yaml", []byte(`name: attached
title: restart a server the runner does not own
teaches: honesty
phases:
  - name: observe
    narrative: n
    steps:
      - fault: {service: payment, kind: latency, latency: 10ms}
      - restart_server: true
      - expect: {metric: instances, at_least: 4}
`))
	if err != nil {
		t.Fatal(err)
	}
	var left []contract.Fault
	res, transcript := runScenario(t, sc, func(l *system.Lab) scenario.Target {
		return scenario.Attached{Dial: func(ctx context.Context, name string) (*nats.Conn, error) {
			return connect.Dial(ctx, connect.Options{Servers: l.URLs()}, name)
		}}
	}, func(l *system.Lab) {
		nc := natstest.Connect(t, l.URLs())
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var err error
		if left, err = control.NewClient(nc).Faults(ctx); err != nil {
			t.Fatalf("list the faults after the run: %v", err)
		}
	})
	if len(left) != 0 {
		t.Errorf("the run left faults in force: %+v", left)
	}
	if res.Pass() || !errors.Is(res.Err, scenario.ErrNotAvailable) {
		t.Fatalf("result %+v; want a failure for a step not available here\n%s", res, transcript)
	}
	for _, want := range []string{"FAIL restart the NATS server: restart the NATS server: not available here", "== attached: FAIL"} {
		if !strings.Contains(transcript, want) {
			t.Fatalf("transcript lacks %q:\n%s", want, transcript)
		}
	}
	if len(res.Checks) != 0 {
		t.Fatalf("checks %+v; the story stops at the failed step", res.Checks)
	}
}
