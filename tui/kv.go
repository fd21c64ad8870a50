package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// kvWatchBatch bounds the writes one watch read takes: a bucket written
// faster than that a second is shown a second behind, not read in full.
const kvWatchBatch = 512

// kvView is a KV bucket: its keys with their revision and age, enter a
// key's history, enter again one revision in full; the saga's buckets'
// values are decoded into their records (demo/contract). F watches the
// bucket, r shows its raw messages. It only reads, by direct get: the KV
// API's History and Watch need a consumer, which an observer may not make.
type kvView struct {
	reads
	st     *Styles
	keys   *KeyMap
	br     browser
	bucket string

	entries []feed.KVEntry
	byKey   map[string]int
	bounds  feed.StreamBounds
	partial bool
	list    *list[*feed.KVEntry]

	// key is the key whose history is open, "" for the key list; history
	// is newest first; value is set while a revision is shown in full.
	key      string
	history  []feed.KVEntry
	histRows table
	value    bool
	scroll   int

	width  int
	height int
}

func newKV(ctx context.Context, st *Styles, k *KeyMap, br browser, bucket string, now time.Time) *kvView {
	v := &kvView{reads: reads{ctx: ctx, now: now}, st: st, keys: k, br: br, bucket: bucket, byKey: map[string]int{}}
	byKey := func(a, b *feed.KVEntry) int { return strings.Compare(a.Key, b.Key) }
	v.list = newList(st, listSpec[*feed.KVEntry]{
		cols: []column{
			{title: "KEY", width: 16, flex: true},
			{title: "REV", width: 7, right: true},
			{title: "AGE", width: 4, right: true},
			{title: "OP", width: 5, prio: 1},
			{title: "SIZE", width: 6, right: true, prio: 2},
			{title: "VALUE", width: 20, flex: true},
		},
		empty: "no key in this bucket",
		key:   func(e *feed.KVEntry) string { return e.Key },
		match: func(f *filter, e *feed.KVEntry) bool { return f.matches(e.Key) },
		row:   v.keyRow,
		sorts: []sortBy[*feed.KVEntry]{
			{col: 0, compare: byKey},
			{col: 1, value: func(e *feed.KVEntry) float64 { return float64(e.Revision) }},
		},
	}, nil)
	v.histRows = newTable([]column{
		{title: "REV", width: 7, right: true},
		{title: "TIME", width: 12},
		{title: "AGE", width: 4, right: true},
		{title: "OP", width: 5},
		{title: "SIZE", width: 6, right: true, prio: 1},
		{title: "VALUE", width: 20, flex: true},
	})
	v.histRows.empty = "no write of this key is stored"
	return v
}

func (v *kvView) SetSize(w, h int) {
	v.width, v.height = w, h
	v.list.setSize(w, h-2)
	v.histRows.setSize(w, h-2)
}

func (v *kvView) Keys() []key.Binding {
	k := v.keys
	switch {
	case v.value:
		return []key.Binding{k.Left, k.Right, k.Back}
	case v.key != "":
		return []key.Binding{k.Inspect, k.Follow, k.Raw, k.Back}
	}
	return []key.Binding{k.Inspect, k.Filter, k.Sort, k.Follow, k.Raw, k.Back}
}

func (v *kvView) Capturing() bool { return v.list.typing() }

func (v *kvView) Back() bool {
	switch {
	case v.value:
		v.value = false
	case v.key != "":
		v.key, v.history = "", nil
		v.req++ // a history read in flight is dropped
		v.loading = ""
	default:
		return v.list.back()
	}
	return true
}

func (v *kvView) Title() string { return "KV" }

// Focus makes the first read.
func (v *kvView) Focus() tea.Cmd {
	v.req++
	v.loading = "the keys"
	br, bucket := v.br, v.bucket
	return readCmd(v.ctx, v, v.req, func(ctx context.Context) (feed.KVKeys, error) {
		return br.Keys(ctx, bucket)
	}, v.setKeys)
}

func (v *kvView) setKeys(keys feed.KVKeys, err error) {
	v.loading = ""
	v.bounds, v.partial = keys.Bounds, keys.Partial
	if err != nil {
		v.err = browseErr(err)
		return
	}
	v.err = ""
	v.entries = keys.Entries
	clear(v.byKey)
	for i, e := range v.entries {
		v.byKey[e.Key] = i
	}
	v.list.set(pointers(v.entries))
}

