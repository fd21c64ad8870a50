package tui

import (
	"fmt"
	"strings"

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

// newStreams is the table of every stream on the server, sortable by name,
// messages, bytes, consumers and rate.
func newStreams(st *Styles, k *KeyMap) *listScreen[*feed.Stream] {
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
