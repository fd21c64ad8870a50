package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// maxHexBytes bounds the bytes of a binary payload drawn as hex: 128
// lines of 16, enough to recognise a format, not a dump to page through.
const maxHexBytes = 2 << 10

// payloadLines renders a payload for reading: indented if it is JSON,
// sanitized text if it is UTF-8 text, a hex dump if it is binary. size is
// the payload's length as stored, which p may be cut from.
func payloadLines(p []byte, size, width int) []string {
	if len(p) == 0 {
		if size > 0 {
			return []string{fmt.Sprintf("  (%d bytes not kept)", size)}
		}
		return []string{"  (empty)"}
	}
	var out []string
	var pretty bytes.Buffer
	text := ""
	switch {
	case json.Valid(p) && json.Indent(&pretty, p, "", "  ") == nil:
		text = pretty.String()
	case utf8.Valid(p):
		text = string(p)
	default:
		out = hexLines(p[:min(len(p), maxHexBytes)], width)
		if size > maxHexBytes {
			out = append(out, fmt.Sprintf("  … %d more bytes", size-maxHexBytes))
		}
		return out
	}
	for _, l := range strings.Split(sanitize.Text(text, feed.MaxPayload*2), "\n") {
		out = append(out, "  "+sanitize.Line(l, width))
	}
	if size > len(p) {
		out = append(out, fmt.Sprintf("  … %d more bytes not kept", size-len(p)))
	}
	return out
}

// hexLines is a hex dump of p, 16 bytes a line (8 when the width is under
// 78), with the printable ASCII beside it; every other byte is a dot, so
// nothing of p reaches the terminal raw.
func hexLines(p []byte, width int) []string {
	per := 16
	if width < 78 {
		per = 8
	}
	var out []string
	for off := 0; off < len(p); off += per {
		chunk := p[off:min(off+per, len(p))]
		var b strings.Builder
		fmt.Fprintf(&b, "  %08x  ", off)
		for i := range per {
			if i < len(chunk) {
				fmt.Fprintf(&b, "%02x ", chunk[i])
			} else {
				b.WriteString("   ")
			}
		}
		b.WriteString(" |")
		for _, c := range chunk {
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			b.WriteByte(c)
		}
		b.WriteString("|")
		out = append(out, b.String())
	}
	return out
}

// headerLines lists a message's headers, sorted by name, sanitized.
func headerLines(st *Styles, h map[string][]string, width int) []string {
	if len(h) == 0 {
		return []string{st.Muted.Render("  (none)")}
	}
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		for _, v := range h[n] {
			out = append(out, "  "+st.Accent.Render(clean(n, 32))+": "+clean(v, width-36))
		}
	}
	return out
}

// inspector builds the lines of a thing shown in full: a title line that
// stays while the rest scrolls, name/value lines with the names in a
// column, sections. Values are sanitized as they are added.
type inspector struct {
	st        *Styles
	nameWidth int
	width     int
	lines     []string
}

func newInspector(st *Styles, title, hint string, nameWidth, width int) *inspector {
	return &inspector{st: st, nameWidth: nameWidth, width: width, lines: []string{st.Strong.Render(title) + st.Muted.Render("   "+hint)}}
}

func (in *inspector) field(name, value string) {
	in.lines = append(in.lines, in.st.Muted.Render(fit(name, in.nameWidth))+clean(value, in.width-in.nameWidth))
}

// section starts a section: a blank line, its title, then lines.
func (in *inspector) section(title string, lines ...string) {
	in.lines = append(append(in.lines, "", in.st.Section.Render(title)), lines...)
}

// view is the lines scrolled by *scroll into room lines.
func (in *inspector) view(scroll *int, room int) string { return scrolled(in.lines, scroll, room) }
