package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// table is the scrolling, selectable table every list screen uses.
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
	n      int
	keyAt  func(i int) string
	rowAt  func(i int) row
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
	// empty is what an empty table says.
	empty string
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
	avail := t.width - 2 // the cursor gutter
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
			if c.prio <= limit {
				need += c.width + 1
			}
		}
		if need <= avail {
			break
		}
	}
	used, flexes := 0, 0
	for i, c := range t.cols {
		if c.prio > limit {
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
			if keyAt(i) == t.selKey {
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

func (t *table) bodyHeight() int { return max(1, t.height-1) }

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
	b.WriteString("  ")
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
		b.WriteString("\n  ")
		b.WriteString(st.Muted.Render(t.empty))
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
	if r == t.cursor {
		var line strings.Builder
		line.WriteString("▸ ")
		for j, i := range t.shown {
			if j > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(t.cellText(rw, i, j))
		}
		b.WriteString(st.Selected.Render(line.String()))
		return
	}
	b.WriteString("  ")
	// One render per run of cells that share a role.
	var run strings.Builder
	runRole := roleNone
	flush := func() {
		b.WriteString(st.paint(runRole, run.String()))
		run.Reset()
	}
	for j, i := range t.shown {
		cr := rw.role
		if i < len(rw.cells) && rw.cells[i].role != roleNone {
			cr = rw.cells[i].role
		}
		if cr != runRole {
			flush()
			runRole = cr
		}
		if j > 0 {
			run.WriteByte(' ')
		}
		run.WriteString(t.cellText(rw, i, j))
	}
	flush()
}

func (t *table) cellText(rw *row, i, j int) string {
	text := ""
	if i < len(rw.cells) {
		text = rw.cells[i].text
	}
	if t.cols[i].right {
		return fitRight(text, t.widths[j])
	}
	return fit(text, t.widths[j])
}
