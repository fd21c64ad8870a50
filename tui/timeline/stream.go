package timeline

import (
	"encoding/json"
	"fmt"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// StreamVersion is the version of the frames a StreamEncoder writes: they
// are not self-contained, so Decode refuses them and a StreamDecoder reads
// them (and Version's frames too).
const StreamVersion = 2

// A recording of self-contained frames re-sent the feed's ten thousand
// spans every second: 9 MB of JSON a frame at the demo's load, 1.3
// GB/hour after compression (measured). A stream's frames carry, as a
// History's do, the traces with span numbers, and besides them only the
// spans first seen at that frame; a key frame carries all it shows, so a
// reader seeking starts at one.

// StreamEncoder encodes the frames of a recorded stream, each after the
// one before. It is for one goroutine.
type StreamEncoder struct {
	nums spanNumbers
}

// Encode returns f's bytes in the stream. A key frame carries every span
// it shows and can be decoded on its own; any other carries only the
// spans the frame before did not show, so a StreamDecoder must have read
// the frames since the last key frame first.
func (e *StreamEncoder) Encode(f Frame, key bool) ([]byte, error) {
	w := wire(f)
	w.V, w.Key, w.Telemetry = StreamVersion, key, nil
	if key || f.Telemetry == nil {
		e.nums.seen = nil
	}
	if f.Telemetry != nil {
		w.Spans, w.NewSpans, w.NewFrom = e.nums.number(f.Telemetry)
	}
	return marshal(w, f.Time)
}

// StreamDecoder decodes a recorded stream's frames (and self-contained
// ones). It holds the spans of the last frame it read, which the next one
// refers to by number. It is for one goroutine; the zero value is ready.
type StreamDecoder struct {
	spans map[uint64]*feed.Span
}

// streamSpans is the part of a frame that says which spans it shows:
// Skip reads only that.
type streamSpans struct {
	V        int                 `json:"v"`
	Runs     []contract.RunEvent `json:"runs"`
	Key      bool                `json:"key"`
	NewFrom  uint64              `json:"new_from"`
	NewSpans []*feed.Span        `json:"new_spans"`
	Spans    *struct {
		Traces []struct {
			Refs []uint64 `json:"refs"`
		} `json:"traces"`
	} `json:"telemetry_spans"`
}

// Skip reads a frame passed over on the way to the one shown: it keeps
// its spans for the frames after and returns its scenario run events
// (which hold only what happened since the frame before, so a reader
// passing over frames must not lose them); it decodes nothing else.
// Reading a frame twice (Skip, then Decode) is harmless.
func (d *StreamDecoder) Skip(b []byte) ([]contract.RunEvent, error) {
	var s streamSpans
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read frame's spans: %w", err)
	}
	switch s.V {
	case Version:
		d.spans = nil
		return s.Runs, nil
	case StreamVersion:
	default:
		return nil, fmt.Errorf("read frame's spans: version %d: %w", s.V, ErrVersion)
	}
	var refs [][]uint64
	if s.Spans != nil {
		for _, tr := range s.Spans.Traces {
			refs = append(refs, tr.Refs)
		}
	}
	return s.Runs, d.keep(s.Key, s.NewFrom, s.NewSpans, refs)
}

// Decode returns the frame b holds, its spans taken from the frames read
// before it when it is not a key frame.
func (d *StreamDecoder) Decode(b []byte) (Frame, error) {
	w, err := unmarshal(b, Version, StreamVersion)
	if err != nil {
		return Frame{}, err
	}
	f := frameOf(w)
	if w.V == Version {
		if w.Spans != nil {
			return Frame{}, fmt.Errorf("decode frame: %w", ErrNotSelfContained)
		}
		d.spans = nil
		return f, nil
	}
	var refs [][]uint64
	if w.Spans != nil {
		for _, st := range w.Spans.Traces {
			refs = append(refs, st.Refs)
		}
	}
	if err := d.keep(w.Key, w.NewFrom, w.NewSpans, refs); err != nil {
		return Frame{}, err
	}
	if w.Spans != nil {
		f.Telemetry = w.Spans.fill(d.spans)
	}
	return f, nil
}

// keep makes the decoder's spans those a frame refers to (refs): the ones
// it brings (fresh, numbered from first) and those of the frame before,
// starting afresh at a key frame. A number it has no span for means a
// frame since the last key frame was not read.
func (d *StreamDecoder) keep(key bool, first uint64, fresh []*feed.Span, refs [][]uint64) error {
	have := d.spans
	if key {
		have = nil
	}
	spans := make(map[uint64]*feed.Span, len(have)+len(fresh))
	for _, tr := range refs {
		for _, n := range tr {
			if n >= first && n-first < uint64(len(fresh)) && fresh[n-first] != nil {
				spans[n] = fresh[n-first]
				continue
			}
			sp, ok := have[n]
			if !ok {
				d.spans = nil
				return fmt.Errorf("decode frame: span %d was in no frame read since the last key frame: %w", n, ErrNotSelfContained)
			}
			spans[n] = sp
		}
	}
	d.spans = spans
	return nil
}
