package tui

import (
	"math"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/sagascope/sagascope/tui/feed"
)

// list is a screen's filterable, sortable list of items, drawn as a table.
// The screen hands it the items of each snapshot and says how an item
// matches the filter, compares under a sort column and draws as a row. The
// list keeps the items that pass, in order, and builds rows only for the
// lines on screen: 10,000 sagas cost a filter pass per snapshot, not
// 10,000 formatted rows.
type list[T any] struct {
	spec   listSpec[T]
	table  table
	filter *filter
	all    []T
	// items are the ones that pass the filter, in the order shown.
	items []T
	// sort indexes spec.sorts.
	sort int
	desc bool
	// sorted is sortByValue's buffer.
	sorted []T
}

// listSpec is what a screen tells its list about the items.
type listSpec[T any] struct {
	cols  []column
	empty string // what an empty list says
	// key identifies an item across snapshots: the cursor follows it.
	key func(T) string
	// is, if set, reports whether key(x) is k without building key(x).
	is func(x T, k string) bool
	// match reports whether the item passes f, with f.matches on the
	// item's text fields.
	match func(f *filter, x T) bool
	row   func(T) row
	// sorts are the orders s steps through; the first is the default and
	// sorts ascending, the others (numbers) start biggest first. Without
	// sorts the items keep the order they were given in.
	sorts []sortBy[T]
	// tail is for items given newest first: with the cursor on the first
	// row, the list follows the newest item, as a tail does, instead of
	// keeping the item that was first.
	tail bool
}

// sortBy orders items by a column, ascending: by compare, or by value
// with ties in the default order. A value sort is the fast one: 100,000
// rows are sorted by number keys, without a call per comparison.
type sortBy[T any] struct {
	col     int
	compare func(a, b T) int
	value   func(T) float64
}

// keyed is an item's sort key (sortBits of its value) and its place in the
// default order.
type keyed struct {
	k uint64
	i int32
}

// sortBits maps a float to bits that sort as the floats do, and the other
// way round for desc.
func sortBits(f float64, desc bool) uint64 {
	u := math.Float64bits(f)
	if u>>63 == 1 {
		u = ^u
	} else {
		u |= 1 << 63
	}
	if desc {
		u = ^u
	}
	return u
}

// radixSort sorts keys by k, stably (ties keep their order), a byte at a
// time; passes in which every key has the same byte are skipped. It uses
// buf, as long as keys, and returns whichever of the two holds the result.
func radixSort(keys, buf []keyed) []keyed {
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for _, x := range keys {
			count[byte(x.k>>shift)]++
		}
		if count[byte(keys[0].k>>shift)] == len(keys) {
			continue
		}
		pos := 0
		for b, n := range count {
			count[b] = pos
			pos += n
		}
		for _, x := range keys {
			b := byte(x.k >> shift)
			buf[count[b]] = x
			count[b]++
		}
		keys, buf = buf, keys
	}
	return keys
}

// newList makes a list with a filter of its own, or shared with another
// list when shared is not nil.
func newList[T any](st *Styles, spec listSpec[T], shared *filter) *list[T] {
	l := &list[T]{spec: spec, table: newTable(spec.cols), filter: shared}
	if l.filter == nil {
		f := newFilter(st)
		l.filter = &f
	}
	l.table.empty = spec.empty
	if len(spec.sorts) > 0 {
		l.table.sortCol = spec.sorts[0].col
	}
	return l
}

func (l *list[T]) setSize(width, height int) { l.table.setSize(width, height) }

// set replaces the items; the screen calls it with each snapshot.
func (l *list[T]) set(all []T) {
	l.all = all
	if l.spec.tail && l.table.cursor == 0 {
		l.table.selKey = "" // nothing to keep: the cursor stays on row 0
	}
	l.refresh()
}

