// Package scenario runs small declarative stories against the demo system:
// each one sets a load, injects a fault (or kills a service or a NATS
// server), says what a person should watch for, checks it while it runs,
// and proves at the end that nothing was lost or applied twice.
//
// A scenario is a YAML file (see Parse); the ones sagascope ships are
// embedded (Builtin), and users load their own. Run executes one against a
// Target: a system this process owns (Local), which can stop services and
// servers, or one it is attached to (Attached), which can only be driven
// through the control API, as a user would.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sagascope/sagascope/demo/contract"
)

// MaxFileSize bounds a scenario file: a story with a few dozen steps is a
// few kilobytes, and Parse must not be made to chew on a huge document.
const MaxFileSize = 256 << 10

// Scenario is one story. Its zero value is not valid; Parse returns valid
// ones.
type Scenario struct {
	// Name is how `sagascope scenario run NAME` finds it: lower case words
	// joined by dashes.
	Name string `yaml:"name"`
	// Title is one line saying what happens.
	Title string `yaml:"title"`
	// Teaches names the one idea the scenario shows, e.g. "backpressure".
	Teaches string `yaml:"teaches"`
	// System tunes the system when the runner starts its own; an attached
	// system runs as it was started.
	System System `yaml:"system,omitempty"`
	// Panels are what a presenter shows beside the narrative: the parts
	// of the system that tell this story (see Panel).
	Panels []Panel `yaml:"panels,omitempty"`
	// Phases run in order.
	Phases []Phase `yaml:"phases"`
	// Final runs after the last phase: the load stops, the system settles,
	// and the final expectations are checked.
	Final Final `yaml:"final"`
}

// System tunes a system the runner starts itself (see Local).
type System struct {
	// Nodes is 1 for one NATS server, 3 for a three-node cluster with every
	// stream replicated three times. Default 1.
	Nodes int `yaml:"nodes,omitempty"`
	// Workers per consumer in each instance. Default 16.
	Workers int `yaml:"workers,omitempty"`
	// MaxAckPending per consumer. Default topology.DefaultMaxAckPending.
	MaxAckPending int `yaml:"max_ack_pending,omitempty"`
	// BreakerDelay is how long an open breaker waits before a probe.
	// Default the breaker's own (5s).
	BreakerDelay time.Duration `yaml:"breaker_delay,omitempty"`
}

// DefaultWorkers is the workers a consumer a scenario's loads are written
// for when its System does not say; the lab runs that many.
const DefaultWorkers = 16

// workers is the workers a consumer s asks for.
func (s System) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return DefaultWorkers
}

// Phase names, in the order a scenario tells its story.
const (
	PhaseIntroduce = "introduce"
	PhaseObserve   = "observe"
	PhaseExplain   = "explain"
	PhaseResolve   = "resolve"
)

// PhaseNames lists the phase names in order.
var PhaseNames = []string{PhaseIntroduce, PhaseObserve, PhaseExplain, PhaseResolve}

// Phase is one part of the story: a short narrative and what happens.
type Phase struct {
	// Name is one of PhaseNames; phases appear in that order, each at most
	// once.
	Name      string `yaml:"name"`
	Narrative string `yaml:"narrative"`
	// Question, when set, asks the room to predict what this phase will
	// show before it runs (see Question).
	Question *Question `yaml:"question,omitempty"`
	Steps    []Step    `yaml:"steps,omitempty"`
}

// Step is one action or one expectation: exactly one field is set.
type Step struct {
	// Load sets the load generator's rate, orders per second.
	Load *float64 `yaml:"load,omitempty"`
	// Burst places this many orders at once, on top of the rate.
	Burst int `yaml:"burst,omitempty"`
	// Fault injects a fault through the control API.
	Fault *Fault `yaml:"fault,omitempty"`
	// Clear clears one fault through the control API.
	Clear *Clear `yaml:"clear,omitempty"`
	// StopService stops every instance of a service gracefully (needs a
	// harness).
	StopService contract.Service `yaml:"stop_service,omitempty"`
	// StartService starts a stopped service again (needs a harness).
	StartService contract.Service `yaml:"start_service,omitempty"`
	// RestartServer shuts the NATS server down and starts it again on its
	// store (needs a harness and a single server).
	RestartServer bool `yaml:"restart_server,omitempty"`
	// StopNode stops one node of the cluster (needs a harness and a
	// cluster).
	StopNode *Node `yaml:"stop_node,omitempty"`
	// StartNode starts a stopped node again; an empty name starts the one
	// the last stop_node stopped.
	StartNode *Node `yaml:"start_node,omitempty"`
	// Wait lets the system run; it is scaled by Options.Scale.
	Wait time.Duration `yaml:"wait,omitempty"`
	// Note is a line of narrative shown when the step is reached.
	Note string `yaml:"note,omitempty"`
	// Expect checks something about the running system.
	Expect *Expectation `yaml:"expect,omitempty"`
}

