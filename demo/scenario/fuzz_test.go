package scenario_test

import (
	"testing"

	"github.com/sagascope/sagascope/demo/scenario"
)

// Parse never panics on any input, and what it accepts it accepts again
// unchanged in meaning: every step of an accepted scenario describes
// itself and every expectation has a metric.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"01-slow-database.yaml", "06-crash-mid-saga.yaml", "09-cluster-node-down.yaml"} {
		data, err := scenario.BuiltinFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := scenario.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if sc.Name == "" || len(sc.Phases) == 0 {
			t.Fatalf("accepted a scenario without a name or phases: %+v", sc)
		}
		for _, p := range sc.Phases {
			for _, s := range p.Steps {
				if s.String() == "nothing" {
					t.Fatalf("accepted a step that does nothing: %+v", s)
				}
				if s.Expect != nil && s.Expect.Metric == "" {
					t.Fatalf("accepted an expectation without a metric: %+v", s.Expect)
				}
			}
		}
	})
}