func (v *kvView) openHistory(k string) tea.Cmd {
	v.key, v.history = k, nil
	v.req++
	v.loading = "the history of " + k
	br, bucket := v.br, v.bucket
	return readCmd(v.ctx, v, v.req, func(ctx context.Context) ([]feed.KVEntry, error) {
		return br.History(ctx, bucket, k)
	}, func(h []feed.KVEntry, err error) {
		v.loading = ""
		if err != nil {
			v.err = browseErr(err)
			return
		}
		v.err = ""
		for i := len(h) - 1; i >= 0; i-- {
			v.history = append(v.history, h[i])
		}
		v.histRows.cursor, v.histRows.offset, v.histRows.selKey = 0, 0, ""
		v.setHistoryRows()
	})
}

func (v *kvView) setHistoryRows() {
	v.histRows.setLen(len(v.history), func(i int) string { return strconv.FormatUint(v.history[i].Revision, 10) }, func(i int) row {
		e := &v.history[i]
		return row{role: opRole(e.Op), cells: []cell{
			{text: commas(e.Revision)},
			{text: e.Time.Format("15:04:05.000"), role: roleMuted},
			{text: since(v.now, e.Time), role: roleMuted},
			{text: opText(e.Op)},
			{text: bytesize(uint64(e.Size))},
			{text: v.valueText(e)},
		}}
	})
}

// watchRead reads the writes after the last one seen.
func (v *kvView) watchRead() tea.Cmd {
	v.req++
	br, bucket, after := v.br, v.bucket, v.bounds.Last
	return readCmd(v.ctx, v, v.req, func(ctx context.Context) (kvChanges, error) {
		es, bd, err := br.Changes(ctx, bucket, after, kvWatchBatch)
		return kvChanges{es, bd}, err
	}, v.applyChanges)
}

type kvChanges struct {
	entries []feed.KVEntry
	bounds  feed.StreamBounds
}

// applyChanges puts each write in the key list, and in the history if it
// is the open key's.
func (v *kvView) applyChanges(c kvChanges, err error) {
	if err != nil {
		v.err = browseErr(err)
		return
	}
	v.err = ""
	last := v.bounds.Last
	for _, e := range c.entries {
		last = max(last, e.Revision)
		if i, ok := v.byKey[e.Key]; ok {
			v.entries[i] = e
		} else {
			v.byKey[e.Key] = len(v.entries)
			v.entries = append(v.entries, e)
		}
		if e.Key == v.key {
			v.history = append([]feed.KVEntry{e}, v.history...)
		}
	}
	if len(c.entries) > 0 {
		v.list.set(pointers(v.entries))
		if v.key != "" {
			v.setHistoryRows()
		}
	}
	v.bounds = c.bounds
	// A watch read cut at kvWatchBatch continues from there, not from the
	// stream's end.
	v.bounds.Last = last
}

func (v *kvView) Update(msg tea.Msg) tea.Cmd {
	if cmd, ok := v.take(v, msg, v.watchRead); ok {
		return cmd
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return v.press(msg)
	}
	return nil
}

func (v *kvView) press(msg tea.KeyMsg) tea.Cmd {
	k := v.keys
	if v.list.typing() {
		cmd, _ := v.list.update(msg, k)
		return cmd
	}
	switch {
	case v.value && key.Matches(msg, k.Inspect):
		v.value = false
	case v.value && key.Matches(msg, k.Left, k.Right):
		step := 1
		if key.Matches(msg, k.Left) {
			step = -1
		}
		v.histRows.cursor = max(0, min(v.histRows.cursor+step, len(v.history)-1))
		v.histRows.follow()
		v.scroll = 0
	case v.value:
		v.scroll = scrollKey(msg, k, v.scroll, v.height)
	case key.Matches(msg, k.Follow):
		v.follow = !v.follow
		switch {
		case v.follow && v.loading != "":
			// The read in flight schedules the first watch read.
		case v.follow:
			return v.watchRead()
		default:
			v.req++ // the tick in flight is dropped
			v.loading = ""
		}
	case key.Matches(msg, k.Raw):
		subject := "$KV." + v.bucket + ".>"
		if v.key != "" {
			subject = "$KV." + v.bucket + "." + v.key
		}
		m := newMessages(v.ctx, v.st, v.keys, v.br, feed.KVStreamPrefix+v.bucket, subject, v.now)
		return func() tea.Msg { return openBrowseMsg{view: m} }
	case v.key != "" && key.Matches(msg, k.Inspect):
		if _, ok := v.histRows.index(); ok {
			v.value, v.scroll = true, 0
		}
	case v.key != "":
		v.histRows.update(msg, k)
	case key.Matches(msg, k.Inspect):
		if e, ok := v.list.selected(); ok {
			return v.openHistory(e.Key)
		}
	default:
		cmd, _ := v.list.update(msg, k)
		return cmd
	}
	return nil
}

