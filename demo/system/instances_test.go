package system_test

import (
	"fmt"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
)

// Several instances of a service bind the same durable consumers, so the
// server splits the work between them: each instance processes a share,
// and no saga is applied twice (check proves the latter).
func TestInstancesOfAServiceShareItsDurablesAndSplitTheWork(t *testing.T) {
	r := demo(t, 100, func(c *system.Config) { c.Instances = 2 })
	r.waitCompleted(t, 300, "300 sagas complete with two instances of each service")

	// The latest status of each instance, by service.
	latest := map[contract.Service]map[string]contract.Status{}
	systemtest.WaitFor(t, quickly, "every instance reports work done", func() error {
		r.feed.mu.Lock()
		for _, s := range r.feed.all {
			if latest[s.Service] == nil {
				latest[s.Service] = map[string]contract.Status{}
			}
			latest[s.Service][s.Instance] = s
		}
		r.feed.mu.Unlock()
		for _, svc := range contract.Services {
			if n := len(latest[svc]); n != 2 {
				return fmt.Errorf("%s: %d instances report, want 2", svc, n)
			}
			for id, s := range latest[svc] {
				if s.Counters.Processed == 0 {
					return fmt.Errorf("%s instance %s processed nothing: the work is not split", svc, id)
				}
			}
		}
		return nil
	})
	for _, svc := range contract.Services {
		for id, s := range latest[svc] {
			t.Logf("%-9s %s processed %d", svc, id, s.Counters.Processed)
		}
	}

	// The durables are shared, not one per instance.
	for _, svc := range contract.Services {
		ci := r.consumerInfo(t, contract.StreamName(svc), contract.CommandConsumer(svc))
		if ci.Config.Durable != contract.CommandConsumer(svc) {
			t.Fatalf("%s: consumer %q, want the shared durable", svc, ci.Config.Durable)
		}
	}
	r.stopLoad(t)
	all := r.settle(t)
	if c := countByStatus(all); c[contract.SagaCompleted] != len(all) {
		t.Fatalf("without faults every saga completes: %v", c)
	}
	r.mustCheck(t)
}
