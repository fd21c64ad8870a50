// Package timeline is the dashboard's memory of what it saw: a Frame is
// the system as drawn at one moment (the status snapshot, the traces and
// logs, the scenario run events since the frame before, and the notable
// events that happened then), and a History keeps the frames of the last
// minutes in bounded memory so the dashboard can pause and rewind.
//
// Encode and Decode turn a Frame into self-contained bytes and back, for
// History and for recordings to a file (tui/recording stores these bytes
// as they are).
package timeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// Version is the frame encoding's version, written in every frame. Decode
// refuses other versions rather than guess.
const Version = 1

// ErrVersion reports a frame written by another version of the encoding.
var ErrVersion = errors.New("frame encoding version not supported")

// Frame is the system as the dashboard showed it at Time. A Frame and
// what it points to are read-only: the snapshots share their slices with
// the live dashboard's.
type Frame struct {
	// Time is the moment of the frame, by the feed's clock: the time of
	// the newest message it holds.
	Time time.Time
	// Snapshot is the status feed's snapshot, nil before the first.
	Snapshot *feed.Snapshot
	// Telemetry is the traces and logs, nil before the first.
	Telemetry *feed.TelemetrySnapshot
	// Runs are the scenario run events that arrived since the frame
	// before, in order.
	Runs []contract.RunEvent
	// Notable says what happened at this frame worth stopping at while
	// rewinding (a breaker opened, a fault was set): empty for most.
	Notable []Notable
}

// Notable is one event worth finding while rewinding.
type Notable struct {
	Kind NotableKind `json:"kind"`
	// What says it in a few words: "breaker payment/gateway open".
	What string `json:"what"`
}

// NotableKind sorts notable events.
type NotableKind string

// Kinds of notable events.
const (
	NotableBreaker    NotableKind = "breaker"
	NotableFault      NotableKind = "fault"
	NotableLeader     NotableKind = "leader"
	NotableScenario   NotableKind = "scenario"
	NotableDeadLetter NotableKind = "dead letters"
)

// wireFrame is a Frame as JSON. The fields a feed type keeps out of its
// own JSON (json:"-") travel beside it, so a decoded frame draws as the
// original did.
type wireFrame struct {
	V         int                     `json:"v"`
	Time      time.Time               `json:"time"`
	Snapshot  *feed.Snapshot          `json:"snapshot,omitempty"`
	Telemetry *feed.TelemetrySnapshot `json:"telemetry,omitempty"`
	Runs      []contract.RunEvent     `json:"runs,omitempty"`
	Notable   []Notable               `json:"notable,omitempty"`
	// AdvisoryRaw is Snapshot.Advisories[i].Raw, index for index: the
	// Events screen's inspector shows it (at most feed.MaxPayload bytes
	// each, so keeping it costs little).
	AdvisoryRaw [][]byte `json:"advisory_raw,omitempty"`
	// Spans is the telemetry of a frame inside a History: its traces
	// refer to the History's spans by number (see spanLog), so such bytes
	// are not self-contained and Decode refuses them.
	Spans *skeleton `json:"telemetry_spans,omitempty"`
	// Key, NewFrom and NewSpans are a recorded stream's (StreamVersion):
	// Key starts the span numbers afresh, and NewSpans are the spans first
	// seen at this frame, numbered from NewFrom. See StreamEncoder.
	Key      bool         `json:"key,omitempty"`
	NewFrom  uint64       `json:"new_from,omitempty"`
	NewSpans []*feed.Span `json:"new_spans,omitempty"`
}

// ErrNotSelfContained reports bytes of a frame that refer to spans kept
// elsewhere (a History's own encoding).
var ErrNotSelfContained = errors.New("frame refers to spans held by a history")

// Encode returns f as self-contained bytes (JSON), which Decode turns back
// into an equal Frame.
func Encode(f Frame) ([]byte, error) { return encode(f, nil) }

// encode is Encode with the telemetry as sk instead, when sk is not nil.
func encode(f Frame, sk *skeleton) ([]byte, error) {
	w := wire(f)
	if sk != nil {
		w.Telemetry, w.Spans = nil, sk
	}
	return marshal(w, f.Time)
}

// wire is f as it travels, at this Version.
func wire(f Frame) wireFrame {
	w := wireFrame{V: Version, Time: f.Time, Snapshot: f.Snapshot, Telemetry: f.Telemetry, Runs: f.Runs, Notable: f.Notable}
	if f.Snapshot != nil {
		for i, a := range f.Snapshot.Advisories {
			if a != nil && len(a.Raw) > 0 {
				if w.AdvisoryRaw == nil {
					w.AdvisoryRaw = make([][]byte, len(f.Snapshot.Advisories))
				}
				w.AdvisoryRaw[i] = a.Raw
			}
		}
	}
	return w
}

func marshal(w wireFrame, t time.Time) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode frame at %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return b, nil
}

// Decode is the inverse of Encode.
func Decode(b []byte) (Frame, error) {
	f, sk, err := decode(b)
	if err == nil && sk != nil {
		err = fmt.Errorf("decode frame: %w", ErrNotSelfContained)
	}
	return f, err
}

// decode is Decode that returns the skeleton of a History's frame, for
// the History to resolve.
func decode(b []byte) (Frame, *skeleton, error) {
	w, err := unmarshal(b, Version)
	if err != nil {
		return Frame{}, nil, err
	}
	return frameOf(w), w.Spans, nil
}

// unmarshal reads a frame's wire form, if it is of one of the versions.
func unmarshal(b []byte, versions ...int) (wireFrame, error) {
	var w wireFrame
	if err := json.Unmarshal(b, &w); err != nil {
		return wireFrame{}, fmt.Errorf("decode frame: %w", err)
	}
	for _, v := range versions {
		if w.V == v {
			return w, nil
		}
	}
	return wireFrame{}, fmt.Errorf("decode frame: version %d: %w", w.V, ErrVersion)
}

// frameOf is the Frame w holds, but for telemetry by span numbers.
func frameOf(w wireFrame) Frame {
	f := Frame{Time: w.Time, Snapshot: w.Snapshot, Telemetry: w.Telemetry, Runs: w.Runs, Notable: w.Notable}
	if s := f.Snapshot; s != nil {
		for i, raw := range w.AdvisoryRaw {
			if i < len(s.Advisories) && s.Advisories[i] != nil {
				s.Advisories[i].Raw = raw
			}
		}
	}
	if t := f.Telemetry; t != nil {
		for _, tr := range t.Traces {
			if tr != nil {
				relink(tr)
			}
		}
	}
	return f
}

// relink sets a decoded trace's Root and First, which its JSON leaves
// out, as the span store does when the spans arrive: First is the span
// that started first (the earliest of equals), Root the first parentless
// span.
func relink(tr *feed.Trace) {
	for _, sp := range tr.Spans {
		if sp == nil {
			continue
		}
		if tr.First == nil || sp.Start.Before(tr.First.Start) {
			tr.First = sp
		}
		if sp.ParentID == "" && tr.Root == nil {
			tr.Root = sp
		}
	}
}