// Fault is a fault to inject: contract.Fault's settable fields, named as
// `sagascope fault set` names them. Unset parameters take the control
// API's defaults.
type Fault struct {
	Service      contract.Service   `yaml:"service"`
	Kind         contract.FaultKind `yaml:"kind"`
	Probability  float64            `yaml:"probability,omitempty"`
	Latency      time.Duration      `yaml:"latency,omitempty"`
	Jitter       time.Duration      `yaml:"jitter,omitempty"`
	Multiplier   float64            `yaml:"multiplier,omitempty"`
	RestartAfter time.Duration      `yaml:"restart_after,omitempty"`
	Duration     time.Duration      `yaml:"duration,omitempty"`
}

// Contract is f as the control API takes it.
func (f Fault) Contract() contract.Fault {
	return contract.Fault{
		Service: f.Service, Kind: f.Kind, Probability: f.Probability, Latency: f.Latency, Jitter: f.Jitter,
		Multiplier: f.Multiplier, RestartAfter: f.RestartAfter, Duration: f.Duration,
	}
}

// Clear names a fault to clear.
type Clear struct {
	Service contract.Service   `yaml:"service"`
	Kind    contract.FaultKind `yaml:"kind"`
}

// Node picks a cluster node: by name (s1, s2, s3), or the current leader
// of a stream.
type Node struct {
	Name     string `yaml:"name,omitempty"`
	LeaderOf string `yaml:"leader_of,omitempty"`
}

// Final is what happens after the last phase.
type Final struct {
	// SettleWithin bounds how long the system may take, once the load
	// stops, until every consumer is drained and every saga is final.
	// Default 60s.
	SettleWithin time.Duration `yaml:"settle_within,omitempty"`
	// Expect are checked once the system settled; a metric "check" runs
	// `sagascope check`.
	Expect []Expectation `yaml:"expect"`
}

// DefaultSettleWithin is Final.SettleWithin's default.
const DefaultSettleWithin = 60 * time.Second

// Parse reads a scenario file strictly: an unknown field, a field of the
// wrong type, a second document or an invalid value is an error naming its
// line. name is what errors call the file.
func Parse(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("scenario %s: %d bytes, more than the %d a scenario may have", name, len(data), MaxFileSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, cleanYAMLError(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("scenario %s: line %d: a second document; a file holds one scenario", name, extra.Line)
	}
	if err := sc.validate(); err != nil {
		var pe *pathError
		if errors.As(err, &pe) {
			if line := lineOf(&root, pe.path); line > 0 {
				return nil, fmt.Errorf("scenario %s: line %d: %s", name, line, pe.msg)
			}
			return nil, fmt.Errorf("scenario %s: %s", name, pe.msg)
		}
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return &sc, nil
}

// cleanYAMLError turns the library's "yaml: unmarshal errors:\n  line 3:
// ..." into one line per problem, without the Go type names a scenario
// author does not know.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		m = strings.Replace(m, " in type scenario.", " in ", 1)
		m = strings.Replace(m, " in type contract.", " in ", 1)
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

// pathError is a validation error at a path of keys and indexes in the
// document, so Parse can name its line.
type pathError struct {
	path []any // string keys and int indexes
	msg  string
}

func (e *pathError) Error() string { return e.msg }

func at(path []any, format string, args ...any) error {
	return &pathError{path: path, msg: fmt.Sprintf(format, args...)}
}

// lineOf finds the line of the node at path, or of the deepest node of the
// path that exists; 0 if none does.
func lineOf(n *yaml.Node, path []any) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch key := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && key < len(n.Content) {
				next = n.Content[key]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