// refresh filters and sorts the items again.
func (l *list[T]) refresh() {
	l.items = l.items[:0]
	if l.filter.needle == "" {
		// Everything passes: skip match, which builds its fields (a
		// joined string per trace) before it can say so.
		l.items = append(l.items, l.all...)
	} else {
		for _, x := range l.all {
			if l.spec.match(l.filter, x) {
				l.items = append(l.items, x)
			}
		}
	}
	if len(l.spec.sorts) > 0 && l.spec.sorts[l.sort].value != nil {
		l.sortByValue(l.spec.sorts[l.sort].value, l.spec.sorts[0].compare)
		l.table.sortCol, l.table.desc = l.spec.sorts[l.sort].col, l.desc
	} else if len(l.spec.sorts) > 0 {
		by, first := l.spec.sorts[l.sort].compare, l.spec.sorts[0].compare
		slices.SortStableFunc(l.items, func(a, b T) int {
			c := by(a, b)
			if l.desc {
				c = -c
			}
			if c == 0 {
				c = first(a, b) // ties in the default order
			}
			return c
		})
		l.table.sortCol, l.table.desc = l.spec.sorts[l.sort].col, l.desc
	}
	l.table.isAt = l.isAt
	l.table.setLen(len(l.items), l.keyAt, l.rowAt)
}

// sortByValue sorts the items by value, ties in the default order (first),
// which the feed gives them in; they are put in it only when they are not.
func (l *list[T]) sortByValue(value func(T) float64, first func(a, b T) int) {
	if !slices.IsSortedFunc(l.items, first) {
		slices.SortStableFunc(l.items, first)
	}
	if len(l.items) == 0 {
		return
	}
	keys := make([]keyed, len(l.items))
	for i, x := range l.items {
		keys[i] = keyed{k: sortBits(value(x), l.desc), i: int32(i)}
	}
	keys = radixSort(keys, make([]keyed, len(keys)))
	sorted := l.sorted[:0]
	for _, k := range keys {
		sorted = append(sorted, l.items[k.i])
	}
	// The two swap: no allocation once they are big enough.
	l.items, l.sorted = sorted, l.items
}

func (l *list[T]) keyAt(i int) string { return l.spec.key(l.items[i]) }

// isAt reports whether item i has key k.
func (l *list[T]) isAt(i int, k string) bool {
	if l.spec.is != nil {
		return l.spec.is(l.items[i], k)
	}
	return l.spec.key(l.items[i]) == k
}
func (l *list[T]) rowAt(i int) row { return l.spec.row(l.items[i]) }

// onView is the items on screen.
func (l *list[T]) onView() []T {
	from, to := l.table.onView()
	return l.items[from:to]
}

// len is the number of items that pass the filter.
func (l *list[T]) len() int { return len(l.items) }

// selected is the item under the cursor.
func (l *list[T]) selected() (T, bool) {
	i, ok := l.table.index()
	if !ok {
		var zero T
		return zero, false
	}
	return l.items[i], true
}

// find returns the item with key k among all the items, filtered or not.
func (l *list[T]) find(k string) (T, bool) {
	for _, x := range l.all {
		if l.spec.key(x) == k {
			return x, true
		}
	}
	var zero T
	return zero, false
}

// typing reports that the filter is taking text.
func (l *list[T]) typing() bool { return l.filter.typing }

// update handles a key: every key while the filter is typed, then the
// filter, sort and movement keys. It reports whether the key was the
// list's.
func (l *list[T]) update(msg tea.KeyMsg, k *KeyMap) (tea.Cmd, bool) {
	if l.filter.typing {
		changed, cmd := l.filter.update(msg)
		if changed {
			l.refresh()
		}
		return cmd, true
	}
	sorts := len(l.spec.sorts)
	switch {
	case key.Matches(msg, k.Filter):
		return l.filter.start(), true
	case sorts > 0 && key.Matches(msg, k.Sort):
		l.sort = (l.sort + 1) % sorts
		l.desc = l.sort != 0
		l.refresh()
		return nil, true
	case sorts > 0 && key.Matches(msg, k.Reverse):
		l.desc = !l.desc
		l.refresh()
		return nil, true
	}
	return nil, l.table.update(msg, k)
}

// back clears the filter; it reports whether there was one.
func (l *list[T]) back() bool {
	if l.filter.clear() {
		l.refresh()
		return true
	}
	return false
}

