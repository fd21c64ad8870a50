package tui

import (
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// The dashboard's judgements: which role each state of the system is
// shown in. They live together, outside any screen, so a state looks the
// same on every screen that shows it (an open breaker fails on the
// Overview and on the Scenarios screen alike) and so a new state is given
// its role in one place. Styles then decides how a role looks.

// health judges a service: the role to colour it by and a word for it.
// The worst thing about a service wins.
func health(svc *feed.Service) (role, string) {
	if !svc.Reporting() {
		return roleMuted, "not reporting"
	}
	for _, in := range svc.Instances {
		if in.State == contract.StateCrashed {
			return roleFailing, "crashed"
		}
	}
	for _, b := range svc.Breakers {
		if b.State == contract.BreakerOpen {
			return roleFailing, b.Name + " open"
		}
	}
	if c := svc.Command; c != nil && c.Level == feed.LevelCritical {
		return roleFailing, "lag critical"
	}
	for _, b := range svc.Breakers {
		if b.State == contract.BreakerHalfOpen {
			return roleDegraded, b.Name + " half-open"
		}
	}
	switch {
	case svc.Command != nil && svc.Command.Paused:
		return roleDegraded, "paused"
	case svc.Command != nil && svc.Command.Level == feed.LevelWarn:
		return roleDegraded, "lagging"
	case saturated(svc.Pool):
		return roleDegraded, "saturated"
	case len(svc.Faults) > 0:
		return roleDegraded, "fault injected"
	}
	return roleHealthy, "ok"
}

// saturated reports whether every worker of a pool is busy: new work
// queues.
func saturated(p contract.PoolStatus) bool { return p.Capacity > 0 && p.Busy >= p.Capacity }

// poolRole colours a pool's busy/capacity: degraded once it is saturated.
func poolRole(p contract.PoolStatus) role {
	if saturated(p) {
		return roleDegraded
	}
	return roleNone
}

// levelRole colours a consumer's lag level; under warn it is plain.
func levelRole(l feed.Level) role { return levelRoles[l] }

var levelRoles = map[feed.Level]role{
	feed.LevelCritical: roleFailing,
	feed.LevelWarn:     roleDegraded,
}

// consumerRole colours a consumer's row: by its lag level, else degraded
// while paused, else muted while idle (nothing pending, nothing flowing).
func consumerRole(x *feed.Consumer) role {
	switch r := levelRole(x.Level); {
	case r != roleNone:
		return r
	case x.Paused:
		return roleDegraded
	case x.Pending == 0 && x.AckPending == 0 && x.DeliveredRate == 0:
		return roleMuted
	}
	return roleNone
}

// breakerRole colours a breaker state.
func breakerRole(s contract.BreakerState) role {
	switch s {
	case contract.BreakerOpen:
		return roleFailing
	case contract.BreakerHalfOpen:
		return roleDegraded
	}
	return roleHealthy
}

// serverHealth judges a server: offline fails; the meta leader says so.
func serverHealth(x *feed.Server) (role, string) {
	switch {
	case x.Offline:
		return roleFailing, "OFFLINE"
	case x.MetaLeader:
		return roleHealthy, "online ★ meta leader"
	}
	return roleHealthy, "online"
}

// replicaHealth judges one copy of a stream: a stream without a leader
// fails, as does an offline replica; one behind its leader is degraded.
func replicaHealth(st *feed.Stream, leader bool, r feed.Replica) (role, string) {
	switch {
	case leader && (st.Unavailable || r.Name == ""):
		return roleFailing, "NO LEADER"
	case leader:
		return roleHealthy, "leading"
	case r.Offline:
		return roleFailing, "OFFLINE"
	case !r.Current:
		return roleDegraded, "catching up"
	}
	return roleHealthy, "current"
}

// advisoryRole colours an advisory by what it says about delivery; one
// about nothing going wrong is plain.
func advisoryRole(kind string) role { return advisoryRoles[kind] }

var advisoryRoles = map[string]role{
	"max_deliver":          roleFailing,
	"terminated":           roleFailing,
	"stream_quorum_lost":   roleFailing,
	"consumer_quorum_lost": roleFailing,
	"server_out_of_space":  roleFailing,
	"nak":                  roleDegraded,
	"consumer_pause":       roleDegraded,
	"api_limit_reached":    roleDegraded,
	feed.KindLeaderChanged: roleDegraded,
}

// logLevelRole colours a log line by its level; info is plain.
func logLevelRole(level string) role { return logLevelRoles[level] }

var logLevelRoles = map[string]role{
	feed.LogError: roleFailing,
	feed.LogWarn:  roleDegraded,
	feed.LogDebug: roleMuted,
}

// sagaRole colours a saga's outcome; a saga still running is plain.
func sagaRole(st contract.SagaStatus) role { return sagaRoles[st] }

var sagaRoles = map[contract.SagaStatus]role{
	contract.SagaCompleted:          roleHealthy,
	contract.SagaCancelled:          roleDegraded,
	contract.SagaCompensating:       roleDegraded,
	contract.SagaCompensationFailed: roleFailing,
}

// stepRole colours one step of a saga; a step not reached yet ("") is
// muted, one sent and not answered yet plain.
func stepRole(s contract.StepState) role { return stepRoles[s] }

var stepRoles = map[contract.StepState]role{
	"":                        roleMuted,
	contract.StepDone:         roleHealthy,
	contract.StepRejected:     roleDegraded,
	contract.StepCompensating: roleDegraded,
	contract.StepCompensated:  roleDegraded,
	contract.StepFailed:       roleFailing,
}

// runStepRoles colour a scenario's step: its mark, where the running step
// is the thing to look at, and its sentence, dim until it runs.
func runStepRoles(s stepState) (mark, text role) {
	r := runStepLooks[s]
	return r.mark, r.text
}

var runStepLooks = [...]struct{ mark, text role }{
	stepPending: {roleMuted, roleMuted},
	stepRunning: {roleAccent, roleNone},
	stepPassed:  {roleHealthy, roleNone},
	stepFailed:  {roleFailing, roleFailing},
}

// nonZero mutes a count that is zero: "0 parked" is no news.
func nonZero(n uint64, r role) role {
	if n == 0 {
		return roleMuted
	}
	return r
}

// nonZeroF is nonZero for a rate whose zero stays plain, as a trend's
// value beside its sparkline.
func nonZeroF(v float64, r role) role {
	if v <= 0 {
		return roleNone
	}
	return r
}

// zeroMuted is nonZero for a rate.
func zeroMuted(v float64, r role) role {
	if v <= 0 {
		return roleMuted
	}
	return r
}
