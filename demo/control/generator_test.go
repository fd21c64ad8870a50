package control_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// With the whole system running, load generator included, `sagascope
// load` says what the generator does with the setting: its effective rate
// once it acts on the new one, after the setting's own line.
func TestTheLoadCommandReportsTheGeneratorActingOnTheSetting(t *testing.T) {
	t.Parallel()
	s := systemtest.Start(t, 0)
	load := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := control.RunLoadCommand(endpointtest.Context(t), s.Ctl, args, &out); err != nil {
			t.Fatalf("sagascope load %v: %v", args, err)
		}
		return out.String()
	}
	set := regexp.MustCompile(`^rate 20 orders/s, set at [^\n]+\nload generator: effective rate 20 orders/s, \d+ orders placed\n$`)
	if out := load("--rate", "20"); !set.MatchString(out) {
		t.Fatalf("load --rate 20 =\n%s\nwant the setting, then the generator at 20 orders/s", out)
	}
	if out := load(); !set.MatchString(out) {
		t.Fatalf("load =\n%s\nwant the setting, then the generator at 20 orders/s", out)
	}
}
