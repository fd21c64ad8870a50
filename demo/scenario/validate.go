package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// Limits on what a scenario may ask for, so a typo cannot make a run last
// a day or start a hundred servers.
const (
	MaxWait    = time.Hour
	MaxWorkers = 1024
)

var namePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func (sc *Scenario) validate() error {
	switch {
	case !namePattern.MatchString(sc.Name) || len(sc.Name) > 64:
		return at([]any{"name"}, "name %q: want lower-case words joined by dashes, at most 64 characters", sc.Name)
	case strings.TrimSpace(sc.Title) == "":
		return at([]any{"title"}, "a scenario needs a title")
	case strings.TrimSpace(sc.Teaches) == "":
		return at([]any{"teaches"}, "a scenario needs teaches: the one idea it shows")
	case len(sc.Phases) == 0:
		return at([]any{"phases"}, "a scenario needs phases")
	}
	if err := sc.System.validate(); err != nil {
		return err
	}
	for i, p := range sc.Panels {
		if err := p.validate([]any{"panels", i}); err != nil {
			return err
		}
	}
	last := -1
	for i, p := range sc.Phases {
		path := []any{"phases", i}
		idx := slices.Index(PhaseNames, p.Name)
		switch {
		case idx < 0:
			return at(append(path, "name"), "phase %q: want one of %s", p.Name, strings.Join(PhaseNames, ", "))
		case idx <= last:
			return at(append(path, "name"), "phase %s comes after %s: phases go %s, each once", p.Name, PhaseNames[last], strings.Join(PhaseNames, ", "))
		case strings.TrimSpace(p.Narrative) == "":
			return at(path, "phase %s needs a narrative", p.Name)
		}
		last = idx
		if p.Question != nil {
			if err := p.Question.validate(append(path, "question")); err != nil {
				return err
			}
		}
		for j, s := range p.Steps {
			if err := s.validate(sc.System, append(path, "steps", j)); err != nil {
				return err
			}
		}
	}
	if sc.Final.SettleWithin < 0 || sc.Final.SettleWithin > MaxWait {
		return at([]any{"final", "settle_within"}, "settle_within %v is not in 0..%v", sc.Final.SettleWithin, MaxWait)
	}
	for i, e := range sc.Final.Expect {
		path := []any{"final", "expect", i}
		if err := e.validate(path); err != nil {
			return err
		}
		if e.Within > 0 || e.During > 0 {
			return at(path, "a final expectation is checked once the system settled: give it no within or during")
		}
	}
	return nil
}

func (s System) validate() error {
	switch {
	case s.Nodes != 0 && s.Nodes != 1 && s.Nodes != 3:
		return at([]any{"system", "nodes"}, "nodes %d: want 1 or 3", s.Nodes)
	case s.Workers < 0 || s.Workers > MaxWorkers:
		return at([]any{"system", "workers"}, "workers %d is not in 1..%d", s.Workers, MaxWorkers)
	case s.MaxAckPending < 0 || s.MaxAckPending > 100_000:
		return at([]any{"system", "max_ack_pending"}, "max_ack_pending %d is not in 1..100000", s.MaxAckPending)
	case s.BreakerDelay < 0 || s.BreakerDelay > time.Minute:
		return at([]any{"system", "breaker_delay"}, "breaker_delay %v is not in 0..1m", s.BreakerDelay)
	}
	return nil
}

