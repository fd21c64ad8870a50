package tui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/sagascope/sagascope/tui/feed"
)

// browser reads what streams and KV buckets stored, for the Messages and
// KV views; *feed.Browser implements it.
type browser interface {
	Read(ctx context.Context, q feed.MsgQuery) ([]feed.StoredMsg, feed.StreamBounds, error)
	Keys(ctx context.Context, bucket string) (feed.KVKeys, error)
	History(ctx context.Context, bucket, key string) ([]feed.KVEntry, error)
	Changes(ctx context.Context, bucket string, after uint64, limit int) ([]feed.KVEntry, feed.StreamBounds, error)
}

// browseTimeout bounds one read of a view; a page is one or a few
// requests, a stream without direct gets one request a message.
const browseTimeout = 5 * time.Second

// followEvery is how often a followed stream or watched bucket is read
// again: as often as the feed polls.
const followEvery = time.Second

// browseView is a view opened over the Streams list: a stream's messages,
// a bucket's keys. It is a screen of its own, whose Focus makes its first
// read. The Streams screen stacks them; esc closes the top one when its
// Back has nothing of its own to close.
type browseView = screen

// openBrowseMsg asks the Streams screen to stack a view: the KV view sends
// it for the bucket's raw messages.
type openBrowseMsg struct{ view browseView }

// browseMsg is a read's answer, for the view to that asked. req numbers
// the view's requests: a view takes only the answer to its latest one, so
// a slow page never overwrites a newer one. run applies the answer.
type browseMsg struct {
	to  browseView
	req int
	run func()
}

// reads is what the views share about their reads: numbered requests,
// of which only the latest one's answer is taken, repeated every
// followEvery while following, and the time the ages are measured from.
type reads struct {
	ctx context.Context
	// req numbers the requests; loading is what the one in flight reads,
	// err how the last one failed.
	req     int
	loading string
	err     string
	follow  bool
	now     time.Time
}

// take handles the messages every view handles alike, and reports
// whether msg was one: the snapshot's time, an answer to self, a follow's
// tick, on which again is the read to repeat.
func (r *reads) take(self browseView, msg tea.Msg, again func() tea.Cmd) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case snapshotMsg:
		r.now = msg.snap.Time
	case browseMsg:
		if msg.to == self && msg.req == r.req {
			msg.run()
			if r.follow {
				return after(r.ctx, followEvery, followTickMsg{to: self, req: r.req}), true
			}
		}
	case followTickMsg:
		if msg.to == self && msg.req == r.req && r.follow {
			return again(), true
		}
	default:
		return nil, false
	}
	return nil, true
}

// status is how the reads go: the last one's error, else what is being
// read, else "".
func (r *reads) status(st *Styles, width int) string {
	switch {
	case r.err != "":
		return st.Failing.Render(clean("✗ "+r.err, width))
	case r.loading != "":
		return st.Muted.Render(clean("… reading "+r.loading, width))
	}
	return ""
}

// footed is body padded to height-1 lines, then status on the last.
func footed(body string, height int, status string) string {
	if pad := height - 2 - strings.Count(body, "\n"); pad > 0 {
		body += strings.Repeat("\n", pad)
	}
	return body + "\n" + status
}

// followTickMsg reads a followed stream (or watched bucket) again, if
// no request was made since it was scheduled.
type followTickMsg struct {
	to  browseView
	req int
}

// readCmd runs read with a timeout and answers with a browseMsg.
func readCmd[T any](ctx context.Context, to browseView, req int, read func(ctx context.Context) (T, error), apply func(T, error)) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, browseTimeout)
		defer cancel()
		v, err := read(ctx)
		return browseMsg{to: to, req: req, run: func() { apply(v, err) }}
	}
}

// browseErr says what a failed read means to the person reading.
func browseErr(err error) string {
	switch {
	case errors.Is(err, feed.ErrStreamGone):
		return "this stream does not exist any more"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s: %v", browseTimeout, err)
	}
	return err.Error()
}

// prompt is a one-line input a view asks with (`:` jump, `/` subject):
// enter submits, esc cancels.
type prompt struct {
	input  textinput.Model
	active bool
	// what is asked: the view reads it when the prompt is submitted.
	what string
}

func newPrompt(st *Styles) prompt {
	in := textinput.New()
	in.PromptStyle = st.Accent
	in.PlaceholderStyle = st.Muted
	in.CharLimit = 128
	in.Cursor.SetMode(cursor.CursorStatic)
	return prompt{input: in}
}

// ask starts the prompt with a sign (":" or "/"), a hint and a value.
func (p *prompt) ask(what, sign, hint, value string) tea.Cmd {
	p.what, p.active = what, true
	p.input.Prompt, p.input.Placeholder = sign, hint
	p.input.SetValue(value)
	p.input.CursorEnd()
	return p.input.Focus()
}

// update takes a key; submitted is set when enter ended the prompt.
func (p *prompt) update(msg tea.KeyMsg) (submitted bool, cmd tea.Cmd) {
	switch msg.Type {
	case tea.KeyEnter, tea.KeyEsc:
		p.active = false
		p.input.Blur()
		return msg.Type == tea.KeyEnter, nil
	}
	p.input, cmd = p.input.Update(msg)
	return false, cmd
}

func (p *prompt) value() string { return strings.TrimSpace(p.input.Value()) }

func (p *prompt) view(width int) string {
	p.input.Width = max(10, width-4)
	return p.input.View()
}

// parseJump reads a jump target: a sequence ("1234"), a time (RFC 3339)
// or a time back from now ("-5m", "5m", "1h30m").
func parseJump(s string, now time.Time) (seq uint64, at time.Time, err error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(strings.ReplaceAll(s, ",", ""), 10, 64); err == nil {
		return max(n, 1), time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return 0, t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d > 0 {
		return 0, now.Add(-d), nil
	}
	return 0, time.Time{}, fmt.Errorf("jump to %q: want a sequence (1234), a time (2026-11-24T11:50:00Z) or a time back (-5m)", s)
}
