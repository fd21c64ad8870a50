package tui

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/recording"
	"github.com/sagascope/sagascope/tui/timeline"
)

// replaySource finds a recording's frames for time travel, as
// timeline.History does for a live dashboard. Playing asks for one frame
// after another, so the cursor of the last seek is carried on when the
// next time is a little later; any other seek starts from the recording's
// index. It is safe for concurrent use (seeks run in Cmds).
type replaySource struct {
	r     *recording.Reader
	marks []timeline.Mark

	mu      sync.Mutex
	dec     timeline.StreamDecoder // the spans of the frames the cursor passed
	runs    []contract.RunEvent    // their run events, since the last frame shown
	cur     *recording.Cursor
	last    recording.Frame // the newest frame the cursor gave
	hasLast bool
	next    recording.Frame // the one after it, read ahead
	hasNext bool
}

// carryOn is how far ahead of the cursor a seek reads on rather than
// seeking afresh: reading on costs a chunk a second, seeking at most
// recording.DefaultKeyEvery of chunks.
const carryOn = 20 * time.Second

func newReplaySource(r *recording.Reader) *replaySource {
	s := &replaySource{r: r}
	// The chunks' labels, "kind: what", grouped by time as a History's
	// marks are.
	for _, m := range r.Marks() {
		kind, what, _ := strings.Cut(m.Label, ": ")
		n := timeline.Notable{Kind: timeline.NotableKind(kind), What: what}
		if k := len(s.marks); k > 0 && s.marks[k-1].Time.Equal(m.Time) {
			s.marks[k-1].Notable = append(s.marks[k-1].Notable, n)
			continue
		}
		s.marks = append(s.marks, timeline.Mark{Time: m.Time, Notable: []timeline.Notable{n}})
	}
	return s
}

// at moves the cursor to the newest frame at or before t (the first
// frame if t is before it). Called with s.mu held.
func (s *replaySource) at(t time.Time) error {
	if s.cur == nil || !s.hasLast || t.Before(s.last.Time) || t.Sub(s.last.Time) > carryOn {
		c, err := s.r.Seek(t)
		if err != nil {
			return err
		}
		s.cur, s.hasLast, s.hasNext = c, false, false
		s.dec, s.runs = timeline.StreamDecoder{}, nil
	}
	for {
		if !s.hasNext {
			f, err := s.cur.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			s.next, s.hasNext = f, true
		}
		if s.hasLast && s.next.Time.After(t) {
			break
		}
		if err := s.pass(); err != nil {
			return err
		}
	}
	if !s.hasLast {
		return timeline.ErrEmpty
	}
	return nil
}

// Seek returns the newest frame at or before t, else the first.
func (s *replaySource) Seek(t time.Time) (timeline.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.at(t); err != nil {
		return timeline.Frame{}, err
	}
	return s.decode()
}

// pass moves the cursor on to the frame read ahead, keeping its spans for
// the frames after it. Called with s.mu held.
func (s *replaySource) pass() error {
	s.last, s.hasLast, s.hasNext = s.next, true, false
	runs, err := s.dec.Skip(s.last.Data)
	if err != nil {
		return fmt.Errorf("replay frame at %s: %w", s.last.Time.Format(time.TimeOnly), err)
	}
	s.runs = append(s.runs, runs...)
	return nil
}

// SeekAfter is Seek(t) for a cursor moving forward from from, as
// timeline.History.SeekAfter: ok is false at the end of the recording.
func (s *replaySource) SeekAfter(from, t time.Time) (timeline.Frame, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.at(t); err != nil {
		return timeline.Frame{}, false, err
	}
	if !s.last.Time.After(from) {
		if err := s.at(from); err != nil {
			return timeline.Frame{}, false, err
		}
		if s.last.Time.After(from) { // from is before the first frame
			f, err := s.decode()
			return f, err == nil, err
		}
		if !s.hasNext {
			return timeline.Frame{}, false, nil
		}
		if err := s.pass(); err != nil {
			return timeline.Frame{}, false, err
		}
	}
	f, err := s.decode()
	return f, err == nil, err
}

// PrevNotable returns the newest notable moment before t.
func (s *replaySource) PrevNotable(t time.Time) (timeline.Mark, bool) {
	for i := len(s.marks) - 1; i >= 0; i-- {
		if s.marks[i].Time.Before(t) {
			return s.marks[i], true
		}
	}
	return timeline.Mark{}, false
}

// NextNotable returns the oldest notable moment after t.
func (s *replaySource) NextNotable(t time.Time) (timeline.Mark, bool) {
	for _, m := range s.marks {
		if m.Time.After(t) {
			return m, true
		}
	}
	return timeline.Mark{}, false
}

// decode is the frame at the cursor, its Runs those of every frame the
// cursor passed since the frame shown before (a seek afresh starts them
// again at its key frame). Called with s.mu held.
func (s *replaySource) decode() (timeline.Frame, error) {
	fr, err := s.dec.Decode(s.last.Data)
	if err != nil {
		return timeline.Frame{}, fmt.Errorf("replay frame at %s: %w", s.last.Time.Format(time.TimeOnly), err)
	}
	fr.Runs, s.runs = s.runs, nil
	return fr, nil
}
