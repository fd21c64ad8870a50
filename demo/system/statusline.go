package system

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// StatusLine prints one line every period until ctx ends: sagas finished
// per outcome in that period, the load rate, busy workers, open breakers and
// active faults, from the same feeds the dashboard reads.
func StatusLine(ctx context.Context, nc *nats.Conn, w io.Writer, every time.Duration) error {
	var mu sync.Mutex
	outcomes := map[string]int{}
	subOut, err := nc.Subscribe(contract.EventSubjects(contract.Orders), func(m *nats.Msg) {
		if t, ok := contract.TypeOf(m.Subject); ok {
			mu.Lock()
			outcomes[t]++
			mu.Unlock()
		}
	})
	if err != nil {
		return fmt.Errorf("follow order outcomes: %w", err)
	}
	defer func() { _ = subOut.Unsubscribe() }()
	status, err := statusfeed.Follow(nc, statusfeed.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = status.Close() }()

	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		mu.Lock()
		line := formatLine(outcomes, status.Fleet(), every, time.Now())
		clear(outcomes)
		mu.Unlock()
		fmt.Fprintln(w, line)
	}
}

// formatLine is one status line: the outcomes counted over every, and the
// fleet as it is.
func formatLine(outcomes map[string]int, fleet statusfeed.Fleet, every time.Duration, now time.Time) string {
	perSec := func(n int) string { return fmt.Sprintf("%.0f/s", float64(n)/every.Seconds()) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s  completed %s  cancelled %s  parked %s", now.Format("15:04:05"),
		perSec(outcomes[contract.OrderCompleted]), perSec(outcomes[contract.OrderCancelled]), perSec(outcomes[contract.OrderCompFailed]))
	var busy, capacity, instances int
	var open, faults []string
	for _, svc := range fleet.Services {
		busy += svc.Pool.Busy
		capacity += svc.Pool.Capacity
		instances += len(svc.Instances)
		for _, br := range svc.Breakers {
			if br.State != contract.BreakerClosed {
				open = append(open, fmt.Sprintf("%s %s", br.Name, br.State))
			}
		}
	}
	for _, f := range fleet.Faults {
		faults = append(faults, string(f.Service)+" "+string(f.Kind))
	}
	if fleet.Load != nil {
		fmt.Fprintf(&b, "  load %.0f/s", fleet.Load.Effective)
	}
	fmt.Fprintf(&b, "  workers %d/%d  instances %d", busy, capacity, instances)
	if len(open) > 0 {
		fmt.Fprintf(&b, "  breakers: %s", strings.Join(open, ", "))
	}
	if len(faults) > 0 {
		fmt.Fprintf(&b, "  faults: %s", strings.Join(faults, ", "))
	}
	return b.String()
}
