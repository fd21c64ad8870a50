package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// Formatting helpers. Numbers are kept short so columns stay narrow at
// 80x24: 1234 -> "1,234", 123456 -> "123k", 12345678 -> "12.3M".

func count(n uint64) string {
	switch {
	case n < 10_000:
		return commas(n)
	case n < 1_000_000:
		return strconv.FormatUint(n/1000, 10) + "k"
	case n < 10_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n < 1_000_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1fG", float64(n)/1e9)
}

func commas(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func bytesize(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	v, suffix := float64(n), "KMGTPE"
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%ciB", v, suffix[i])
	}
	return fmt.Sprintf("%.0f%ciB", v, suffix[i])
}

// rate formats a per-second rate.
func rate(v float64) string {
	switch {
	case math.IsNaN(v) || v <= 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v < 10_000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return count(uint64(v))
}

// dur formats a latency or a duration compactly: 850µs, 45ms, 1.2s, 2m03s.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// age formats how long ago something happened, at second resolution.
func age(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// since is age measured from a server or service time; zero times are
// "never".
func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return age(now.Sub(t))
}

// sinceAgo is since in a sentence: "3s ago", "now", "never".
func sinceAgo(now, t time.Time) string {
	if s := since(now, t); s != "now" && s != "never" {
		return s + " ago"
	}
	return since(now, t)
}

// bar draws used/capacity in width cells.
func (s *Styles) bar(used, capacity, width int) string {
	if width <= 0 {
		return ""
	}
	full := 0
	if capacity > 0 {
		full = int(math.Round(float64(min(used, capacity)) / float64(capacity) * float64(width)))
	}
	if used > 0 && full == 0 {
		full = 1 // something is in use: show it
	}
	return s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", width-full))
}

var sparkTicks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width samples of series scaled to their
// maximum; NaN samples are blank. It is plain text so it can sit in a
// table cell.
func sparkline(series []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(series) > width {
		series = series[len(series)-width:]
	}
	hi := 0.0
	for _, v := range series {
		if !math.IsNaN(v) && v > hi {
			hi = v
		}
	}
	var b strings.Builder
	b.Grow(width * 3)
	for range width - len(series) {
		b.WriteByte(' ')
	}
	for _, v := range series {
		switch {
		case math.IsNaN(v):
			b.WriteByte(' ')
		case hi <= 0:
			b.WriteRune(sparkTicks[0])
		default:
			i := int(v / hi * float64(len(sparkTicks)-1))
			b.WriteRune(sparkTicks[min(max(i, 0), len(sparkTicks)-1)])
		}
	}
	return b.String()
}

// clean sanitizes untrusted text for one cell of width cells.
func clean(s string, width int) string { return sanitize.Line(s, width) }

// fit pads or cuts trusted plain text to exactly width cells.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		s = ansi.Truncate(s, width, "…")
		w = ansi.StringWidth(s)
	}
	if w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// fitRight is fit aligned to the right.
func fitRight(s string, width int) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	return strings.Repeat(" ", width-w) + s
}

// clip cuts every line of a block to width cells and the block to height
// lines, padding it to exactly height lines: the root view always fills
// the terminal and never scrolls it.
func clip(block string, width, height int) string {
	lines := strings.Split(block, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "")
		}
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// lines counts the lines of the joined parts.
func lines(parts []string) int {
	n := 0
	for _, p := range parts {
		n += strings.Count(p, "\n") + 1
	}
	return n
}

// pct formats part/whole as a percentage.
func pct(part, whole uint64) string {
	if whole == 0 {
		return "—"
	}
	p := float64(part) / float64(whole) * 100
	if p > 0 && p < 1 {
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", p)
}

// plural is "1 stream", "2 streams".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// The system's things in words, the same on every screen that names them.

// breakerText names a breaker and its state; an open one counts down to
// its half-open probe.
func breakerText(b feed.Breaker) string {
	switch b.State {
	case contract.BreakerOpen:
		return fmt.Sprintf("%s OPEN %s", b.Name, dur(b.Remaining.Round(100*time.Millisecond)))
	case contract.BreakerHalfOpen:
		return b.Name + " HALF-OPEN"
	}
	return b.Name + " " + string(b.State)
}

// faultParams describes a fault's parameters in a few words.
func faultParams(f contract.Fault) string {
	info, _ := contract.KindInfo(f.Kind)
	var p []string
	if info.Probability && f.Probability > 0 && f.Probability < 1 {
		p = append(p, fmt.Sprintf("%.0f%%", f.Probability*100))
	}
	if f.Latency > 0 {
		p = append(p, dur(f.Latency))
	}
	if f.Jitter > 0 {
		p = append(p, "±"+dur(f.Jitter))
	}
	if info.Multiplier && f.Multiplier > 0 {
		p = append(p, fmt.Sprintf("×%g", f.Multiplier))
	}
	if info.Restart && f.RestartAfter > 0 {
		p = append(p, "restart "+dur(f.RestartAfter))
	}
	return strings.Join(p, " ")
}
