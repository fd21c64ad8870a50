package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/tui/feed"
)

// servers shows the NATS servers, one row each, and below them where the
// streams' copies are: the leader and the replicas of each stream held by
// the server under the cursor, or of every stream (AllStreams).
type servers struct {
	st   *Styles
	keys *KeyMap
	snap feed.Snapshot
	list *list[*feed.Server]
	// members is the leader and replica rows, static: a summary below
	// the list, cut to the room there is.
	members table
	// all shows every stream's members rather than the selected server's.
	all           bool
	width, height int
}

// Server columns.
const (
	svName = iota
	svCluster
	svVersion
	svConns
	svCPU
	svMem
	svStreams
	svLeads
	svState
)

// memberRow is one copy of a stream: its leader's or a replica's.
type memberRow struct {
	stream  string
	first   bool // the stream's first row, which names it
	stream0 *feed.Stream
	leader  bool
	replica feed.Replica
}

func newServers(st *Styles, k *KeyMap) *servers {
	s := &servers{st: st, keys: k}
	byName := func(a, b *feed.Server) int { return strings.Compare(a.Name, b.Name) }
	s.list = newList(st, listSpec[*feed.Server]{
		cols: []column{
			svName:    {title: "SERVER", width: 12, flex: true},
			svCluster: {title: "CLUSTER", width: 12, prio: 2},
			svVersion: {title: "VERSION", width: 8, prio: 3},
			svConns:   {title: "CONNS", width: 5, right: true},
			svCPU:     {title: "CPU", width: 6, right: true},
			svMem:     {title: "MEM", width: 7, right: true},
			svStreams: {title: "STREAMS", width: 7, right: true, prio: 1},
			svLeads:   {title: "LEADS", width: 5, right: true},
			svState:   {title: "STATE", width: 20},
		},
		empty: "no server seen yet",
		key:   func(x *feed.Server) string { return x.Name },
		match: func(f *filter, x *feed.Server) bool { return f.matches(x.Name, x.Cluster, x.Version) },
		row:   serverRow,
		sorts: []sortBy[*feed.Server]{
			{col: svName, compare: byName},
			{col: svCPU, value: func(x *feed.Server) float64 { return x.CPU }},
			{col: svMem, value: func(x *feed.Server) float64 { return float64(x.Mem) }},
			{col: svConns, value: func(x *feed.Server) float64 { return float64(x.Connections) }},
			{col: svLeads, value: func(x *feed.Server) float64 { return float64(x.Leads) }},
		},
	}, nil)
	s.members = newTable([]column{
		{title: "STREAM", width: 14, flex: true},
		{title: "SERVER", width: 16},
		{title: "ROLE", width: 7},
		{title: "STATE", width: 13},
		{title: "LAG", width: 6, right: true},
		{title: "ACTIVE", width: 7, right: true, prio: 1},
		{title: "LEADER SINCE", width: 12, right: true, prio: 2},
	})
	s.members.static = true
	return s
}

func (s *servers) Title() string { return "Servers" }

// listHeight is how much of the screen the server list may take: a
// cluster has a few servers, and the replicas below are the detail.
func (s *servers) listHeight() int {
	return max(3, min(len(s.snap.Servers)+1, s.height/2-1))
}

func (s *servers) SetSize(w, h int) {
	s.width, s.height = w, h
	s.layout()
}

func (s *servers) layout() {
	s.list.setSize(s.width, s.listHeight())
	s.members.setSize(s.width, s.height)
}

func (s *servers) Keys() []key.Binding {
	return []key.Binding{s.keys.AllStreams, s.keys.Filter, s.keys.Sort}
}

func (s *servers) Capturing() bool { return s.list.typing() }
func (s *servers) Back() bool      { return s.list.back() }
func (s *servers) Focus() tea.Cmd  { return nil }

func (s *servers) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		s.snap = msg.snap
		s.list.set(pointers(s.snap.Servers))
		s.layout()
	case tea.KeyMsg:
		if !s.list.typing() && key.Matches(msg, s.keys.AllStreams) {
			s.all = !s.all
			return nil
		}
		cmd, _ := s.list.update(msg, s.keys)
		return cmd
	}
	return nil
}

// memberRows are the rows of the streams the selected server holds, or of
// every stream: the leader first, then the replicas by name.
func (s *servers) memberRows() (rows []memberRow, of string) {
	name := ""
	if sel, ok := s.list.selected(); ok && !s.all {
		name = sel.Name
	}
	for i := range s.snap.Streams {
		st := &s.snap.Streams[i]
		c := st.Cluster
		if c == nil || name != "" && c.Leader != name && !slices.ContainsFunc(c.Replicas, func(r feed.Replica) bool { return r.Name == name }) {
			continue
		}
		rows = append(rows, memberRow{stream: st.Name, first: true, stream0: st, leader: true, replica: feed.Replica{Name: c.Leader}})
		for _, r := range c.Replicas {
			rows = append(rows, memberRow{stream: st.Name, stream0: st, replica: r})
		}
	}
	return rows, name
}

