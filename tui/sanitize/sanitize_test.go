package sanitize_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/tui/sanitize"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLine(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		width int
		want  string
	}{
		{"plain text is returned as it is", "SAGA_ORDERS", 0, "SAGA_ORDERS"},
		{"colour codes are removed", "\x1b[31mred\x1b[0m", 0, "red"},
		{"cursor movement and screen clearing are removed", "a\x1b[2J\x1b[Hb\x1b[10;20fc", 0, "abc"},
		{"private mode sequences are removed", "\x1b[?1049hx\x1b[?25l", 0, "x"},
		{"an OSC window title ended by BEL is removed", "\x1b]0;pwned\x07ok", 0, "ok"},
		{"an OSC 52 clipboard write ended by ST is removed", "\x1b]52;c;ZXZpbA==\x1b\\ok", 0, "ok"},
		{"an OSC 8 hyperlink keeps only its text", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", 0, "link"},
		{"DCS, APC and PM strings are removed", "a\x1bPq#0\x1b\\b\x1b_apc\x1b\\c\x1b^pm\x07d", 0, "abcd"},
		{"an unterminated OSC swallows the rest", "ok\x1b]0;never ends", 0, "ok"},
		{"a lone ESC at the end is removed", "ok\x1b", 0, "ok"},
		{"two-byte escapes are removed", "a\x1b7b\x1b8c\x1bcd", 0, "abcd"},
		{"charset designations are removed", "a\x1b(Bb", 0, "ab"},
		{"C1 CSI is removed with its parameters", "a\u009b31mb", 0, "ab"},
		{"C1 OSC is removed up to C1 ST", "a\u009d0;title\u009cb", 0, "ab"},
		{"raw 8-bit CSI is invalid UTF-8 and replaced", "a\x9b31mb", 0, "a\uFFFD31mb"},
		{"newlines, tabs and carriage returns become spaces", "a\nb\tc\rd", 0, "a b c d"},
		{"other C0 controls and DEL are removed", "a\x00b\x07c\x08d\x7fe", 0, "abcde"},
		{"invalid UTF-8 is replaced", "a\xff\xfeb", 0, "a\uFFFD\uFFFDb"},
		{"bidi overrides are removed", "user\u202Egnp.exe", 0, "usergnp.exe"},
		{"bidi isolates are removed", "a\u2066b\u2069c", 0, "abc"},
		{"unicode line separators are removed", "a\u2028b\u2029c", 0, "abc"},
		{"non-ASCII text is kept", "café ✓ 注文", 0, "café ✓ 注文"},
		{"a long value is cut with an ellipsis", "abcdefghij", 5, "abcd…"},
		{"a value of exactly the width is kept", "abcde", 5, "abcde"},
		{"wide characters are cut by cells", "注文注文", 5, "注文…"},
		{"width is measured after cleaning", "\x1b[31mabc\x1b[0m", 3, "abc"},
		{"an empty string stays empty", "", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize.Line(tt.in, tt.width); got != tt.want {
				t.Errorf("Line(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		maxBytes int
		want     string
	}{
		{"line breaks are kept", "a\nb\r\nc", 0, "a\nb\nc"},
		{"a lone carriage return becomes a space", "a\rb", 0, "a b"},
		{"escapes are removed across lines", "{\n  \"x\": \"\x1b[31m1\x1b[0m\"\n}", 0, "{\n  \"x\": \"1\"\n}"},
		{"tabs become spaces", "a\tb", 0, "a b"},
		{"a long payload is cut at a rune boundary", "ééééé", 6, "é…"},
		{"a payload within the limit is kept", "abc", 3, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize.Text(tt.in, tt.maxBytes); got != tt.want {
				t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.maxBytes, got, tt.want)
			}
		})
	}
}

func TestLineDoesNotAllocateForCleanText(t *testing.T) {
	in := "saga.v1.payment.cmd.charge"
	if n := testing.AllocsPerRun(100, func() { _ = sanitize.Line(in, 40) }); n != 0 {
		t.Errorf("Line allocated %v times for clean text, want 0", n)
	}
}

// FuzzSanitize checks the promises of Line and Text on any input: no
// control byte or escape reaches the terminal, the result is valid UTF-8,
// within its width or size, and cleaning twice changes nothing.
func FuzzSanitize(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "\x1b[31mred\x1b[0m", "\x1b]52;c;ZXZpbA==\x07", "\x1b]8;;http://x\x1b\\a\x1b]8;;\x1b\\",
		"a\u009b2Jb", "\xff\xfe", "注文\u202e", "a\r\nb\tc", "\x1bP\x1b[31m\x1b\\", "\x1b", "\u009d", "ééé",
	} {
		f.Add(seed, 8)
	}
	f.Fuzz(func(t *testing.T, in string, width int) {
		width = width % 200
		line := sanitize.Line(in, width)
		checkSafe(t, "Line", line, false)
		if width > 0 && ansi.StringWidth(line) > width {
			t.Errorf("Line(%q, %d) = %q is %d cells wide", in, width, line, ansi.StringWidth(line))
		}
		if again := sanitize.Line(line, width); again != line {
			t.Errorf("Line is not idempotent: %q -> %q -> %q", in, line, again)
		}

		maxBytes := width * 4
		text := sanitize.Text(in, maxBytes)
		checkSafe(t, "Text", text, true)
		if maxBytes >= len(sanitize.Ellipsis) && len(text) > maxBytes {
			t.Errorf("Text(%q, %d) = %q is %d bytes", in, maxBytes, text, len(text))
		}
		if again := sanitize.Text(text, maxBytes); again != text {
			t.Errorf("Text is not idempotent: %q -> %q -> %q", in, text, again)
		}
	})
}

func checkSafe(t *testing.T, fn, out string, newlines bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%s returned invalid UTF-8: %q", fn, out)
	}
	for _, r := range out {
		switch {
		case r == '\n' && newlines:
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			t.Fatalf("%s returned control %U in %q", fn, r, out)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			t.Fatalf("%s returned bidi control %U in %q", fn, r, out)
		}
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Fatalf("%s returned an ESC in %q", fn, out)
	}
}
