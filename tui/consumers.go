package tui

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/sagascope/sagascope/tui/feed"
)

// Consumer columns.
const (
	coMark = iota
	coName
	coPending
	coShare
	coAckPending
	coRedelivered
	coWaiting
	coDelivered
	coAcked
	coLastDelivery
	coLastAck
	coTrend
	coState
)

// newConsumers is the table of every consumer of every stream: lag, ack
// pending against its limit, delivery and ack rates, and a lag trend; rows
// are coloured by the consumer's io.nats.monitor.* thresholds.
func newConsumers(st *Styles, k *KeyMap) *listScreen[*feed.Consumer] {
	return &listScreen[*feed.Consumer]{
		st: st, keys: k, title: "Consumers",
		list: newList(st, listSpec[*feed.Consumer]{
			cols: []column{
				{title: " ", width: 1},
				{title: "STREAM › CONSUMER", width: 24, flex: true},
				{title: "UNPROC", width: 7, right: true},
				{title: "%STRM", width: 5, right: true, prio: 3},
				{title: "ACK PENDING", width: 14},
				{title: "REDLV", width: 5, right: true, prio: 2},
				{title: "WAIT", width: 4, right: true, prio: 3},
				{title: "DLV/S", width: 6, right: true},
				{title: "ACK/S", width: 6, right: true},
				{title: "LAST DLV", width: 8, right: true, prio: 3},
				{title: "LAST ACK", width: 8, right: true, prio: 3},
				{title: "LAG TREND", width: 16, prio: 1},
				{title: "STATE", width: 12, flex: true, prio: 2},
			},
			empty: "no consumers on this server",
			key:   consumerKey,
			is:    isConsumer,
			match: func(f *filter, x *feed.Consumer) bool {
				return f.matches(x.Stream, x.Name, x.Filter, string(x.Level))
			},
			row: consumerRow,
			sorts: []sortBy[*feed.Consumer]{
				{col: coName, compare: func(a, b *feed.Consumer) int {
					return cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Name, b.Name))
				}},
				{col: coPending, value: func(x *feed.Consumer) float64 { return float64(x.Pending) }},
				{col: coAckPending, value: func(x *feed.Consumer) float64 { return float64(x.AckPending) }},
				{col: coRedelivered, value: func(x *feed.Consumer) float64 { return float64(x.Redelivered) }},
				{col: coDelivered, value: func(x *feed.Consumer) float64 { return x.DeliveredRate }},
			},
		}, nil),
		items:       func(s feed.Snapshot) []*feed.Consumer { return pointers(s.Consumers) },
		heading:     func(s feed.Snapshot, shown int) string { return consumersHeading(st, s, shown) },
		detail:      func(x *feed.Consumer, width int) string { return consumerDetail(st, x, width) },
		detailLines: 2,
		stream:      func(x *feed.Consumer) string { return x.Stream },
		target:      func(stream, consumer string) string { return stream + "\x00" + consumer },
	}
}

func consumerKey(x *feed.Consumer) string { return x.Stream + "\x00" + x.Name }

// isConsumer reports whether consumerKey(x) is key, without building it:
// the cursor looks its consumer up among every row after each poll.
func isConsumer(x *feed.Consumer, key string) bool {
	n := len(x.Stream)
	return len(key) == n+1+len(x.Name) && key[:n] == x.Stream && key[n] == 0 && key[n+1:] == x.Name
}

func consumerRow(x *feed.Consumer) row {
	state := string(x.Level)
	if x.Why != "" {
		state = x.Why
	}
	if x.Paused {
		state = "paused " + dur(x.PauseRemaining)
	}
	return row{role: consumerRole(x), cells: []cell{
		{text: levelMark(x)},
		{text: clean(x.Stream+" › "+x.Name, 64)},
		{text: count(x.Pending)},
		{text: pct(x.Pending, x.StreamMessages)},
		{text: ackBar(x.AckPending, x.MaxAckPending, 6)},
		{text: fmt.Sprint(x.Redelivered)},
		{text: fmt.Sprint(x.Waiting)},
		{text: rate(x.DeliveredRate)},
		{text: rate(x.AckedRate)},
		{text: since(x.TimeStamp, x.LastDelivery)},
		{text: since(x.TimeStamp, x.LastAck)},
		{text: sparkline(x.LagTrend, 16)},
		{text: clean(state, 48) + staleNote(x)},
	}}
}

// levelMark tells the level without colour: ✗ critical, ! over warn,
// ‖ paused.
func levelMark(x *feed.Consumer) string {
	switch {
	case x.Level == feed.LevelCritical:
		return "✗"
	case x.Level == feed.LevelWarn:
		return "!"
	case x.Paused:
		return "‖"
	}
	return ""
}

// ackBar is ack pending against MaxAckPending as plain text, so it can sit
// in a coloured row: "███░░░ 32/64". Without a limit it is just the count.
func ackBar(n, limit, width int) string {
	if limit <= 0 {
		return fmt.Sprint(n)
	}
	full := min(width, (n*width+limit-1)/limit)
	return strings.Repeat("█", full) + strings.Repeat("░", width-full) + fmt.Sprintf(" %d/%d", n, limit)
}

// consumersHeading counts the consumers over their thresholds, and says
// what of them is not current.
func consumersHeading(st *Styles, s feed.Snapshot, shown int) string {
	var b strings.Builder
	b.WriteString(st.Section.Render("CONSUMERS"))
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d", shown, len(s.Consumers))))
	b.WriteString(freshnessNote(st, s))
	b.WriteString(levelsNote(st, s.Consumers, "  "))
	return b.String()
}

// consumerDetail describes the selected consumer in two lines.
func consumerDetail(st *Styles, x *feed.Consumer, width int) string {
	kind := "push"
	if x.Pull {
		kind = "pull"
	}
	line1 := fmt.Sprintf("%s › %s  %s  filter %s  ack pending %d/%d  redelivered %d  waiting pulls %d  last delivery %s  last ack %s",
		x.Stream, x.Name, kind, orDash(x.Filter), x.AckPending, x.MaxAckPending, x.Redelivered, x.Waiting,
		since(x.TimeStamp, x.LastDelivery), since(x.TimeStamp, x.LastAck))
	line2 := "thresholds: " + thresholdsText(x.Thresholds)
	line2 += "  level: " + string(x.Level)
	if x.Why != "" {
		line2 += " (" + x.Why + ")"
	}
	return st.Muted.Render(clean(line1, width)) + "\n" + st.paint(levelRole(x.Level), clean(line2, width))
}

// thresholdsText lists the io.nats.monitor.* thresholds set, or says
// none is.
func thresholdsText(t feed.Thresholds) string {
	var th []string
	if t.UnprocessedWarn > 0 {
		th = append(th, "unprocessed warn "+commas(t.UnprocessedWarn))
	}
	if t.UnprocessedCritical > 0 {
		th = append(th, "unprocessed critical "+commas(t.UnprocessedCritical))
	}
	if t.AckPendingCritical > 0 {
		th = append(th, fmt.Sprintf("ack pending critical %d", t.AckPendingCritical))
	}
	if t.RedeliveryCritical > 0 {
		th = append(th, fmt.Sprintf("redelivery critical %d", t.RedeliveryCritical))
	}
	if t.LastDeliveryCritical > 0 {
		th = append(th, "last delivery critical "+dur(t.LastDeliveryCritical))
	}
	if t.LastAckCritical > 0 {
		th = append(th, "last ack critical "+dur(t.LastAckCritical))
	}
	if len(th) == 0 {
		return "none set (io.nats.monitor.* metadata)"
	}
	return strings.Join(th, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