func (s *servers) View() string {
	st := s.st
	var b strings.Builder
	offline, meta := 0, ""
	for _, x := range s.snap.Servers {
		if x.Offline {
			offline++
		}
		if x.MetaLeader {
			meta = x.Name
		}
	}
	head := st.Section.Render("SERVERS") + st.Muted.Render(fmt.Sprintf("  %d", len(s.snap.Servers)))
	if offline > 0 {
		head += "  " + st.Failing.Render(fmt.Sprintf("%d offline", offline))
	}
	if meta != "" {
		head += st.Muted.Render("  meta leader " + clean(meta, 32))
	} else if len(s.snap.Servers) > 0 && !s.snap.Servers[0].Stats {
		head += st.Muted.Render("  from the streams' cluster info; CPU, memory need a system account")
	}
	head = clip(head, s.width, 1)
	b.WriteString(head)
	if f := s.list.filterView(st, s.width-lipgloss.Width(head)-3); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n" + s.list.view(st) + "\n")

	rows, of := s.memberRows()
	title := st.Section.Render("REPLICAS")
	if of != "" {
		title += st.Muted.Render("  of the streams on " + clean(of, 32) + "   a: every stream")
	} else {
		title += st.Muted.Render("  of every stream")
	}
	b.WriteString(clip(title, s.width, 1) + "\n")
	// The rows that fit below, with their header, and a line saying how
	// many more there are when not all do.
	room := max(1, s.height-strings.Count(b.String(), "\n")-1) // the header's line
	more := ""
	if len(rows) > room {
		keep := max(0, room-1)
		more = st.Muted.Render(fmt.Sprintf("… %d more", len(rows)-keep))
		rows = rows[:keep]
	}
	// A copy: the view draws the rows of this snapshot, and leaves the
	// model as it was.
	members := s.members
	members.setLen(len(rows), func(i int) string { return rows[i].stream + "\x00" + rows[i].replica.Name }, func(i int) row { return s.memberRow(rows[i]) })
	b.WriteString(members.view(st))
	if more != "" {
		b.WriteString("\n" + more)
	}
	return b.String()
}

func serverRow(x *feed.Server) row {
	r, state := serverHealth(x)
	unknown := cell{text: "—", role: roleMuted}
	conns, cpu, mem := unknown, unknown, unknown
	if x.Stats {
		conns = cell{text: fmt.Sprint(x.Connections)}
		cpu = cell{text: fmt.Sprintf("%.1f%%", x.CPU)}
		mem = cell{text: bytesize(uint64(max(0, x.Mem)))}
	}
	version := cell{text: clean(x.Version, 16)}
	if x.Version == "" {
		version = unknown
	}
	return row{role: r, cells: []cell{
		svName:    {text: clean(x.Name, 64)},
		svCluster: {text: clean(x.Cluster, 32)},
		svVersion: version,
		svConns:   conns,
		svCPU:     cpu,
		svMem:     mem,
		svStreams: {text: fmt.Sprint(x.Streams)},
		svLeads:   {text: fmt.Sprint(x.Leads)},
		svState:   {text: state},
	}}
}

func (s *servers) memberRow(m memberRow) row {
	name := ""
	if m.first {
		name = clean(m.stream, 64)
	}
	r, state := replicaHealth(m.stream0, m.leader, m.replica)
	if m.leader {
		ago := ""
		if c := m.stream0.Cluster; c != nil && !c.LeaderSince.IsZero() {
			ago = since(s.snap.Time, c.LeaderSince)
		}
		who := clean(m.replica.Name, 64)
		if who == "" {
			who = "none"
		}
		return row{cells: []cell{
			{text: name},
			{text: who, role: r},
			{text: "leader"},
			{text: state, role: r},
			{text: ""},
			{text: ""},
			{text: ago},
		}}
	}
	lag := cell{text: count(m.replica.Lag)}
	switch {
	case m.replica.Offline:
		lag = cell{text: "—", role: roleMuted}
	case m.replica.Lag == 0:
		lag.role = roleMuted
	}
	// The leader reports no time for a replica it never heard from.
	active := cell{text: dur(m.replica.Active)}
	if m.replica.Active == 0 && m.replica.Offline {
		active = cell{text: "—", role: roleMuted}
	}
	return row{cells: []cell{
		{text: name},
		{text: clean(m.replica.Name, 64), role: r},
		{text: "replica", role: roleMuted},
		{text: state, role: r},
		lag,
		active,
		{text: ""},
	}}
}
