package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// levels counts the consumers over their warn and critical thresholds.
func levels(cs []feed.Consumer) (warn, crit int) {
	for i := range cs {
		switch cs[i].Level {
		case feed.LevelWarn:
			warn++
		case feed.LevelCritical:
			crit++
		}
	}
	return warn, crit
}

// levelsNote is "N critical" and "M over warn", each in its role and after
// sep, or "".
func levelsNote(st *Styles, cs []feed.Consumer, sep string) string {
	warn, crit := levels(cs)
	var b strings.Builder
	if crit > 0 {
		b.WriteString(sep + st.Failing.Render(fmt.Sprintf("%d critical", crit)))
	}
	if warn > 0 {
		b.WriteString(sep + st.Degraded.Render(fmt.Sprintf("%d over warn", warn)))
	}
	return b.String()
}

// freshnessNote says, right after a count of consumers, what of them is
// not current, so a total is never silently partial or stale: on a system
// larger than the API budget lists each refresh, some streams' consumers
// are not listed yet, and some rows are older than feed.StaleAfter. It is
// " (2 streams unlisted, 3 stale, oldest 48s)", or "" when all are current.
func freshnessNote(st *Styles, s feed.Snapshot) string {
	var parts []string
	if n := s.Gathering.Unlisted; n > 0 {
		parts = append(parts, plural(n, "stream", "streams")+" unlisted")
	}
	stale := 0
	var oldest time.Duration
	for i := range s.Consumers {
		if a := s.Consumers[i].Age; a > feed.StaleAfter {
			stale++
			oldest = max(oldest, a)
		}
	}
	if stale > 0 {
		parts = append(parts, fmt.Sprintf("%d stale, oldest %s", stale, age(oldest)))
	}
	if len(parts) == 0 {
		return ""
	}
	return st.Muted.Render(" (" + strings.Join(parts, ", ") + ")")
}

// staleNote is " · read Ns ago" for a consumer row older than
// feed.StaleAfter, "" for a current one.
func staleNote(c *feed.Consumer) string {
	if c.Age <= feed.StaleAfter {
		return ""
	}
	return " · read " + age(c.Age) + " ago"
}
