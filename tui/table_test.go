package tui

import (
	"strconv"
	"testing"
)

// What the table draws for the Overview's services, beside what the list
// screens need: a static table, hidden columns, spans and drawn cells.
func TestTableLaysOutEveryKindOfCell(t *testing.T) {
	cols := []column{{title: "A", width: 3}, {title: "B", width: 2, right: true}, {title: "C", width: 4, flex: true}}
	rows := []row{
		{cells: []cell{{text: "x"}, {text: "1"}, {text: "last"}}},
		{cells: []cell{{text: "y"}, {text: "a span cut to its room", span: true}}},
		{cells: []cell{{text: "z"}, {text: "2"}, {draw: func(_ *Styles, width int) string { return "w=" + strconv.Itoa(width) }}}},
	}
	tests := []struct {
		name   string
		static bool
		hideB  bool
		width  int
		want   string
	}{
		{"a list table leaves a gutter for the cursor and marks the row under it", false, false, 16,
			"  A    B C     \n▸ x    1 last  \n  y   a span c…\n  z    2 w=6"},
		{"a static table has no gutter and no cursor", true, false, 14,
			"A    B C     \nx    1 last  \ny   a span c…\nz    2 w=6"},
		{"a hidden column and its cells never show, however wide the table", true, true, 14,
			"A   C        \nx   last     \ny            \nz   w=9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := append([]column(nil), cols...)
			cs[1].hide = tt.hideB
			tb := newTable(cs)
			tb.static = tt.static
			tb.setSize(tt.width, 10)
			tb.setLen(len(rows), func(i int) string { return rows[i].cells[0].text }, func(i int) row { return rows[i] })
			if got := tb.view(plainStyles()); got != tt.want {
				t.Errorf("view:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

// A table with no rows says so, if it has something to say.
func TestAnEmptyTableSaysWhatItWasGiven(t *testing.T) {
	tb := newTable([]column{{title: "A", width: 3}})
	tb.static = true
	tb.setSize(10, 5)
	tb.setLen(0, nil, nil)
	if got := tb.view(plainStyles()); got != "A  " {
		t.Errorf("an empty static table with nothing to say should be its header alone, got %q", got)
	}
	tb.empty = "none"
	if got := tb.view(plainStyles()); got != "A  \n  none" {
		t.Errorf("an empty table should say what it was given, got %q", got)
	}
}