func (l *list[T]) view(st *Styles) string { return l.table.view(st) }

// filterView is the filter line, "" when there is no filter.
func (l *list[T]) filterView(st *Styles, width int) string { return l.filter.view(st, width) }

// listScreen is a screen that is one list of the snapshot's items: a
// heading, the list, and lines about the item under the cursor.
type listScreen[T comparable] struct {
	st    *Styles
	keys  *KeyMap
	title string
	list  *list[T]
	// items picks the list's items from a snapshot.
	items func(feed.Snapshot) []T
	// heading is the line above the list; shown is how many items pass
	// the filter. The filter is appended to it.
	heading func(snap feed.Snapshot, shown int) string
	// detail says more about the selected item in detailLines lines.
	detail      func(x T, width int) string
	detailLines int
	// stream names an item's stream, for StreamsOnView; nil for lists of
	// other things.
	stream func(x T) string
	// target is the key of the item a diagnosis about stream and
	// consumer points at, for Select; nil for lists it cannot point into.
	target func(stream, consumer string) string

	snap          feed.Snapshot
	width, height int
}

func (s *listScreen[T]) Title() string { return s.title }

// StreamsOnView implements streamsOnView: the streams of the rows on
// screen, each once.
func (s *listScreen[T]) StreamsOnView() []string {
	if s.stream == nil {
		return nil
	}
	var out []string
	for _, x := range s.list.onView() {
		if name := s.stream(x); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// Select implements selector: it puts the cursor on the item target
// names, clearing a filter that hides it.
func (s *listScreen[T]) Select(stream, consumer string) bool {
	if s.target == nil {
		return false
	}
	k := s.target(stream, consumer)
	if _, ok := s.list.find(k); !ok {
		return false
	}
	s.list.filter.clear()
	s.list.table.selKey = k
	s.list.refresh()
	return true
}

func (s *listScreen[T]) SetSize(w, h int) {
	s.width, s.height = w, h
	s.list.setSize(w, h-1-s.detailLines)
}

func (s *listScreen[T]) Keys() []key.Binding {
	return []key.Binding{s.keys.Filter, s.keys.Sort, s.keys.Reverse}
}

func (s *listScreen[T]) Capturing() bool { return s.list.typing() }
func (s *listScreen[T]) Back() bool      { return s.list.back() }
func (s *listScreen[T]) Focus() tea.Cmd  { return nil }

func (s *listScreen[T]) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case snapshotMsg:
		s.snap = msg.snap
		items := s.items(s.snap)
		if samePoll(items, s.list.all) {
			return nil // between polls: nothing to filter and sort again
		}
		s.list.set(items)
	case tea.KeyMsg:
		cmd, _ := s.list.update(msg, s.keys)
		return cmd
	}
	return nil
}

func (s *listScreen[T]) View() string {
	var b strings.Builder
	b.WriteString(s.heading(s.snap, s.list.len()))
	if f := s.list.filterView(s.st, s.width-lipgloss.Width(b.String())-3); f != "" {
		b.WriteString("   " + f)
	}
	b.WriteString("\n")
	b.WriteString(s.list.view(s.st))
	if x, ok := s.list.selected(); ok && s.detail != nil {
		if d := s.detail(x, s.width); d != "" {
			b.WriteString("\n" + d)
		}
	}
	return b.String()
}

// samePoll reports whether a and b point into the same poll's slice: the
// feed polls once a second and sends up to ten snapshots a second, which
// between polls share the poll's slices, never changed after the poll that
// built them. Two slices made by pointers of the same length whose first
// and last elements are the same address point into the same array. On
// 100,000 rows, filtering and sorting again is most of a frame.
func samePoll[T comparable](a, b []T) bool {
	n := len(a)
	return b != nil && n == len(b) && (n == 0 || a[0] == b[0] && a[n-1] == b[n-1])
}

// pointers points at each element of xs: the lists hold pointers into the
// snapshot rather than copies of its structs.
func pointers[T any](xs []T) []*T {
	out := make([]*T, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}
