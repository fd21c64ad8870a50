package tui

import (
	"context"
	"fmt"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/demo/contract"
)

// controller is the control API the dashboard drives; *control.Client
// implements it.
type controller interface {
	SetFault(ctx context.Context, f contract.Fault) ([]contract.Fault, error)
	ClearFault(ctx context.Context, svc contract.Service, kind contract.FaultKind) ([]contract.Fault, error)
	Faults(ctx context.Context) ([]contract.Fault, error)
	Reset(ctx context.Context) error
	SetLoad(ctx context.Context, req contract.LoadRequest) (contract.LoadSetting, error)
	Load(ctx context.Context) (contract.LoadSetting, error)
}

// serialized sends one control request at a time. control.Client tells a
// refused request by the connection's last error, which the next refusal
// overwrites: with two requests in flight (the Faults screen's list as it
// opens, and the fault the user injects), the list's refusal could hide the
// injection's, and the user would read "no answer" instead of "not
// permitted".
type serialized struct {
	mu sync.Mutex
	c  controller
}

func (s *serialized) SetFault(ctx context.Context, f contract.Fault) ([]contract.Fault, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.SetFault(ctx, f)
}

func (s *serialized) ClearFault(ctx context.Context, svc contract.Service, kind contract.FaultKind) ([]contract.Fault, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.ClearFault(ctx, svc, kind)
}

func (s *serialized) Faults(ctx context.Context) ([]contract.Fault, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Faults(ctx)
}

func (s *serialized) Reset(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Reset(ctx)
}

func (s *serialized) SetLoad(ctx context.Context, req contract.LoadRequest) (contract.LoadSetting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.SetLoad(ctx, req)
}

func (s *serialized) Load(ctx context.Context) (contract.LoadSetting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Load(ctx)
}

// controlTimeout bounds one control request, so a dashboard on a read-only
// or sagascope-less connection answers within seconds.
const controlTimeout = 5 * time.Second

// faultsMsg is the answer to a fault request: the faults in force after it.
type faultsMsg struct {
	op     string // what was asked, for the flash line: "set payment error"
	quiet  bool   // a periodic refresh: say nothing when it works
	faults []contract.Fault
	err    error
	at     time.Time
}

// loadMsg is the answer to a load request.
type loadMsg struct {
	op   string
	load contract.LoadSetting
	err  error
}

func setFaultCmd(ctx context.Context, c controller, f contract.Fault) tea.Cmd {
	op := fmt.Sprintf("set %s %s", f.Service, f.Kind)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		faults, err := c.SetFault(ctx, f)
		return faultsMsg{op: op, faults: faults, err: err, at: time.Now()}
	}
}

func clearFaultCmd(ctx context.Context, c controller, svc contract.Service, kind contract.FaultKind) tea.Cmd {
	op := fmt.Sprintf("clear %s %s", svc, kind)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		faults, err := c.ClearFault(ctx, svc, kind)
		return faultsMsg{op: op, faults: faults, err: err, at: time.Now()}
	}
}

func resetFaultsCmd(ctx context.Context, c controller) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		err := c.Reset(ctx)
		return faultsMsg{op: "clear every fault", err: err, at: time.Now()}
	}
}

func listFaultsCmd(ctx context.Context, c controller) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		faults, err := c.Faults(ctx)
		return faultsMsg{op: "list faults", quiet: true, faults: faults, err: err, at: time.Now()}
	}
}

// loadSteps are the rates the load keys step through.
var loadSteps = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, contract.MaxRate}

// nextRate is the step above (up) or below the current rate.
func nextRate(cur float64, up bool) float64 {
	if up {
		for _, s := range loadSteps {
			if s > cur {
				return s
			}
		}
		return loadSteps[len(loadSteps)-1]
	}
	for i := len(loadSteps) - 1; i >= 0; i-- {
		if loadSteps[i] < cur {
			return loadSteps[i]
		}
	}
	return 0
}

// stepLoadCmd reads the shared load setting and moves it one step, so two
// dashboards pressing + at once both see the rate they made.
func stepLoadCmd(ctx context.Context, c controller, up bool) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		cur, err := c.Load(ctx)
		if err != nil {
			return loadMsg{op: "change the load", err: err}
		}
		next := nextRate(cur.Rate, up)
		l, err := c.SetLoad(ctx, contract.LoadRequest{Rate: &next})
		return loadMsg{op: fmt.Sprintf("load %s/s", rate(next)), load: l, err: err}
	}
}

func burstCmd(ctx context.Context, c controller, n int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		l, err := c.SetLoad(ctx, contract.LoadRequest{Burst: n})
		return loadMsg{op: fmt.Sprintf("burst of %d orders", n), load: l, err: err}
	}
}
