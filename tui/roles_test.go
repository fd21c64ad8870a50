package tui

import (
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
	"github.com/sagascope/sagascope/tui/feed"
)

// A service is judged by the worst thing about it.
func TestHealthNamesTheWorstThingAboutAService(t *testing.T) {
	running := []feed.Instance{{ID: "a", State: contract.StateRunning}}
	crashed := append([]feed.Instance{{ID: "b", State: contract.StateCrashed}}, running...)
	open := []feed.Breaker{{Name: "gateway", State: contract.BreakerOpen}}
	halfOpen := []feed.Breaker{{Name: "carrier", State: contract.BreakerHalfOpen}}
	tests := []struct {
		name string
		svc  feed.Service
		role role
		word string
	}{
		{"a service without instances is not reporting", feed.Service{}, roleMuted, "not reporting"},
		{"a crashed instance fails its service", feed.Service{Service: statusfeed.Service{Instances: crashed, Breakers: halfOpen}}, roleFailing, "crashed"},
		{"an open breaker fails its service", feed.Service{Service: statusfeed.Service{Instances: running, Breakers: append(halfOpen, open...)}}, roleFailing, "gateway open"},
		{"critical lag fails a service", feed.Service{Service: statusfeed.Service{Instances: running}, Command: &feed.Consumer{Level: feed.LevelCritical}}, roleFailing, "lag critical"},
		{"a half-open breaker degrades its service", feed.Service{Service: statusfeed.Service{Instances: running, Breakers: halfOpen}, Command: &feed.Consumer{Paused: true}}, roleDegraded, "carrier half-open"},
		{"a paused command consumer degrades its service", feed.Service{Service: statusfeed.Service{Instances: running}, Command: &feed.Consumer{Paused: true, Level: feed.LevelWarn}}, roleDegraded, "paused"},
		{"lag over warn degrades a service", feed.Service{Service: statusfeed.Service{Instances: running}, Command: &feed.Consumer{Level: feed.LevelWarn}}, roleDegraded, "lagging"},
		{"a saturated pool degrades its service", feed.Service{Service: statusfeed.Service{Instances: running, Pool: contract.PoolStatus{Capacity: 4, Busy: 4}}}, roleDegraded, "saturated"},
		{"an injected fault degrades its service", feed.Service{Service: statusfeed.Service{Instances: running, Faults: []contract.Fault{{Kind: contract.FaultLatency}}}}, roleDegraded, "fault injected"},
		{"a service with nothing wrong is healthy", feed.Service{Service: statusfeed.Service{Instances: running, Pool: contract.PoolStatus{Capacity: 4, Busy: 3}}}, roleHealthy, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, word := health(&tt.svc)
			if r != tt.role || word != tt.word {
				t.Errorf("health = %v %q, want %v %q", r, word, tt.role, tt.word)
			}
		})
	}
}

// The same judgement of a state, whichever screen shows it.
func TestStatesMapToRoles(t *testing.T) {
	tests := []struct {
		name      string
		got, want role
	}{
		{"a critical consumer fails even when paused", consumerRole(&feed.Consumer{Level: feed.LevelCritical, Paused: true}), roleFailing},
		{"a paused consumer under its thresholds is degraded", consumerRole(&feed.Consumer{Level: feed.LevelOK, Paused: true}), roleDegraded},
		{"an idle consumer is muted", consumerRole(&feed.Consumer{Level: feed.LevelOK}), roleMuted},
		{"a consumer at work is plain", consumerRole(&feed.Consumer{Level: feed.LevelOK, DeliveredRate: 3}), roleNone},
		{"an open breaker fails", breakerRole(contract.BreakerOpen), roleFailing},
		{"a half-open breaker is degraded", breakerRole(contract.BreakerHalfOpen), roleDegraded},
		{"a closed breaker is healthy", breakerRole(contract.BreakerClosed), roleHealthy},
		{"critical lag fails", levelRole(feed.LevelCritical), roleFailing},
		{"lag over warn is degraded", levelRole(feed.LevelWarn), roleDegraded},
		{"lag under warn is plain", levelRole(feed.LevelOK), roleNone},
		{"a message given up on fails", advisoryRole("max_deliver"), roleFailing},
		{"a nak is degraded", advisoryRole("nak"), roleDegraded},
		{"an advisory about nothing going wrong is plain", advisoryRole("consumer_created"), roleNone},
		{"an error log line fails", logLevelRole(feed.LogError), roleFailing},
		{"a warning log line is degraded", logLevelRole(feed.LogWarn), roleDegraded},
		{"a debug log line is muted", logLevelRole(feed.LogDebug), roleMuted},
		{"a completed saga is healthy", sagaRole(contract.SagaCompleted), roleHealthy},
		{"a compensating saga is degraded", sagaRole(contract.SagaCompensating), roleDegraded},
		{"a parked saga fails", sagaRole(contract.SagaCompensationFailed), roleFailing},
		{"a step not reached yet is muted", stepRole(""), roleMuted},
		{"an undone step is degraded", stepRole(contract.StepCompensated), roleDegraded},
		{"a step whose compensation failed fails", stepRole(contract.StepFailed), roleFailing},
		{"a running scenario step is the thing to look at", first(runStepRoles(stepRunning)), roleAccent},
		{"a scenario step to come is muted", first(runStepRoles(stepPending)), roleMuted},
		{"a failed scenario step's sentence fails", second(runStepRoles(stepFailed)), roleFailing},
		{"a passed scenario step's sentence is plain", second(runStepRoles(stepPassed)), roleNone},
		{"a saturated pool is degraded", poolRole(contract.PoolStatus{Capacity: 2, Busy: 2}), roleDegraded},
		{"a pool without capacity is plain", poolRole(contract.PoolStatus{}), roleNone},
		{"a zero count is muted", nonZero(0, roleFailing), roleMuted},
		{"a count above zero keeps its role", nonZero(1, roleFailing), roleFailing},
		{"a zero rate is muted", zeroMuted(0, roleDegraded), roleMuted},
		{"a zero trend value is plain", nonZeroF(0, roleDegraded), roleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// first and second pick one of runStepRoles' two roles, so each can be a
// case of its own.
func first(mark, _ role) role  { return mark }
func second(_, text role) role { return text }
