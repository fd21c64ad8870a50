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

// streams is the table of every stream on the server.
type streams struct {
	st     *Styles
	keys   *KeyMap
	snap   feed.Snapshot
	table  table
	filter filter
	sortBy int
	desc   bool
	width  int
	height int
}

// Stream columns; the sortable ones are listed in streamSorts.
const (
	stName = iota
	stSubjects
	stMsgs
	stBytes
	stFirst
	stLast
	stConsumers
	stRate
	stLastMsg
	stStorage
)

var streamSorts = []int{stName, stMsgs, stBytes, stConsumers, stRate}

func newStreams(st *Styles, k *KeyMap) *streams {
	s := &streams{st: st, keys: k, filter: newFilter(st)}
	s.table = newTable([]column{
		{title: "STREAM", width: 14, flex: true},
		{title: "SUBJECTS", width: 14, flex: true, prio: 1},
		{title: "MESSAGES", width: 9, right: true},
		{title: "BYTES", width: 8, right: true},
		{title: "FIRST", width: 9, right: true, prio: 3},
		{title: "LAST", width: 9, right: true},
		{title: "CONS", width: 4, right: true},
		{title: "MSGS/S", width: 7, right: true},
		{title: "LAST MSG", width: 8, right: true, prio: 2},
		{title: "STORAGE", width: 7, prio: 3},
	})
	s.table.empty = "no streams on this server"
	s.table.sortCol = stName
	return s
}

func (s *streams) Title() string { return "Streams" }

func (s *streams) SetSize(w, h int) {
	s.width, s.height = w, h
	s.table.setSize(w, h-2)
}

func (s *streams) Keys() []key.Binding {
	return []key.Binding{s.keys.Filter, s.keys.Sort, s.keys.Reverse}
}

func (s *streams) Capturing() bool { return s.filter.typing }
func (s *streams) Back() bool {
	if s.filter.clear() {
		s.rebuild()
		return true
	}
	return false
}
func (s *streams) Focus() tea.Cmd { return nil }

func (s *streams) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		s.snap = msg.snap
		s.rebuild()
	case tea.KeyMsg:
		if s.filter.typing {
			changed, cmd := s.filter.update(msg)
			if changed {
				s.rebuild()
			}
			return cmd
		}
		switch {
		case key.Matches(msg, s.keys.Filter):
			return s.filter.start()
		case key.Matches(msg, s.keys.Sort):
			i := slices.Index(streamSorts, s.sortBy)
			s.sortBy = streamSorts[(i+1)%len(streamSorts)]
			s.desc = s.sortBy != stName // numbers: biggest first
			s.rebuild()
		case key.Matches(msg, s.keys.Reverse):
			s.desc = !s.desc
			s.rebuild()
		default:
			s.table.update(msg, s.keys)
		}
	}
	return nil
}

func (s *streams) rebuild() {
	list := make([]*feed.Stream, 0, len(s.snap.Streams))
	for i := range s.snap.Streams {
		x := &s.snap.Streams[i]
		if s.filter.matches(x.Name, strings.Join(x.Subjects, " "), x.Description) {
			list = append(list, x)
		}
	}
	slices.SortStableFunc(list, func(a, b *feed.Stream) int {
		var c int
		switch s.sortBy {
		case stMsgs:
			c = cmp.Compare(a.Messages, b.Messages)
		case stBytes:
			c = cmp.Compare(a.Bytes, b.Bytes)
		case stConsumers:
			c = cmp.Compare(a.Consumers, b.Consumers)
		case stRate:
			c = cmp.Compare(a.Rate, b.Rate)
		default:
			c = strings.Compare(a.Name, b.Name)
		}
		if s.desc {
			c = -c
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name) // ties in name order
		}
		return c
	})
	rows := make([]row, len(list))
	for i, x := range list {
		r := roleNone
		if x.Rate == 0 {
			r = roleMuted
		}
		rows[i] = row{key: x.Name, role: r, cells: []cell{
			{text: clean(x.Name, 64)},
			{text: clean(strings.Join(x.Subjects, " "), 64)},
			{text: count(x.Messages)},
			{text: bytesize(x.Bytes)},
			{text: count(x.FirstSeq)},
			{text: count(x.LastSeq)},
			{text: fmt.Sprint(x.Consumers)},
			{text: rate(x.Rate)},
			{text: since(x.TimeStamp, x.LastTime)},
			{text: x.Storage},
		}}
	}
	s.table.sortCol, s.table.desc = s.sortBy, s.desc
	s.table.setRows(rows)
}

func (s *streams) View() string {
	var b strings.Builder
	total := len(s.snap.Streams)
	b.WriteString(s.st.Section.Render("STREAMS"))
	b.WriteString(s.st.Muted.Render(fmt.Sprintf("  %d of %d", len(s.table.rows), total)))
	if f := s.filter.view(s.st, s.width-30); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n")
	b.WriteString(s.table.view(s.st))
	if sel, ok := s.table.selected(); ok {
		for i := range s.snap.Streams {
			x := &s.snap.Streams[i]
			if x.Name == sel.key && x.Description != "" {
				b.WriteString("\n" + s.st.Muted.Render(clean(x.Name+": "+x.Description, s.width)))
			}
		}
	}
	return b.String()
}
