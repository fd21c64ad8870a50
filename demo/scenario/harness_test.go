package scenario

import "testing"

// The catalogue marks a scenario its target cannot run from what the
// scenario's steps need and what the target offers.
func TestWhatABuiltinScenarioNeedsAndWhoOffersIt(t *testing.T) {
	all, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	// ownServices is what a system this process runs offers when its
	// server runs elsewhere.
	ownServices := Harness{Services: true}
	needs := map[string]Harness{}
	for _, sc := range all {
		needs[sc.Name] = sc.Needs()
	}
	tests := []struct {
		name     string
		scenario string
		offers   Harness
		missing  string
	}{
		{"a fault-only scenario runs attached", "gateway-down", Offered(Attached{}), ""},
		{"a crash needs to stop a service", "crash-mid-saga", Offered(Attached{}), "stop services"},
		{"the process's own system stops services", "crash-mid-saga", ownServices, ""},
		{"a server restart needs the server", "server-restart", ownServices, "restart the server"},
		{"a node stop needs a cluster", "cluster-node-down", ownServices, "stop cluster nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need, ok := needs[tt.scenario]
			if !ok {
				t.Fatalf("no builtin %s", tt.scenario)
			}
			if got := tt.offers.Missing(need).String(); got != tt.missing {
				t.Errorf("missing %q, want %q", got, tt.missing)
			}
		})
	}
}
