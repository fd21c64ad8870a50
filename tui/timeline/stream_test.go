package timeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/internal/same"
	"github.com/sagascope/sagascope/tui/timeline"
)

// streamOf is a minute of syntheticTelemetry frames encoded as a
// recording does, a key frame every keyEvery frames.
func streamOf(t *testing.T, frames, keyEvery int) ([]feed.TelemetrySnapshot, [][]byte) {
	t.Helper()
	var (
		syn  syntheticTelemetry
		enc  timeline.StreamEncoder
		sent []feed.TelemetrySnapshot
		data [][]byte
	)
	for i := range frames {
		now := t0.Add(time.Duration(i) * time.Second)
		tel := syn.next(now)
		for _, tr := range tel.Traces {
			tr.First = tr.Spans[0] // as the feed links them: the earliest span
		}
		b, err := enc.Encode(timeline.Frame{Time: now, Snapshot: &feed.Snapshot{Time: now}, Telemetry: &tel}, i%keyEvery == 0)
		if err != nil {
			t.Fatal(err)
		}
		sent, data = append(sent, tel), append(data, b)
	}
	return sent, data
}

func TestAStreamsFramesComeBackAsTheyWereFromAnyKeyFrame(t *testing.T) {
	sent, data := streamOf(t, 60, 20)
	for _, from := range []int{0, 20, 40} {
		var dec timeline.StreamDecoder
		for i := from; i < len(data); i++ {
			if i%3 != 0 { // frames passed over on the way are only skipped
				if _, err := dec.Skip(data[i]); err != nil {
					t.Fatal(err)
				}
				continue
			}
			f, err := dec.Decode(data[i])
			if err != nil {
				t.Fatalf("frame %d from key frame %d: %v", i, from, err)
			}
			if d := same.Diff(sent[i], *f.Telemetry); d != "" {
				t.Fatalf("frame %d from key frame %d differs at %s", i, from, d)
			}
		}
	}
}

func TestAStreamsFrameCarriesOnlyTheSpansNewSinceTheFrameBefore(t *testing.T) {
	_, data := streamOf(t, 30, 20)
	// A key frame holds the feed's 10,000 spans; a second later 360 are
	// new (20 sagas of 18 spans).
	key, next := len(data[20]), len(data[21])
	if next*10 > key {
		t.Fatalf("a frame after a key frame is %d bytes, the key frame %d", next, key)
	}
}

func TestAStreamsFrameReadWithoutItsKeyFrameIsRefused(t *testing.T) {
	_, data := streamOf(t, 25, 20)
	var dec timeline.StreamDecoder
	if _, err := dec.Decode(data[22]); !errors.Is(err, timeline.ErrNotSelfContained) {
		t.Fatalf("a frame after its key frame decoded alone: %v", err)
	}
	if _, err := timeline.Decode(data[20]); !errors.Is(err, timeline.ErrVersion) {
		t.Fatalf("Decode of a stream's key frame: %v, want ErrVersion", err)
	}
	if _, err := dec.Skip([]byte(`{"v":2,"new_from":1,"new_spans":[null],"telemetry_spans":{"traces":[{"refs":[1]}]}}`)); !errors.Is(err, timeline.ErrNotSelfContained) {
		t.Fatalf("a frame whose new span is null: %v", err)
	}
}

func TestAStreamDecoderReadsSelfContainedFramesToo(t *testing.T) {
	f := richFrame()
	b, err := timeline.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	var dec timeline.StreamDecoder
	if runs, err := dec.Skip(b); err != nil || len(runs) != len(f.Runs) {
		t.Fatalf("Skip: %d run events, %v; the frame has %d", len(runs), err, len(f.Runs))
	}
	got, err := dec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := same.Diff(f, got); d != "" {
		t.Fatalf("decoded frame differs at %s", d)
	}
}