// validate checks exactly one field is set and its value makes sense.
func (s Step) validate(sys System, path []any) error {
	var set []string
	mark := func(cond bool, name string) {
		if cond {
			set = append(set, name)
		}
	}
	mark(s.Load != nil, "load")
	mark(s.Burst != 0, "burst")
	mark(s.Fault != nil, "fault")
	mark(s.Clear != nil, "clear")
	mark(s.StopService != "", "stop_service")
	mark(s.StartService != "", "start_service")
	mark(s.RestartServer, "restart_server")
	mark(s.StopNode != nil, "stop_node")
	mark(s.StartNode != nil, "start_node")
	mark(s.Wait != 0, "wait")
	mark(s.Note != "", "note")
	mark(s.Expect != nil, "expect")
	switch len(set) {
	case 0:
		return at(path, "an empty step: give one of load, burst, fault, clear, stop_service, start_service, restart_server, stop_node, start_node, wait, note, expect")
	case 1:
	default:
		return at(path, "a step does one thing, this one has %s", strings.Join(set, " and "))
	}
	switch {
	case s.Load != nil:
		if *s.Load < 0 || *s.Load > contract.MaxRate {
			return at(append(path, "load"), "load %v is not in 0..%d orders/s", *s.Load, contract.MaxRate)
		}
	case s.Burst != 0:
		if s.Burst < 0 || s.Burst > contract.MaxBurst {
			return at(append(path, "burst"), "burst %d is not in 1..%d orders", s.Burst, contract.MaxBurst)
		}
	case s.Fault != nil:
		f := s.Fault.Contract()
		if err := f.Validate(); err != nil {
			return at(append(path, "fault"), "fault: %v", err)
		}
	case s.Clear != nil:
		if !s.Clear.Service.Valid() {
			return at(append(path, "clear"), "clear: %v", &contract.UnknownServiceError{Name: string(s.Clear.Service)})
		}
		if _, ok := contract.KindInfo(s.Clear.Kind); !ok {
			return at(append(path, "clear"), "clear: unknown fault kind %q", s.Clear.Kind)
		}
	case s.StopService != "" || s.StartService != "":
		svc := s.StopService + s.StartService
		if !svc.Valid() {
			return at(path, "%v", &contract.UnknownServiceError{Name: string(svc)})
		}
	case s.RestartServer:
		if sys.Nodes == 3 {
			return at(path, "restart_server restarts a single server; on a cluster use stop_node and start_node")
		}
	case s.StopNode != nil || s.StartNode != nil:
		if sys.Nodes != 3 {
			return at(path, "stop_node and start_node need a cluster: set system.nodes to 3")
		}
		if n := s.StopNode; n != nil && (n.Name == "") == (n.LeaderOf == "") {
			return at(append(path, "stop_node"), "stop_node needs a name or leader_of, not both")
		}
		if s.StartNode != nil && s.StartNode.LeaderOf != "" {
			return at(append(path, "start_node"), "start_node takes a name, or nothing for the node stop_node stopped")
		}
	case s.Wait != 0:
		if s.Wait < 0 || s.Wait > MaxWait {
			return at(append(path, "wait"), "wait %v is not in 0..%v", s.Wait, MaxWait)
		}
	case s.Expect != nil:
		if s.Expect.Within > MaxWait || s.Expect.During > MaxWait {
			return at(append(path, "expect"), "within and during are at most %v", MaxWait)
		}
		return s.Expect.validate(append(path, "expect"))
	}
	return nil
}

// String says what the step does, for a person.
func (s Step) String() string {
	switch {
	case s.Load != nil:
		return fmt.Sprintf("set the load to %s orders/s", formatNumber(*s.Load))
	case s.Burst != 0:
		return fmt.Sprintf("place %d orders at once", s.Burst)
	case s.Fault != nil:
		return "inject " + describeFault(*s.Fault)
	case s.Clear != nil:
		return fmt.Sprintf("clear fault %s on %s", s.Clear.Kind, s.Clear.Service)
	case s.StopService != "":
		return "stop every " + string(s.StopService) + " instance"
	case s.StartService != "":
		return "start " + string(s.StartService) + " again"
	case s.RestartServer:
		return "restart the NATS server"
	case s.StopNode != nil && s.StopNode.LeaderOf != "":
		return "stop the NATS node leading " + s.StopNode.LeaderOf
	case s.StopNode != nil:
		return "stop NATS node " + s.StopNode.Name
	case s.StartNode != nil && s.StartNode.Name != "":
		return "start NATS node " + s.StartNode.Name + " again"
	case s.StartNode != nil:
		return "start the stopped NATS node again"
	case s.Wait != 0:
		return "let it run for " + s.Wait.String()
	case s.Note != "":
		return s.Note
	case s.Expect != nil:
		return "expect " + s.Expect.String()
	}
	return "nothing"
}

func describeFault(f Fault) string {
	var params []string
	if f.Probability > 0 {
		params = append(params, fmt.Sprintf("%.0f%%", f.Probability*100))
	}
	if f.Latency > 0 {
		params = append(params, "+"+f.Latency.String())
	}
	if f.Multiplier > 0 {
		params = append(params, "x"+formatNumber(f.Multiplier))
	}
	if f.RestartAfter > 0 {
		params = append(params, "back after "+f.RestartAfter.String())
	}
	s := fmt.Sprintf("fault %s on %s", f.Kind, f.Service)
	if len(params) > 0 {
		s += " (" + strings.Join(params, ", ") + ")"
	}
	return s
}
