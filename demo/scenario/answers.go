package scenario

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/sagascope/sagascope/demo/contract"
)

// Bounds of the answer collector: an observer's login is shared by the
// whole room, so a name is a claim, not an identity, and one attendee's
// script must not drown the others' answers or grow the runner's memory.
const (
	// answerEvery and answerBurst limit each name: a change of mind is
	// fine, a stream of answers is dropped.
	answerEvery = time.Second
	answerBurst = 3
	// answersPerSecond limits every name together, so many made-up names
	// cost the runner no more than a room's worth of answers.
	answersPerSecond = 200
	// maxAttendees bounds the names counted per question; answers under a
	// further name are dropped.
	maxAttendees = 1000
)

// collector counts the answers to the questions of one run: one answer per
// attendee per question counts, the last. It is safe for concurrent use.
type collector struct {
	run string
	sc  *Scenario
	now func() time.Time

	mu sync.Mutex
	// open is the phase whose question takes answers, -1 for none.
	open    int
	answers map[int]map[string]int // phase -> name -> choice
	limits  map[string]*rate.Limiter
	all     *rate.Limiter
	changed bool
	// dropped counts answers not counted: malformed, too large, too many,
	// for another run or a question not open.
	dropped int
}

func newCollector(run string, sc *Scenario, now func() time.Time) *collector {
	return &collector{run: run, sc: sc, now: now, open: -1, answers: map[int]map[string]int{},
		limits: map[string]*rate.Limiter{}, all: rate.NewLimiter(answersPerSecond, answersPerSecond)}
}

// ask opens phase's question, closing the one before; a phase without one
// closes it.
func (c *collector) ask(phase int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = -1
	if phase >= 0 && phase < len(c.sc.Phases) && c.sc.Phases[phase].Question != nil {
		c.open = phase
		c.changed = true
	}
}

// openQuestion is the phase whose question is open, -1 for none.
func (c *collector) openQuestion() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// close stops taking answers.
func (c *collector) close() { c.ask(-1) }

// take counts one Answer message; it reports whether it was counted.
func (c *collector) take(data []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(data) > contract.MaxAnswerSize || !c.all.AllowN(now, 1) {
		c.dropped++
		return false
	}
	var a contract.Answer
	if err := json.Unmarshal(data, &a); err != nil || a.V != contract.Version || a.Run != c.run || a.Phase != c.open || c.open < 0 {
		c.dropped++
		return false
	}
	q := c.sc.Phases[a.Phase].Question
	name := CleanName(a.Name)
	if a.Choice < 0 || a.Choice >= len(q.Choices) {
		c.dropped++
		return false
	}
	byName := c.answers[a.Phase]
	if byName == nil {
		byName = map[string]int{}
		c.answers[a.Phase] = byName
	}
	if _, known := byName[name]; !known && len(byName) >= maxAttendees {
		c.dropped++
		return false
	}
	l := c.limits[name]
	if l == nil {
		if len(c.limits) >= maxAttendees*4 {
			c.dropped++
			return false
		}
		l = rate.NewLimiter(rate.Every(answerEvery), answerBurst)
		c.limits[name] = l
	}
	if !l.AllowN(now, 1) {
		c.dropped++
		return false
	}
	byName[name] = a.Choice
	c.changed = true
	return true
}

// tally is the count of phase's question.
func (c *collector) tally(phase int) contract.Tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tallyLocked(phase)
}

func (c *collector) tallyLocked(phase int) contract.Tally {
	t := contract.Tally{Phase: phase, Counts: make([]int, len(c.sc.Phases[phase].Question.Choices))}
	for _, choice := range c.answers[phase] {
		t.Counts[choice]++
	}
	return t
}

// takeChanged returns the open question's tally when an answer came since
// the last call.
func (c *collector) takeChanged() (contract.Tally, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed || c.open < 0 {
		return contract.Tally{}, false
	}
	c.changed = false
	return c.tallyLocked(c.open), true
}

// tallies are every question's count, in phase order.
func (c *collector) tallies() []contract.Tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []contract.Tally
	for i, p := range c.sc.Phases {
		if p.Question != nil {
			out = append(out, c.tallyLocked(i))
		}
	}
	return out
}

// CleanName is an attendee's name as the collector counts it: control and
// format characters removed, spaces joined, cut to contract.MaxAnswerName
// characters; "anonymous" when nothing is left.
func CleanName(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.Join(strings.Fields(strings.ToValidUTF8(name, "")), " ") {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if n == contract.MaxAnswerName {
			break
		}
		b.WriteRune(r)
		n++
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		return s
	}
	return "anonymous"
}
