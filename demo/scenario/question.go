package scenario

import (
	"strings"

	"github.com/sagascope/sagascope/demo/contract"
)

// MaxChoices bounds a question's choices: attendees answer with the keys
// a to d.
const MaxChoices = 4

// Question asks the room to predict, before a phase runs, what it will
// show: attendees answer from their dashboards, the instructor sees the
// tally, and the reveal puts the right answer beside what the system did
// (the observed values of the expectations checked since).
type Question struct {
	// Ask is the question, e.g. "What happens to payment's lag when the
	// gateway goes down?".
	Ask string `yaml:"ask"`
	// Choices are the answers to pick from, 2 to MaxChoices.
	Choices []string `yaml:"choices"`
	// Answer is the right choice, counted from 1.
	Answer int `yaml:"answer"`
	// Explain says why, shown on the reveal.
	Explain string `yaml:"explain,omitempty"`
}

// Letter is the key that picks choice i (from 0): a, b, c, d.
func Letter(i int) string { return string(rune('a' + i)) }

func (q Question) validate(path []any) error {
	switch {
	case strings.TrimSpace(q.Ask) == "":
		return at(append(path, "ask"), "a question needs ask: what the room predicts")
	case len(q.Choices) < 2 || len(q.Choices) > MaxChoices:
		return at(append(path, "choices"), "a question needs 2 to %d choices, not %d", MaxChoices, len(q.Choices))
	case q.Answer < 1 || q.Answer > len(q.Choices):
		return at(append(path, "answer"), "answer %d: want the right choice's number, 1 to %d", q.Answer, len(q.Choices))
	}
	for i, c := range q.Choices {
		if strings.TrimSpace(c) == "" {
			return at(append(path, "choices", i), "choice %d is empty", i+1)
		}
	}
	return nil
}

// Panel kinds: the parts of the system a presenter shows beside a
// scenario's narrative.
const (
	// PanelBreaker is a service's breaker, with the countdown to its
	// half-open probe.
	PanelBreaker = "breaker"
	// PanelPool is a service's worker pool and its consumer's lag trend.
	PanelPool = "pool"
	// PanelAckPending is a service's command consumer's ack pending
	// against its max.
	PanelAckPending = "ack_pending"
	// PanelDeadLetters is the dead letters and their reasons.
	PanelDeadLetters = "dead_letters"
	// PanelSagas is the saga outcomes and their trend.
	PanelSagas = "sagas"
	// PanelServers is the server the dashboard is connected to, its
	// reconnects, and on a cluster each server: offline, leading the
	// stream the scenario's steps name, or its copy behind. What a server
	// restart or a node's death changes.
	PanelServers = "servers"
)

// Panel names one presenter panel.
type Panel struct {
	Kind    string           `yaml:"kind"`
	Service contract.Service `yaml:"service,omitempty"`
	// Breaker names the breaker of a breaker panel (gateway, carrier).
	Breaker string `yaml:"breaker,omitempty"`
}

func (p Panel) validate(path []any) error {
	switch p.Kind {
	case PanelBreaker, PanelPool, PanelAckPending:
		if !p.Service.Valid() {
			return at(append(path, "service"), "a %s panel needs a service: %v", p.Kind, &contract.UnknownServiceError{Name: string(p.Service)})
		}
		if p.Kind == PanelBreaker && p.Breaker == "" {
			return at(path, "a breaker panel needs a breaker (gateway, carrier)")
		}
	case PanelDeadLetters, PanelSagas, PanelServers:
		if p.Service != "" {
			return at(append(path, "service"), "a %s panel takes no service", p.Kind)
		}
	default:
		return at(append(path, "kind"), "panel kind %q: want breaker, pool, ack_pending, dead_letters, sagas or servers", p.Kind)
	}
	if p.Kind != PanelBreaker && p.Breaker != "" {
		return at(append(path, "breaker"), "a %s panel takes no breaker", p.Kind)
	}
	return nil
}
