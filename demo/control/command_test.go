package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
	"github.com/sagascope/sagascope/demo/internal/golden"
)

func run(t *testing.T, c *Client, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := RunFaultCommand(endpointtest.Context(t), c, args, &out); err != nil {
		t.Fatalf("sagascope fault %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

func TestTheFaultCommandSetsListsAndClearsFaults(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment, func(c *endpoint.Config) { c.Now = time.Now }) // remaining time is shown against the wall clock

	out := run(t, d.client, "set", "payment", "error", "--probability", "0.3", "--duration", "30s")
	if !regexp.MustCompile(`^set payment error for 30s\nSERVICE +KIND +PARAMETERS +REMAINING\npayment +error +probability=0\.3 +(29|30)s\n$`).MatchString(out) {
		t.Fatalf("fault set output:\n%s", out)
	}
	// Flags before the positionals work too.
	run(t, d.client, "set", "--latency", "200ms", "--jitter", "50ms", "inventory", "latency")
	run(t, d.client, "set", "orders", "burst")
	run(t, d.client, "set", "shipping", "crash", "--restart-after", "5s")
	run(t, d.client, "clear", "payment", "error")
	golden.Check(t, "list.golden", run(t, d.client, "list"))

	var reply contract.FaultReply
	if err := json.Unmarshal([]byte(run(t, d.client, "list", "--json")), &reply); err != nil || len(reply.Faults) != 3 || reply.V != contract.Version {
		t.Fatalf("fault list --json = %+v (%v); want a FaultReply with three faults", reply, err)
	}
	if err := json.Unmarshal([]byte(run(t, d.client, "set", "payment", "pause", "--json")), &reply); err != nil || len(reply.Faults) != 4 {
		t.Fatalf("fault set --json = %+v (%v); want a FaultReply with four faults", reply, err)
	}

	if out := run(t, d.client, "reset"); out != "cleared every fault\n" {
		t.Fatalf("fault reset output %q", out)
	}
	if out := run(t, d.client, "list"); out != "no faults in force\n" {
		t.Fatalf("fault list after reset = %q", out)
	}
}

func TestTheFaultCommandListsTheKinds(t *testing.T) {
	t.Parallel()
	// kinds needs no server: it documents contract.FaultKinds.
	golden.Check(t, "kinds.golden", run(t, nil, "kinds"))
}

func TestTheLoadCommandPrintsAndChangesTheSetting(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Orders)
	load := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := RunLoadCommand(endpointtest.Context(t), d.client, args, &out); err != nil {
			t.Fatalf("sagascope load %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	// Only the control endpoint serves here: no generator acts on the
	// setting, and every answer says so.
	if out := load(); out != "rate 0 orders/s (paused), never set\n"+NoGenerator+"\n" {
		t.Fatalf("load before any set = %q", out)
	}
	if out := load("--rate", "20"); !strings.HasPrefix(out, "rate 20 orders/s, set at ") || !strings.HasSuffix(out, "\n"+NoGenerator+"\n") {
		t.Fatalf("load --rate 20 = %q, want the setting and that no generator acts on it", out)
	}
	if out := load("--burst", "500"); !strings.HasPrefix(out, "rate 20 orders/s, last burst 500 orders (#1), set at ") {
		t.Fatalf("load --burst 500 = %q", out)
	}
	if out := load(); !strings.HasPrefix(out, "rate 20 orders/s, last burst 500 orders (#1)") {
		t.Fatalf("load after a burst = %q", out)
	}
}

func TestWrongCommandLinesAreUsageErrorsOfOneLine(t *testing.T) {
	t.Parallel()
	// Nothing serves here: a command that reached the network would fail
	// with ErrNoResponders instead of a usage error.
	d := startDemo(t)
	tests := []struct {
		name string
		load bool
		args []string
		want string
	}{
		{"fault with no command", false, nil, "say what to do"},
		{"an unknown fault command", false, []string{"break"}, `unknown command fault "break"`},
		{"fault set without a kind", false, []string{"set", "payment"}, "fault set needs <service> <kind>"},
		{"fault set for an unknown service", false, []string{"set", "billing", "pause"}, `unknown service "billing"`},
		{"fault set of an unknown kind", false, []string{"set", "payment", "meteor"}, `unknown fault kind "meteor"`},
		{"fault set of a kind that does not apply", false, []string{"set", "payment", "burst"}, "fault burst does not apply to payment, only to orders"},
		{"fault set with probability 1.5", false, []string{"set", "payment", "error", "--probability", "1.5"}, "probability 1.5 is not in 0..1"},
		{"fault set with a parameter the kind ignores", false, []string{"set", "payment", "dependency_down", "--latency", "1s"}, "dependency_down does not use --latency"},
		{"fault set with an unknown flag", false, []string{"set", "payment", "pause", "--force"}, "flag provided but not defined: -force"},
		{"fault set with a malformed duration", false, []string{"set", "payment", "pause", "--duration", "soon"}, `invalid value "soon"`},
		{"fault set with a negative duration", false, []string{"set", "payment", "pause", "--duration", "-1s"}, "duration -1s is not in"},
		{"fault set with an extra argument", false, []string{"set", "payment", "pause", "now"}, `unexpected argument "now"`},
		{"fault clear without arguments", false, []string{"clear"}, "fault clear needs <service> <kind>"},
		{"fault list with an argument", false, []string{"list", "payment"}, `unexpected argument "payment"`},
		{"load with an argument", true, []string{"20"}, `unexpected argument "20"`},
		{"load with a negative rate", true, []string{"--rate", "-1"}, "--rate -1 is not in 0..100000"},
		{"load with a zero burst only", true, []string{"--burst", "0"}, "changes nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var err error
			if tt.load {
				err = RunLoadCommand(endpointtest.Context(t), d.client, tt.args, &out)
			} else {
				err = RunFaultCommand(endpointtest.Context(t), d.client, tt.args, &out)
			}
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v; want one line matching cli.ErrUsage that mentions %q", err, tt.want)
			}
			if out.Len() > 0 {
				t.Fatalf("printed %q on a usage error; want nothing", out.String())
			}
		})
	}
}
