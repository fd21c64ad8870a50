package recording

import (
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"
)

// startDecoders makes the reader's two decoders, used synchronously by
// DecodeAll (no goroutines to stop). Their output is bounded by the
// capacity handed to them, which the head's raw length sets.
func (r *Reader) startDecoders() error {
	opts := []zstd.DOption{zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(maxChunkRaw)}
	var err error
	if r.plain, err = zstd.NewReader(nil, opts...); err != nil {
		return fmt.Errorf("start recording decompressor: %w", err)
	}
	if r.chained, err = zstd.NewReader(nil, opts...); err != nil {
		r.plain.Close()
		return fmt.Errorf("start recording decompressor: %w", err)
	}
	return nil
}

// corrupt is the damage found in chunk i's body.
func (r *Reader) corrupt(i int, format string, args ...any) error {
	return &DamageError{After: r.chunks[i].start.Sub(r.Start()), Kind: ErrCorrupt,
		Detail: fmt.Sprintf("chunk %d: %s", i+1, fmt.Sprintf(format, args...))}
}

// minDict is the shortest body the Writer chains the next chunk to.
const minDict = 64

// raw decompresses chunk i's body; prev is chunk i-1's decompressed body,
// the dictionary of a chained chunk.
func (r *Reader) raw(i int, prev []byte) ([]byte, error) {
	c := &r.chunks[i]
	comp := make([]byte, c.bodyLen)
	if _, err := r.src.ReadAt(comp, c.body); err != nil {
		return nil, fmt.Errorf("read recording chunk %d: %w", i+1, err)
	}
	if checksum(comp) != c.bodyCRC {
		return nil, r.corrupt(i, "body checksum does not match")
	}
	if c.rawLen == 0 && len(comp) == 0 { // a chunk of marks alone
		return []byte{}, nil
	}
	var hdr zstd.Header
	if err := hdr.Decode(comp); err != nil {
		return nil, r.corrupt(i, "decompress: %v", err)
	}
	if wantDict := !c.standalone; wantDict != (hdr.DictionaryID == chainDict) || (wantDict && len(prev) < minDict) {
		return nil, r.corrupt(i, "dictionary %d does not fit the chunk", hdr.DictionaryID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dec := r.plain
	if !c.standalone {
		dec = r.chained
		if dec != nil {
			if err := dec.ResetWithOptions(nil, zstd.WithDecoderDictRaw(chainDict, prev)); err != nil {
				return nil, r.corrupt(i, "dictionary: %v", err)
			}
		}
	}
	if dec == nil {
		return nil, errors.New("read recording: reader closed")
	}
	raw, err := dec.DecodeAll(comp, make([]byte, 0, c.rawLen))
	if err != nil {
		return nil, r.corrupt(i, "decompress: %v", err)
	}
	if len(raw) != c.rawLen {
		return nil, r.corrupt(i, "%d bytes decompressed, head says %d", len(raw), c.rawLen)
	}
	return raw, nil
}

// rawAt decompresses chunk i and the chunks back to the standalone one
// it depends on.
func (r *Reader) rawAt(i int) ([]byte, error) {
	s := i
	for s > 0 && !r.chunks[s].standalone {
		s--
	}
	var raw []byte
	for j := s; j <= i; j++ {
		var err error
		if raw, err = r.raw(j, raw); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// frames splits chunk i's decompressed body into frames, which alias it.
func (r *Reader) frames(i int, raw []byte) ([]Frame, error) {
	c := &r.chunks[i]
	frames := make([]Frame, 0, c.frames)
	d := varints{b: raw}
	for range c.frames {
		off := time.Duration(d.bounded(uint64(c.span)))
		flags := d.uvarint()
		data := d.bytes(MaxFrame)
		if d.err != nil {
			return nil, r.corrupt(i, "frame %d: %v", len(frames)+1, d.err)
		}
		t := c.start.Add(off)
		if n := len(frames); n > 0 && t.Before(frames[n-1].Time) {
			return nil, r.corrupt(i, "frame %d goes back in time", n+1)
		}
		frames = append(frames, Frame{Time: t, Keyframe: flags&frameKeyframe != 0, Data: data})
	}
	return frames, nil
}
