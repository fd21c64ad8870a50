package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// consumers is the table of every consumer of every stream: lag, ack
// pending against its limit, delivery and ack rates, and a lag trend;
// rows are coloured by the consumer's io.nats.monitor.* thresholds.
type consumers struct {
	st     *Styles
	keys   *KeyMap
	snap   feed.Snapshot
	byKey  map[string]*feed.Consumer
	table  table
	filter filter
	sortBy int
	desc   bool
	width  int
	height int
}

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

var consumerSorts = []int{coName, coPending, coAckPending, coRedelivered, coDelivered}

func newConsumers(st *Styles, k *KeyMap) *consumers {
	c := &consumers{st: st, keys: k, filter: newFilter(st), sortBy: coName}
	c.table = newTable([]column{
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
	})
	c.table.empty = "no consumers on this server"
	c.table.sortCol = coName
	return c
}

func (c *consumers) Title() string { return "Consumers" }

func (c *consumers) SetSize(w, h int) {
	c.width, c.height = w, h
	c.table.setSize(w, h-3)
}

func (c *consumers) Keys() []key.Binding {
	return []key.Binding{c.keys.Filter, c.keys.Sort, c.keys.Reverse}
}

func (c *consumers) Capturing() bool { return c.filter.typing }
func (c *consumers) Back() bool {
	if c.filter.clear() {
		c.rebuild()
		return true
	}
	return false
}
func (c *consumers) Focus() tea.Cmd { return nil }

func (c *consumers) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		c.snap = msg.snap
		c.rebuild()
	case tea.KeyMsg:
		if c.filter.typing {
			changed, cmd := c.filter.update(msg)
			if changed {
				c.rebuild()
			}
			return cmd
		}
		switch {
		case key.Matches(msg, c.keys.Filter):
			return c.filter.start()
		case key.Matches(msg, c.keys.Sort):
			i := slices.Index(consumerSorts, c.sortBy)
			c.sortBy = consumerSorts[(i+1)%len(consumerSorts)]
			c.desc = c.sortBy != coName
			c.rebuild()
		case key.Matches(msg, c.keys.Reverse):
			c.desc = !c.desc
			c.rebuild()
		default:
			c.table.update(msg, c.keys)
		}
	}
	return nil
}

func consumerKey(x *feed.Consumer) string { return x.Stream + "\x00" + x.Name }

func (c *consumers) rebuild() {
	all := c.snap.Consumers
	list := make([]*feed.Consumer, 0, len(all))
	if c.byKey == nil {
		c.byKey = make(map[string]*feed.Consumer, len(all))
	}
	clear(c.byKey)
	for i := range all {
		x := &all[i]
		if c.filter.matches(x.Stream, x.Name, x.Filter, string(x.Level)) {
			list = append(list, x)
		}
	}
	slices.SortStableFunc(list, func(a, b *feed.Consumer) int {
		var r int
		switch c.sortBy {
		case coPending:
			r = cmp.Compare(a.Pending, b.Pending)
		case coAckPending:
			r = cmp.Compare(a.AckPending, b.AckPending)
		case coRedelivered:
			r = cmp.Compare(a.Redelivered, b.Redelivered)
		case coDelivered:
			r = cmp.Compare(a.DeliveredRate, b.DeliveredRate)
		default:
			r = cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Name, b.Name))
		}
		if c.desc {
			r = -r
		}
		if r == 0 {
			r = cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Name, b.Name))
		}
		return r
	})
	rows := make([]row, len(list))
	for i, x := range list {
		k := consumerKey(x)
		c.byKey[k] = x
		rows[i] = c.row(x, k)
	}
	c.table.sortCol, c.table.desc = c.sortBy, c.desc
	c.table.setRows(rows)
}

func (c *consumers) row(x *feed.Consumer, k string) row {
	r := levelRole(x.Level)
	state := string(x.Level)
	if x.Why != "" {
		state = x.Why
	}
	if x.Paused {
		state = "paused " + dur(x.PauseRemaining)
		if r == roleNone {
			r = roleDegraded
		}
	}
	if r == roleNone && x.Pending == 0 && x.AckPending == 0 && x.DeliveredRate == 0 {
		r = roleMuted // idle
	}
	return row{key: k, role: r, cells: []cell{
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
		{text: clean(state, 48)},
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

func (c *consumers) View() string {
	var b strings.Builder
	st := c.st
	b.WriteString(st.Section.Render("CONSUMERS"))
	warn, crit := 0, 0
	for i := range c.snap.Consumers {
		switch c.snap.Consumers[i].Level {
		case feed.LevelWarn:
			warn++
		case feed.LevelCritical:
			crit++
		}
	}
	b.WriteString(st.Muted.Render(fmt.Sprintf("  %d of %d", len(c.table.rows), len(c.snap.Consumers))))
	if crit > 0 {
		b.WriteString("  " + st.Failing.Render(fmt.Sprintf("%d critical", crit)))
	}
	if warn > 0 {
		b.WriteString("  " + st.Degraded.Render(fmt.Sprintf("%d over warn", warn)))
	}
	if f := c.filter.view(st, c.width-40); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n")
	b.WriteString(c.table.view(st))
	if sel, ok := c.table.selected(); ok {
		if x := c.byKey[sel.key]; x != nil {
			b.WriteString("\n" + c.detail(x))
		}
	}
	return b.String()
}

// detail describes the selected consumer in two lines.
func (c *consumers) detail(x *feed.Consumer) string {
	st := c.st
	kind := "push"
	if x.Pull {
		kind = "pull"
	}
	line1 := fmt.Sprintf("%s › %s  %s  filter %s  ack pending %d/%d  redelivered %d  waiting pulls %d  last delivery %s  last ack %s",
		x.Stream, x.Name, kind, orDash(x.Filter), x.AckPending, x.MaxAckPending, x.Redelivered, x.Waiting,
		since(x.TimeStamp, x.LastDelivery), since(x.TimeStamp, x.LastAck))
	t := x.Thresholds
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
	line2 := "thresholds: none set (io.nats.monitor.* metadata)"
	if len(th) > 0 {
		line2 = "thresholds: " + strings.Join(th, ", ")
	}
	line2 += "  level: " + string(x.Level)
	if x.Why != "" {
		line2 += " (" + x.Why + ")"
	}
	return st.Muted.Render(clean(line1, c.width)) + "\n" + st.paint(levelRole(x.Level), clean(line2, c.width))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
