package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
)

// filter is the `/` filter of a list screen: while typing, every key goes
// to it; enter keeps the filter, esc clears it.
type filter struct {
	input  textinput.Model
	typing bool
	needle string // lower-cased value
}

func newFilter(st *Styles) filter {
	in := textinput.New()
	in.Prompt = "/"
	in.PromptStyle = st.Accent
	in.Placeholder = "type to filter"
	in.PlaceholderStyle = st.Muted
	in.CharLimit = 64
	// A static cursor: a blinking one sends a message twice a second for
	// nothing.
	in.Cursor.SetMode(cursor.CursorStatic)
	return filter{input: in}
}

func (f *filter) start() tea.Cmd {
	f.typing = true
	return f.input.Focus()
}

// update handles a key while typing; it reports whether the filter text
// changed.
func (f *filter) update(msg tea.KeyMsg) (changed bool, cmd tea.Cmd) {
	switch msg.Type {
	case tea.KeyEnter:
		f.typing = false
		f.input.Blur()
		return false, nil
	case tea.KeyEsc:
		f.clear()
		return true, nil
	}
	f.input, cmd = f.input.Update(msg)
	next := strings.ToLower(strings.TrimSpace(f.input.Value()))
	changed = next != f.needle
	f.needle = next
	return changed, cmd
}

// clear empties the filter and stops typing; it reports whether there was
// anything to clear.
func (f *filter) clear() bool {
	had := f.needle != "" || f.typing
	f.input.Reset()
	f.input.Blur()
	f.typing, f.needle = false, ""
	return had
}

// matches reports whether any field contains the filter text.
func (f *filter) matches(fields ...string) bool {
	if f.needle == "" {
		return true
	}
	for _, s := range fields {
		if containsFold(s, f.needle) {
			return true
		}
	}
	return false
}

// containsFold is strings.Contains ignoring ASCII case, without allocating:
// it runs for every row on every refresh.
func containsFold(s, lowerNeedle string) bool {
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerNeedle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// view shows the filter line: the input while typing, the kept filter
// otherwise, nothing when there is none.
func (f *filter) view(st *Styles, width int) string {
	switch {
	case f.typing:
		f.input.Width = max(10, width-4)
		return f.input.View()
	case f.needle != "":
		return st.Accent.Render("/") + clean(f.input.Value(), width-20) + st.Muted.Render("  (esc clears)")
	}
	return ""
}
