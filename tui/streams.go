package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// Stream columns.
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

// streams is the table of every stream on the server, sortable by name,
// messages, bytes, consumers and rate; enter opens a stream's messages, or
// a KV bucket's keys, over it.
type streams struct {
	*listScreen[*feed.Stream]
	ctx context.Context
	br  browser
	// views are the views opened over the list, the one on view last.
	views []browseView
}

func newStreams(ctx context.Context, st *Styles, k *KeyMap, br browser) *streams {
	return &streams{listScreen: newStreamList(st, k), ctx: ctx, br: br}
}

func (s *streams) top() browseView {
	if len(s.views) == 0 {
		return nil
	}
	return s.views[len(s.views)-1]
}

func (s *streams) SetSize(w, h int) {
	s.listScreen.SetSize(w, h)
	for _, v := range s.views {
		v.SetSize(w, h)
	}
}

func (s *streams) Keys() []key.Binding {
	if v := s.top(); v != nil {
		return v.Keys()
	}
	return append([]key.Binding{s.keys.Browse}, s.listScreen.Keys()...)
}

func (s *streams) Capturing() bool {
	if v := s.top(); v != nil {
		return v.Capturing()
	}
	return s.listScreen.Capturing()
}

// Back closes what the view on top has open, else the view itself.
func (s *streams) Back() bool {
	if v := s.top(); v != nil {
		if !v.Back() {
			s.views = s.views[:len(s.views)-1]
		}
		return true
	}
	return s.listScreen.Back()
}

func (s *streams) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case openBrowseMsg:
		return s.open(msg.view)
	case tea.KeyMsg:
		if v := s.top(); v != nil {
			return v.Update(msg)
		}
		if key.Matches(msg, s.keys.Browse) && !s.list.typing() {
			return s.browse()
		}
		return s.listScreen.Update(msg)
	case snapshotMsg:
		cmd := s.listScreen.Update(msg)
		for _, v := range s.views {
			v.Update(msg)
		}
		return cmd
	}
	// Answers to the views' reads and their timers.
	cmds := make([]tea.Cmd, 0, len(s.views))
	for _, v := range s.views {
		cmds = append(cmds, v.Update(msg))
	}
	return tea.Batch(cmds...)
}

// browse opens the selected stream: a KV bucket's keys, else its messages.
func (s *streams) browse() tea.Cmd {
	x, ok := s.list.selected()
	if !ok || s.br == nil {
		return nil
	}
	if bucket := feed.KVBucket(x.Name); bucket != "" {
		return s.open(newKV(s.ctx, s.st, s.keys, s.br, bucket, s.snap.Time))
	}
	return s.open(newMessages(s.ctx, s.st, s.keys, s.br, x.Name, "", s.snap.Time))
}

func (s *streams) open(v browseView) tea.Cmd {
	v.SetSize(s.width, s.height)
	s.views = append(s.views, v)
	return v.Focus()
}

func (s *streams) View() string {
	if v := s.top(); v != nil {
		return v.View()
	}
	return s.listScreen.View()
}

// newStreamList is the list of streams.
func newStreamList(st *Styles, k *KeyMap) *listScreen[*feed.Stream] {
	byName := func(a, b *feed.Stream) int { return strings.Compare(a.Name, b.Name) }
	return &listScreen[*feed.Stream]{
		st: st, keys: k, title: "Streams",
		list: newList(st, listSpec[*feed.Stream]{
			cols: []column{
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
			},
			empty: "no streams on this server",
			key:   func(x *feed.Stream) string { return x.Name },
			match: func(f *filter, x *feed.Stream) bool {
				return f.matches(x.Name, strings.Join(x.Subjects, " "), x.Description)
			},
			row: streamRow,
			sorts: []sortBy[*feed.Stream]{
				{col: stName, compare: byName},
				{col: stMsgs, value: func(x *feed.Stream) float64 { return float64(x.Messages) }},
				{col: stBytes, value: func(x *feed.Stream) float64 { return float64(x.Bytes) }},
				{col: stConsumers, value: func(x *feed.Stream) float64 { return float64(x.Consumers) }},
				{col: stRate, value: func(x *feed.Stream) float64 { return x.Rate }},
			},
		}, nil),
		items: func(s feed.Snapshot) []*feed.Stream { return pointers(s.Streams) },
		heading: func(s feed.Snapshot, shown int) string {
			return st.Section.Render("STREAMS") + st.Muted.Render(fmt.Sprintf("  %d of %d", shown, len(s.Streams)))
		},
		detail: func(x *feed.Stream, width int) string {
			if x.Description == "" {
				return ""
			}
			return st.Muted.Render(clean(x.Name+": "+x.Description, width))
		},
		detailLines: 1,
		stream:      func(x *feed.Stream) string { return x.Name },
		target:      func(stream, _ string) string { return stream },
	}
}

func streamRow(x *feed.Stream) row {
	r := roleNone
	if x.Rate == 0 {
		r = roleMuted
	}
	return row{role: r, cells: []cell{
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
