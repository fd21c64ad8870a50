package tui

import (
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/systemtest"
)

// scenarioRunFor bounds a scaled-down scenario run on a loaded machine;
// on an idle one it takes about ten seconds.
const scenarioRunFor = 2 * time.Minute

// A scenario run from the screen against the dashboard's own system:
// confirmed, its steps tick on the timeline, it passes; a second one,
// cancelled mid-story, leaves no fault behind and the load as it was.
func TestProgramRunsAScenarioOnItsOwnSystem(t *testing.T) {
	sys := systemtest.Start(t, 0)
	d := drive(t, sys.NC, 120, 36, func(o *Options) { o.Scenarios, o.ScenarioScale = sys.System, 0.2 })

	d.press("9")
	d.waitView(t, "the catalogue", "SCENARIOS (9)", "duplicate-deliveries", "needs a cluster")
	d.press("down", "down", "enter")
	d.waitView(t, "the question before the run", "Run duplicate-deliveries?")
	d.press("y")
	d.waitView(t, "the run starts with its story", "▶ duplicate-deliveries", "INTRODUCE (1 of 4)", "JetStream delivers at least once")
	d.waitViewWithin(t, scenarioRunFor, "the run passes", "✓ duplicate-deliveries PASS", "PASS", "✓ expect check")

	d.press("esc", "up", "enter", "y")
	d.waitView(t, "the second run reaches the fault", "▶ gateway-down", "OBSERVE (2 of 4)", "✓ inject fault dependency_down on payment")
	d.press("x")
	d.waitView(t, "the run is cancelled and cleaned up", "■ gateway-down cancelled", "CANCELLED")
	if fs, err := sys.Ctl.Faults(t.Context()); err != nil || len(fs) != 0 {
		t.Errorf("after a cancelled run the faults are %+v, %v; want none", fs, err)
	}
	if l, err := sys.Ctl.Load(t.Context()); err != nil || l.Rate != 0 {
		t.Errorf("after a cancelled run the load is %+v, %v; want the 0 it found", l, err)
	}
}
