// Package sanitize makes text that comes from the watched system safe to put
// on a terminal.
//
// Subjects, stream and consumer names, headers, payloads and error texts come
// from whoever can publish on the server. Printed raw, an escape sequence in
// a payload could move the cursor, recolour or clear the screen, set the
// window title, write to the clipboard (OSC 52) or hide text (bidi
// overrides), and a newline in a name would break the layout. Every such
// string goes through Line or Text before the dashboard draws it.
package sanitize

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Ellipsis ends a value that was cut short.
const Ellipsis = "…"

// Replacement stands for bytes that are not valid UTF-8.
const Replacement = "\uFFFD"

// Line returns s as one line of at most width terminal cells: escape
// sequences and control characters removed, tabs and line breaks turned into
// spaces, invalid UTF-8 replaced by U+FFFD, and a value wider than width cut
// with an ellipsis. width <= 0 means no limit. Line is idempotent and the
// result never contains a byte below 0x20 or DEL.
func Line(s string, width int) string {
	return limit(clean(s, false), width)
}

// Text is Line for multi-line values (payloads, long error texts): line
// breaks ("\n", "\r\n") are kept, every other control is removed, and the
// result is cut to at most maxBytes bytes (<= 0: no limit) at a rune
// boundary, with an ellipsis. Callers still cut each line to their width.
func Text(s string, maxBytes int) string {
	out := clean(s, true)
	if maxBytes <= 0 || len(out) <= maxBytes {
		return out
	}
	cut := max(0, maxBytes-len(Ellipsis))
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + Ellipsis
}

// limit cuts a clean string to width cells. Clean strings hold no escape
// sequences, so ansi's grapheme-aware width is the width lipgloss pads by.
func limit(s string, width int) string {
	if width <= 0 || ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, Ellipsis)
}

// clean removes escape sequences and control characters and repairs UTF-8.
// It returns s itself, without allocating, when nothing needs removing:
// the dashboard cleans every name on every frame, and almost all are clean.
func clean(s string, keepNewlines bool) string {
	if isClean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(Replacement)
			i++
			continue
		case r == 0x1b: // ESC: skip the whole sequence it starts
			i = skipEscape(s, i+1)
			continue
		case r == 0x9b: // C1 CSI, as some terminals read it in UTF-8 mode
			i = skipCSI(s, i+size)
			continue
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // C1 DCS, SOS, OSC, PM, APC
			i = skipString(s, i+size)
			continue
		case r == '\n':
			if keepNewlines {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\r':
			if !keepNewlines || i+1 >= len(s) || s[i+1] != '\n' {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteByte(' ')
		case isControl(r):
			// dropped
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isClean(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && !(keepNewlines && c == '\n') || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			// Slow path for non-ASCII: check the runes themselves.
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 && !(keepNewlines && r == '\n') || isControl(r) {
					return false
				}
			}
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

// isControl reports runes that must not reach the terminal: C0 and C1
// controls, DEL, the bidirectional overrides, isolates and marks that make
// a terminal show text in another order than it is ("Trojan Source"), and
// the Unicode line separators some terminals break lines at.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c,
		r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// skipEscape returns the index after the escape sequence whose ESC ends
// just before i. An unterminated sequence runs to the end of s.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		return skipCSI(s, i+1)
	case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC: strings ended by BEL or ST
		return skipString(s, i+1)
	}
	// nF sequences: intermediates 0x20-0x2F, then one final byte.
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI skips parameter bytes (0x30-0x3F), intermediate bytes
// (0x20-0x2F) and the final byte (0x40-0x7E) of a control sequence.
// Anything else ends the sequence early, as a terminal would cancel it.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString skips a control string up to and including its terminator:
// BEL, ST (ESC \) or C1 ST (U+009C).
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == 0x9c:
			return i + 2
		}
		i++
	}
	return i
}
