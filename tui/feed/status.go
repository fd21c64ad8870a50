package feed

import (
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// followStatus starts the status feed's reader; every status it records
// marks the state changed.
func (f *Feed) followStatus() (*statusfeed.Reader, error) {
	r, err := statusfeed.Follow(f.nc, statusfeed.Options{Timeout: f.opts.StatusTimeout, Now: f.opts.Now, OnChange: f.st.markChanged})
	if err != nil {
		return nil, err
	}
	f.st.setStatus(r)
	return r, nil
}

func (s *state) markChanged() {
	s.mu.Lock()
	s.changed = true
	s.mu.Unlock()
}

func (s *state) setStatus(r *statusfeed.Reader) {
	s.mu.Lock()
	s.status = r
	s.mu.Unlock()
}

// services is the status reader's fleet, each service with its command
// consumer; called with mu held.
func (s *state) services(time.Time) (out []Service, load *contract.LoadStatus, faults []contract.Fault, reporting bool) {
	if s.status == nil {
		out = make([]Service, len(contract.Services))
		for i, name := range contract.Services {
			out[i] = Service{Service: statusfeed.Service{Name: name}}
		}
		return out, nil, nil, false
	}
	fleet := s.status.Fleet()
	out = make([]Service, len(fleet.Services))
	for i, svc := range fleet.Services {
		out[i] = Service{Service: svc}
		if c, ok := s.poll.command[svc.Name]; ok {
			out[i].Command = &s.poll.consumers[c]
		}
	}
	return out, fleet.Load, fleet.Faults, fleet.Reporting
}
