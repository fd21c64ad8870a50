// Package probes answers a process's health probes: /livez (the process
// is up and serving) and /readyz (every service instance is connected to
// NATS and consuming, nothing the process waits for before its instances
// run, such as JetStream, is missing, and the process is not shutting
// down).
package probes

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Paths of the probes.
const (
	LivePath  = "/livez"
	ReadyPath = "/readyz"
)

// Probes holds the readiness checks of a process. It is safe for
// concurrent use.
type Probes struct {
	draining atomic.Bool
	mu       sync.Mutex
	next     int
	checks   map[int]check
}

type check struct {
	name string
	// why is "" when the check passes, and otherwise what Ready reports.
	why func() string
}

// New returns Probes with no checks; a process with none is not ready.
func New() *Probes { return &Probes{checks: map[int]check{}} }

// Add adds a readiness check named name (e.g. "payment/1a2b3c4d"); ready
// must be cheap and safe for concurrent use. The returned function
// removes it.
func (p *Probes) Add(name string, ready func() bool) (remove func()) {
	return p.add(check{name, func() string {
		if ready() {
			return ""
		}
		return name
	}})
}

// AddReason adds a readiness check named name (e.g. "prepare") that says
// why it fails: notReady returns "" when ready, and otherwise the reason,
// which Ready reports as "name: reason". notReady must be cheap and safe for
// concurrent use. The returned function removes it.
func (p *Probes) AddReason(name string, notReady func() string) (remove func()) {
	return p.add(check{name, func() string {
		if why := notReady(); why != "" {
			return name + ": " + why
		}
		return ""
	}})
}

func (p *Probes) add(c check) (remove func()) {
	p.mu.Lock()
	id := p.next
	p.next++
	p.checks[id] = c
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.checks, id)
		p.mu.Unlock()
	}
}

// Drain marks the process as shutting down: not ready from now on, whatever
// the checks say, so load balancers stop sending before work stops.
func (p *Probes) Drain() { p.draining.Store(true) }

// Ready reports whether the process is ready, and why not: the names of
// the checks that fail (with the reason of one added by AddReason),
// "draining", or "no instances".
func (p *Probes) Ready() (bool, []string) {
	var why []string
	if p.draining.Load() {
		why = append(why, "draining")
	}
	p.mu.Lock()
	checks := make([]check, 0, len(p.checks))
	for _, c := range p.checks {
		checks = append(checks, c)
	}
	p.mu.Unlock()
	if len(checks) == 0 {
		why = append(why, "no instances")
	}
	for _, c := range checks {
		if w := c.why(); w != "" {
			why = append(why, w)
		}
	}
	slices.Sort(why)
	return len(why) == 0, why
}

// Names lists the checks, sorted.
func (p *Probes) Names() []string {
	p.mu.Lock()
	names := make([]string, 0, len(p.checks))
	for _, c := range p.checks {
		names = append(names, c.name)
	}
	p.mu.Unlock()
	slices.Sort(names)
	return names
}

// Register serves LivePath and ReadyPath on mux. Both answer 200 "ok"
// when healthy; /readyz answers 503 with one line per failing check
// otherwise.
func (p *Probes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, why := p.Ready()
		if ok {
			fmt.Fprintln(w, "ok")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(why, ", "))
	})
}