func (v *kvView) keyRow(e *feed.KVEntry) row {
	return row{role: opRole(e.Op), cells: []cell{
		{text: clean(e.Key, 200)},
		{text: commas(e.Revision), role: roleMuted},
		{text: since(v.now, e.Time), role: roleMuted},
		{text: opText(e.Op)},
		{text: bytesize(uint64(e.Size))},
		{text: v.valueText(e)},
	}}
}

// valueText is a value on one line: its record's summary when the bucket
// is one of the saga's, else the start of the value.
func (v *kvView) valueText(e *feed.KVEntry) string {
	if e.Op != feed.KVPut {
		return ""
	}
	if r, ok := decodeRecord(v.bucket, e.Key, e.Value); ok {
		return clean(r.summary, 200)
	}
	return preview(e.Value, 200)
}

func opText(op string) string {
	if op == feed.KVPut {
		return ""
	}
	return op
}

func opRole(op string) role {
	if op == feed.KVPut {
		return roleNone
	}
	return roleMuted
}

func (v *kvView) View() string {
	st := v.st
	var b strings.Builder
	b.WriteString(st.Section.Render("KV") + "  " + st.Strong.Render(clean(v.bucket, 40)))
	switch {
	case v.key != "":
		b.WriteString(st.Muted.Render(" › ") + st.Strong.Render(clean(v.key, v.width/2)))
		b.WriteString(st.Muted.Render("  " + plural(len(v.history), "write", "writes") + " kept"))
	default:
		facts := fmt.Sprintf("  %d of %d keys · revision %s", v.list.len(), len(v.entries), commas(v.bounds.Last))
		if v.partial {
			facts += " · only the keys of its first writes: too many to read"
		}
		b.WriteString(st.Muted.Render(clean(facts, v.width-30)))
		if f := v.list.filterView(st, v.width-60); f != "" {
			b.WriteString("  " + f)
		}
	}
	if v.follow {
		b.WriteString("  " + st.Healthy.Render("● watching"))
	}
	b.WriteString("\n")
	switch {
	case v.value:
		b.WriteString(v.valueView())
		return b.String()
	case v.key != "":
		b.WriteString(v.histRows.view(st))
	default:
		b.WriteString(v.list.view(st))
	}
	return footed(b.String(), v.height, v.statusLine())
}

func (v *kvView) statusLine() string {
	st := v.st
	if s := v.status(st, v.width); s != "" {
		return s
	}
	switch {
	case v.key != "":
		return st.Muted.Render(clean("enter shows a revision · F watch · r raw messages · esc the keys · read-only", v.width))
	}
	return st.Muted.Render(clean("enter a key's history · / filter keys · F watch · r raw messages · read-only", v.width))
}

// valueView is the revision under the history's cursor in full: its
// record decoded, then the value as stored, every byte sanitized.
func (v *kvView) valueView() string {
	st := v.st
	i, ok := v.histRows.index()
	if !ok {
		return st.Muted.Render("no revision here   esc back")
	}
	e := &v.history[i]
	in := newInspector(st, "revision "+commas(e.Revision), "↑/↓ scroll · ←/→ newer/older · esc back", 12, v.width)
	in.field("key", e.Key)
	in.field("operation", e.Op)
	in.field("time", e.Time.Format(time.RFC3339Nano)+" ("+sinceAgo(v.now, e.Time)+")")
	in.field("size", bytesize(uint64(e.Size)))
	if r, ok := decodeRecord(v.bucket, e.Key, e.Value); ok && e.Op == feed.KVPut {
		in.section("RECORD (" + r.kind + ")")
		for _, f := range r.fields {
			in.field(f[0], f[1])
		}
	}
	in.section(fmt.Sprintf("VALUE (%s)", bytesize(uint64(e.Size))), payloadLines(e.Value, e.Size, v.width-2)...)
	return in.view(&v.scroll, v.height-1)
}
