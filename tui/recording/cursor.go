package recording

import (
	"io"
	"time"
)

// Cursor walks a recording's frames in time order from where Seek put it.
// It is for one goroutine. Frames it returns stay valid after later calls.
type Cursor struct {
	r      *Reader
	chunk  int    // the chunk frames came from
	raw    []byte // its decompressed body, the next chunk's dictionary
	frames []Frame
	pos    int
}

// Seek returns a cursor whose first frame is where showing t starts: the
// last keyframe at or before t, or the recording's first frame if no
// keyframe comes that early. The caller reads frames up to t from there.
// Seek decompresses the chunk of that keyframe and the chunks its body
// depends on (Options.KeyEvery bounds them); damage is an error wrapping
// ErrCorrupt.
func (r *Reader) Seek(t time.Time) (*Cursor, error) {
	i := r.startChunk(t)
	raw, err := r.rawAt(i)
	if err != nil {
		return nil, err
	}
	frames, err := r.frames(i, raw)
	if err != nil {
		return nil, err
	}
	pos := 0
	for j, f := range frames {
		if f.Time.After(t) {
			break
		}
		if f.Keyframe {
			pos = j
		}
	}
	return &Cursor{r: r, chunk: i, raw: raw, frames: frames, pos: pos}, nil
}

// Next returns the next frame, or io.EOF after the last whole chunk's
// last frame.
func (c *Cursor) Next() (Frame, error) {
	for c.pos >= len(c.frames) {
		next := c.chunk + 1
		if next >= len(c.r.chunks) {
			return Frame{}, io.EOF
		}
		raw, err := c.r.raw(next, c.raw)
		if err != nil {
			return Frame{}, err
		}
		frames, err := c.r.frames(next, raw)
		if err != nil {
			return Frame{}, err
		}
		c.chunk, c.raw, c.frames, c.pos = next, raw, frames, 0
	}
	f := c.frames[c.pos]
	c.pos++
	return f, nil
}

// Verify decompresses and checks every chunk, returning the first
// damage found (a *DamageError) or nil. Open checks only the heads, so
// this is for `replay --info` and tests, not for every replay.
func (r *Reader) Verify() error {
	var raw []byte
	for i := range r.chunks {
		var err error
		if raw, err = r.raw(i, raw); err != nil {
			return err
		}
		if _, err := r.frames(i, raw); err != nil {
			return err
		}
	}
	return nil
}
