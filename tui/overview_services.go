package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// The Overview's services table: one row per service, laid out by the
// table every list screen uses, static (no cursor to move).

// The services table's columns, in order. The wide ones, from ACK
// PENDING to STATE, show only at 120 columns and more.
const (
	svcName = iota
	svcUp
	svcIn
	svcOut
	svcWorkers
	svcLag
	svcAckPending
	svcFailed
	svcRetried
	svcDeadLettered
	svcState
	svcBreakers
)

// busyW is the room for a pool's busy/capacity beside its bar: "32/32".
const busyW = 5

// serviceColumns lays the services table out for a wide terminal or not.
// The wide columns drop, the last first, before the breakers have less
// room than "gateway OPEN 12.5s": their state is the point.
func serviceColumns(wide bool) []column {
	barW, breakersMin := 8, 10
	if wide {
		barW, breakersMin = 16, 18
	}
	return []column{
		svcName:         {title: "SERVICE", width: 10},
		svcUp:           {title: "UP", width: 3, right: true},
		svcIn:           {title: "IN/S", width: 6, right: true},
		svcOut:          {title: "OUT/S", width: 6, right: true},
		svcWorkers:      {title: "WORKERS", width: barW + 1 + busyW},
		svcLag:          {title: "LAG", width: 6, right: true},
		svcAckPending:   {title: "ACK PENDING", width: 11, right: true, prio: 1, hide: !wide},
		svcFailed:       {title: "FAIL/S", width: 6, right: true, prio: 2, hide: !wide},
		svcRetried:      {title: "RETRY/S", width: 7, right: true, prio: 3, hide: !wide},
		svcDeadLettered: {title: "DLQ/S", width: 6, right: true, prio: 4, hide: !wide},
		svcState:        {title: "STATE", width: 18, prio: 5, hide: !wide},
		svcBreakers:     {title: "BREAKERS", width: breakersMin, flex: true},
	}
}

// serviceRow is one service in the services table.
func serviceRow(svc *feed.Service) row {
	r, state := health(svc)
	name := cell{text: string(svc.Name), role: r}
	if !svc.Reporting() {
		rest := "not reporting"
		if c := svc.Command; c != nil {
			rest = fmt.Sprintf("not reporting · %s commands waiting", count(c.Pending))
		}
		return row{cells: []cell{
			svcName: name,
			svcUp:   {text: "0", role: roleMuted},
			svcIn:   {text: rest, role: roleMuted, span: true},
		}}
	}
	up := cell{text: fmt.Sprint(len(svc.Instances))}
	if crashed := countCrashed(svc); crashed > 0 {
		up = cell{text: fmt.Sprintf("%d✗", len(svc.Instances)-crashed), role: roleFailing}
	}
	in, lag, ack := cell{text: "—"}, cell{text: "—", role: roleMuted}, cell{text: "—"}
	if c := svc.Command; c != nil {
		in.text = rate(c.DeliveredRate)
		lag = cell{text: count(c.Pending), role: levelRole(c.Level)}
		if c.Pending == 0 {
			lag.role = roleMuted
		}
		ack.text = fmt.Sprintf("%d/%d", c.AckPending, c.MaxAckPending)
	}
	return row{cells: []cell{
		svcName: name,
		svcUp:   up,
		svcIn:   in,
		svcOut:  {text: rate(svc.Rates.Processed)},
		svcWorkers: {draw: func(st *Styles, width int) string {
			busy := fitRight(fmt.Sprintf("%d/%d", svc.Pool.Busy, svc.Pool.Capacity), 1+busyW)
			return st.bar(svc.Pool.Busy, svc.Pool.Capacity, width-1-busyW) + st.paint(poolRole(svc.Pool), busy)
		}},
		svcLag:          lag,
		svcAckPending:   ack,
		svcFailed:       {text: rate(svc.Rates.Failed), role: zeroMuted(svc.Rates.Failed, roleDegraded)},
		svcRetried:      {text: rate(svc.Rates.Retried), role: zeroMuted(svc.Rates.Retried, roleDegraded)},
		svcDeadLettered: {text: rate(svc.Rates.DeadLettered), role: zeroMuted(svc.Rates.DeadLettered, roleFailing)},
		svcState:        {text: state, role: r},
		svcBreakers:     {draw: func(st *Styles, width int) string { return breakersView(st, svc, width) }},
	}}
}

func countCrashed(svc *feed.Service) int {
	n := 0
	for _, in := range svc.Instances {
		if in.State == contract.StateCrashed {
			n++
		}
	}
	return n
}

// breakersView is a service's breakers, each in its state's role, as many
// as width has room for.
func breakersView(st *Styles, svc *feed.Service, width int) string {
	if len(svc.Breakers) == 0 {
		return st.Muted.Render("—")
	}
	var parts []string
	used := 0
	for _, b := range svc.Breakers {
		text := clean(breakerText(b), width-used)
		used += lipgloss.Width(text) + 2
		parts = append(parts, st.paint(breakerRole(b.State), text))
		if used >= width {
			break
		}
	}
	return strings.Join(parts, "  ")
}
