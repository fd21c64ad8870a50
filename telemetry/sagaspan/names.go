package sagaspan

import "github.com/sagascope/sagascope/demo/contract"

// Span names are "<operation> <subject>", as the messaging conventions ask.
// The demo's subjects are few and fixed, so the names are built once
// instead of on every message.
var (
	processNames = namesFor("process")
	publishNames = namesFor("publish")
)

func namesFor(op string) map[string]string {
	m := map[string]string{}
	for t := range contract.Commands {
		m[contract.Subject(t)] = op + " " + contract.Subject(t)
	}
	for _, t := range contract.Events {
		m[contract.Subject(t)] = op + " " + contract.Subject(t)
	}
	for _, svc := range contract.Services {
		m[contract.DeadLetterSubject(svc)] = op + " " + contract.DeadLetterSubject(svc)
	}
	return m
}

// spanName returns op+" "+subject from names, building it only for
// subjects outside the contract.
func spanName(names map[string]string, op, subject string) string {
	if n, ok := names[subject]; ok {
		return n
	}
	return op + " " + subject
}
