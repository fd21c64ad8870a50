package tui

import (
	"cmp"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// table is the one table layout of the dashboard: the scrolling,
// selectable table of every list screen, and, static, the Overview's
// services.
//
// It is not bubbles/table: that one cannot colour a row by its state (cells
// are cut with go-runewidth, which counts escape sequences as text, so a
// pre-styled cell is cut mid-sequence), and it renders every cell through
// two lipgloss styles, which measured too slow for 1,000 rows at 10 frames a
// second. This one renders only the rows on screen, one style call per run
// of same-role cells, and leaves sorting and filtering to list, which
// knows how to ask the screen what the values mean.
type table struct {
	cols []column
	// n rows; keyAt and rowAt describe row i. rowAt is called only for the
	// rows on screen, when drawn.
	n     int
	keyAt func(i int) string
	rowAt func(i int) row
	// isAt, if set, reports whether row i has key k faster than keyAt.
	isAt   func(i int, k string) bool
	cursor int
	// selKey is the key of the row under the cursor: the cursor follows
	// it when the rows change.
	selKey string
	offset int
	width  int
	height int // lines, the header included

	// shown are the indexes of the columns that fit, widths their widths.
	shown  []int
	widths []int

	sortCol int // column the rows are sorted by, -1 for none
	desc    bool
	// empty is what an empty table says, if anything.
	empty string
	// static tables show every row, with no cursor and no gutter for it:
	// a summary to read, not a list to move through.
	static bool
}

// column is a table column. Narrow terminals drop the columns with the
// highest prio first; prio 0 columns always show.
type column struct {
	title string
	width int
	right bool
	// flex columns share the width left over.
	flex bool
	prio int
	// hide keeps a column out of the layout whatever the width, so a
	// screen can show a column only from some width on (as the Overview's
	// wide columns) while its rows keep one cell per column.
	hide bool
}

// row is one table row. The cursor follows an item across refreshes by
// the key listSpec.key gives it, not by anything in the row.
type row struct {
	cells []cell
	role  role // for cells without their own role
}

type cell struct {
	text string // plain text, already sanitized
	role role
	// draw, if set, renders a cell that text and one role cannot say
	// (a bar, a list of breakers each in its own role) in the column's
	// width. The table neither cuts nor pads what it returns: a drawn
	// cell fills its width, unless it is the row's last. Under the cursor
	// it loses its styles to the cursor's.
	draw func(st *Styles, width int) string
	// span makes the cell's text take the room of the columns after it
	// too, which are not drawn: a row that has one thing to say, such as
	// a service not reporting. A span ends the row, so it is cut to the
	// room but not padded.
	span bool
}

func newTable(cols []column) table {
	return table{cols: cols, sortCol: -1}
}

func (t *table) setSize(width, height int) {
	t.width, t.height = width, max(height, 2)
	t.layout()
	t.scroll()
}

// layout chooses the columns that fit the width and gives the flex columns
// what is left.
func (t *table) layout() {
	avail := t.width - len(t.gutter())
	t.shown, t.widths = t.shown[:0], t.widths[:0]
	maxPrio := 0
	for _, c := range t.cols {
		maxPrio = max(maxPrio, c.prio)
	}
	// Drop the highest priorities until the minimum widths fit.
	limit := maxPrio
	for ; limit > 0; limit-- {
		need := 0
		for _, c := range t.cols {
			if c.prio <= limit && !c.hide {
				need += c.width + 1
			}
		}
		if need <= avail {
			break
		}
	}
	used, flexes := 0, 0
	for i, c := range t.cols {
		if c.prio > limit || c.hide {
			continue
		}
		t.shown = append(t.shown, i)
		t.widths = append(t.widths, c.width)
		used += c.width + 1
		if c.flex {
			flexes++
		}
	}
	if spare := avail - used; spare > 0 && flexes > 0 {
		for j, i := range t.shown {
			if t.cols[i].flex {
				add := spare / flexes
				t.widths[j] += add
				spare -= add
				flexes--
			}
		}
	}
}

// setLen replaces the rows with n rows described by keyAt and rowAt,
// keeping the cursor on the row with the same key if it is still there.
func (t *table) setLen(n int, keyAt func(int) string, rowAt func(int) row) {
	t.n, t.keyAt, t.rowAt = n, keyAt, rowAt
	if t.selKey != "" {
		for i := range n {
			if t.isAt != nil && t.isAt(i, t.selKey) || t.isAt == nil && keyAt(i) == t.selKey {
				t.cursor = i
				t.scroll()
				return
			}
		}
	}
	t.cursor = max(0, min(t.cursor, n-1))
	t.follow()
}

// follow scrolls to the cursor and remembers the key under it.
func (t *table) follow() {
	t.scroll()
	t.selKey = ""
	if t.cursor < t.n {
		t.selKey = t.keyAt(t.cursor)
	}
}

// index returns the index of the row under the cursor.
func (t *table) index() (int, bool) {
	return t.cursor, t.cursor >= 0 && t.cursor < t.n
}

// bodyHeight is the number of rows on screen: all of a static table's.
func (t *table) bodyHeight() int {
	if t.static {
		return max(1, t.n)
	}
	return max(1, t.height-1)
}

// gutter is the room left of the cells for the cursor.
func (t *table) gutter() string {
	if t.static {
		return ""
	}
	return "  "
}

// onView is the range of rows on screen, [from, to).
func (t *table) onView() (from, to int) {
	return t.offset, min(t.n, t.offset+t.bodyHeight())
}

// scroll moves the window so the cursor is on screen.
func (t *table) scroll() {
	h := t.bodyHeight()
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.cursor >= t.offset+h {
		t.offset = t.cursor - h + 1
	}
	t.offset = max(0, min(t.offset, t.n-h))
}

// update moves the cursor; it reports whether msg was a movement key.
func (t *table) update(msg tea.KeyMsg, k *KeyMap) bool {
	switch {
	case key.Matches(msg, k.Up):
		t.cursor--
	case key.Matches(msg, k.Down):
		t.cursor++
	case key.Matches(msg, k.PageUp):
		t.cursor -= t.bodyHeight()
	case key.Matches(msg, k.PageDown):
		t.cursor += t.bodyHeight()
	case key.Matches(msg, k.Top):
		t.cursor = 0
	case key.Matches(msg, k.Bottom):
		t.cursor = t.n - 1
	default:
		return false
	}
	t.cursor = max(0, min(t.cursor, t.n-1))
	t.follow()
	return true
}

// view renders the header and the rows on screen.
func (t *table) view(st *Styles) string {
	var b strings.Builder
	b.Grow((t.width + 16) * t.height)
	b.WriteString(t.gutter())
	var hdr strings.Builder
	for j, i := range t.shown {
		c := t.cols[i]
		title := c.title
		if i == t.sortCol {
			if t.desc {
				title += "↓"
			} else {
				title += "↑"
			}
		}
		if j > 0 {
			hdr.WriteByte(' ')
		}
		if c.right {
			hdr.WriteString(fitRight(title, t.widths[j]))
		} else {
			hdr.WriteString(fit(title, t.widths[j]))
		}
	}
	b.WriteString(st.Header.Render(hdr.String()))
	if t.n == 0 {
		if t.empty != "" {
			b.WriteString("\n  ")
			b.WriteString(st.Muted.Render(t.empty))
		}
		return b.String()
	}
	end := min(t.n, t.offset+t.bodyHeight())
	for r := t.offset; r < end; r++ {
		b.WriteByte('\n')
		t.renderRow(&b, st, r)
	}
	return b.String()
}

func (t *table) renderRow(b *strings.Builder, st *Styles, r int) {
	rwv := t.rowAt(r)
	rw := &rwv
	if r == t.cursor && !t.static {
		var line strings.Builder
		line.WriteString("▸ ")
		for j, i := range t.shown {
			if j > 0 {
				line.WriteByte(' ')
			}
			text, _, drawn, span := t.cellAt(st, rw, i, j)
			if drawn {
				text = ansi.Strip(text)
			}
			line.WriteString(text)
			if span {
				break
			}
		}
		b.WriteString(st.Selected.Render(line.String()))
		return
	}
	b.WriteString(t.gutter())
	// One render per run of cells that share a role.
	var run strings.Builder
	runRole := roleNone
	flush := func() {
		b.WriteString(st.paint(runRole, run.String()))
		run.Reset()
	}
	for j, i := range t.shown {
		text, cr, drawn, span := t.cellAt(st, rw, i, j)
		if drawn {
			if j > 0 {
				run.WriteByte(' ')
			}
			flush()
			b.WriteString(text)
			continue
		}
		if cr != runRole {
			flush()
			runRole = cr
		}
		if j > 0 {
			run.WriteByte(' ')
		}
		run.WriteString(text)
		if span {
			break
		}
	}
	flush()
}

// cellAt is the cell of rw in column i, shown j-th, as it is drawn: its
// text fitted to the column (or, drawn, styled), its role, and whether it
// spans the rest of the row.
func (t *table) cellAt(st *Styles, rw *row, i, j int) (text string, r role, drawn, span bool) {
	var c cell
	if i < len(rw.cells) {
		c = rw.cells[i]
	}
	r = cmp.Or(c.role, rw.role)
	switch {
	case c.draw != nil:
		return c.draw(st, t.widths[j]), r, true, false
	case c.span:
		room := len(t.widths[j:]) - 1 // the separators
		for _, w := range t.widths[j:] {
			room += w
		}
		if ansi.StringWidth(c.text) > room {
			return ansi.Truncate(c.text, room, "…"), r, false, true
		}
		return c.text, r, false, true
	case t.cols[i].right:
		return fitRight(c.text, t.widths[j]), r, false, false
	}
	return fit(c.text, t.widths[j]), r, false, false
}
