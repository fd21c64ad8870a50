package scenario_test

import (
	"strings"
	"testing"

	"github.com/sagascope/sagascope/demo/scenario"
)

// Every shipped scenario parses, has a unique name, tells the four phases
// of its story in order, and ends with sagascope check.
func TestShippedScenariosAreValidAndEndWithCheck(t *testing.T) {
	all, err := scenario.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 9 {
		t.Fatalf("%d shipped scenarios, want at least 9", len(all))
	}
	seen := map[string]bool{}
	for _, sc := range all {
		if seen[sc.Name] {
			t.Fatalf("two scenarios are called %s", sc.Name)
		}
		seen[sc.Name] = true
		var phases []string
		for _, p := range sc.Phases {
			phases = append(phases, p.Name)
		}
		if got := strings.Join(phases, ","); got != strings.Join(scenario.PhaseNames, ",") {
			t.Errorf("%s tells %s; want every phase: %s", sc.Name, got, strings.Join(scenario.PhaseNames, ","))
		}
		asks := 0
		for _, p := range sc.Phases {
			if p.Question != nil {
				asks++
			}
		}
		if asks == 0 {
			t.Errorf("%s asks the room no question", sc.Name)
		}
		if len(sc.Panels) == 0 {
			t.Errorf("%s names no panels for the presenter", sc.Name)
		}
		if len(sc.Final.Expect) == 0 || sc.Final.Expect[0].Metric != "check" {
			t.Errorf("%s does not end with the check invariants", sc.Name)
		}
		got, err := scenario.Lookup(sc.Name)
		if err != nil || got.Title != sc.Title {
			t.Errorf("Lookup(%q) = %v, %v", sc.Name, got, err)
		}
	}
}

const header = "name: bad\ntitle: t\nteaches: x\n"

// Parse refuses what a scenario author can get wrong, saying on which line.
func TestParseRefusesMistakesNamingTheLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"an unknown top-level field", header + "colour: red\nphases: []\n", "line 4: field colour not found"},
		{"an unknown field in a step", header + "phases:\n  - name: introduce\n    narrative: n\n    steps:\n      - lod: 5\n", "line 8: field lod not found"},
		{"a fault field that is not a parameter", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - fault: {service: payment, kind: crash, set: now}\n", "field set not found"},
		{"a duration that is not one", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - wait: soon\n", "line 8: cannot unmarshal"},
		{"no phases", header, "a scenario needs phases"},
		{"a name with spaces", "name: Bad Name\ntitle: t\nteaches: x\nphases: []\n", "line 1: name \"Bad Name\""},
		{"phases out of order", header + "phases:\n  - name: resolve\n    narrative: n\n  - name: introduce\n    narrative: n\n", "line 7: phase introduce comes after resolve"},
		{"an unknown phase", header + "phases:\n  - name: epilogue\n    narrative: n\n", "line 5: phase \"epilogue\""},
		{"a phase without a narrative", header + "phases:\n  - name: observe\n", "line 5: phase observe needs a narrative"},
		{"a step doing two things", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - {load: 5, wait: 1s}\n", "line 8: a step does one thing, this one has load and wait"},
		{"an empty step", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - {}\n", "line 8: an empty step"},
		{"a fault of an unknown kind", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - fault: {service: payment, kind: meteor}\n", "line 8: fault: unknown fault kind \"meteor\""},
		{"a fault on an unknown service", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - fault: {service: billing, kind: latency, latency: 1s}\n", "unknown service \"billing\""},
		{"a load out of range", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - load: -3\n", "load -3 is not in"},
		{"an unknown metric", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: vibes, above: 1}\n", "line 8: unknown metric \"vibes\""},
		{"a number without a bound", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: lag, service: payment}\n", "needs a bound"},
		{"a per-service metric without its service", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: lag, above: 1}\n", "metric lag needs a service"},
		{"a breaker state that does not exist", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: breaker, service: payment, breaker: gateway, is: ajar}\n", "breaker state \"ajar\""},
		{"a limit on a metric without one", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: lag, service: payment, at_limit: true}\n", "metric lag has no limit"},
		{"within and during together", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - expect: {metric: lag, service: payment, above: 1, within: 1s, during: 1s}\n", "not both"},
		{"a node action without a cluster", header + "phases:\n  - name: observe\n    narrative: n\n    steps:\n      - stop_node: {name: s1}\n", "need a cluster"},
		{"a server restart on a cluster", header + "system: {nodes: 3}\nphases:\n  - name: observe\n    narrative: n\n    steps:\n      - restart_server: true\n", "on a cluster use stop_node"},
		{"a final expectation that waits", header + "phases:\n  - name: observe\n    narrative: n\nfinal:\n  expect:\n    - {metric: check, within: 5s}\n", "line 9: a final expectation is checked once"},
		{"a panel of an unknown kind", header + "panels:\n  - {kind: gauge}\nphases:\n  - name: observe\n    narrative: n\n", "line 5: panel kind \"gauge\""},
		{"a breaker panel without its breaker", header + "panels:\n  - {kind: breaker, service: payment}\nphases:\n  - name: observe\n    narrative: n\n", "a breaker panel needs a breaker"},
		{"a pool panel on an unknown service", header + "panels:\n  - {kind: pool, service: billing}\nphases:\n  - name: observe\n    narrative: n\n", "unknown service \"billing\""},
		{"a servers panel with a service", header + "panels:\n  - {kind: servers, service: payment}\nphases:\n  - name: observe\n    narrative: n\n", "a servers panel takes no service"},
		{"two documents", header + "phases:\n  - name: observe\n    narrative: n\n---\nname: other\n", "a second document"},
		{"not YAML", "name: [unclosed\n", "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scenario.Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("parsed; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "scenario bad.yaml: ") {
				t.Fatalf("error %q; want it to name the file and contain %q", err, tt.want)
			}
		})
	}
}

// A minimal scenario parses with its defaults, and each step says what it
// does in words.
func TestParseReadsAMinimalScenario(t *testing.T) {
	sc, err := scenario.Parse("ok.yaml", []byte(header+`phases:
  - name: observe
    narrative: n
    steps:
      - fault: {service: payment, kind: latency, latency: 250ms}
      - expect: {metric: breaker, service: payment, breaker: gateway, is: open, within: 5s}
      - expect: {metric: lag, service: inventory, above: 500, within: 20s}
      - stop_service: payment
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sc.Phases[0].Steps {
		got = append(got, s.String())
	}
	want := []string{
		"inject fault latency on payment (+250ms)",
		"expect payment gateway breaker is open within 5s",
		"expect inventory lag above 500 within 20s",
		"stop every payment instance",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
