package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
)

// StatusLine prints one line every period until ctx ends: sagas finished
// per outcome in that period, the load rate, busy workers, open breakers and
// active faults, from the same feeds the dashboard reads.
func StatusLine(ctx context.Context, nc *nats.Conn, w io.Writer, every time.Duration) error {
	var mu sync.Mutex
	outcomes := map[string]int{}
	latest := map[string]contract.Status{}
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
	subStatus, err := nc.Subscribe(contract.StatusSubjects, func(m *nats.Msg) {
		var s contract.Status
		if json.Unmarshal(m.Data, &s) == nil {
			mu.Lock()
			latest[string(s.Service)+"/"+s.Instance] = s
			mu.Unlock()
		}
	})
	if err != nil {
		return fmt.Errorf("follow service status: %w", err)
	}
	defer func() { _ = subStatus.Unsubscribe() }()

	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		mu.Lock()
		line := formatLine(outcomes, latest, every, time.Now())
		clear(outcomes)
		mu.Unlock()
		fmt.Fprintln(w, line)
	}
}

func formatLine(outcomes map[string]int, latest map[string]contract.Status, every time.Duration, now time.Time) string {
	perSec := func(n int) string { return fmt.Sprintf("%.0f/s", float64(n)/every.Seconds()) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s  completed %s  cancelled %s  parked %s", now.Format("15:04:05"),
		perSec(outcomes[contract.OrderCompleted]), perSec(outcomes[contract.OrderCancelled]), perSec(outcomes[contract.OrderCompFailed]))
	var busy, capacity int
	var open, faults []string
	seenFault := map[string]bool{}
	var load *contract.LoadStatus
	ids := make([]string, 0, len(latest))
	for id, s := range latest {
		if now.Sub(s.Time) > 3*time.Second {
			delete(latest, id) // gone
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := latest[id]
		busy += s.Pool.Busy
		capacity += s.Pool.Capacity
		if s.Load != nil {
			load = s.Load
		}
		for _, br := range s.Breakers {
			if br.State != contract.BreakerClosed {
				open = append(open, fmt.Sprintf("%s %s", br.Name, br.State))
			}
		}
		for _, f := range s.Faults {
			key := string(f.Service) + " " + string(f.Kind)
			if !seenFault[key] {
				seenFault[key] = true
				faults = append(faults, key)
			}
		}
	}
	if load != nil {
		fmt.Fprintf(&b, "  load %.0f/s", load.Effective)
	}
	fmt.Fprintf(&b, "  workers %d/%d  instances %d", busy, capacity, len(ids))
	if len(open) > 0 {
		fmt.Fprintf(&b, "  breakers: %s", strings.Join(open, ", "))
	}
	if len(faults) > 0 {
		fmt.Fprintf(&b, "  faults: %s", strings.Join(faults, ", "))
	}
	return b.String()
}
