package recording

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

// script is a recording's frames: perSecond frames a second for seconds,
// a keyframe every keyEvery frames, each frame's data naming its index.
type script struct {
	seconds, perSecond, keyEvery int
}

func (s script) frames() []Frame {
	var out []Frame
	step := time.Second / time.Duration(s.perSecond)
	for i := range s.seconds * s.perSecond {
		out = append(out, Frame{
			Time:     t0.Add(time.Duration(i) * step),
			Keyframe: i%s.keyEvery == 0,
			Data:     fmt.Appendf(nil, `{"frame":%d,"streams":["ORDERS","PAYMENTS"]}`, i),
		})
	}
	return out
}

// written returns what write wrote to a recording in memory.
func written(t testing.TB, meta Meta, opts Options, write func(*Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encode writes frames, and a mark at every keyframe, to bytes.
func encode(t testing.TB, meta Meta, frames []Frame) []byte {
	t.Helper()
	return written(t, meta, Options{}, func(w *Writer) error {
		for _, f := range frames {
			if err := w.Append(f); err != nil {
				return err
			}
			if f.Keyframe {
				if err := w.Mark(f.Time, "keyframe at "+f.Time.Sub(t0).String()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func open(t testing.TB, b []byte) (*Reader, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

// readAll reads from c to the end.
func readAll(t testing.TB, c *Cursor) []Frame {
	t.Helper()
	var out []Frame
	for {
		f, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("next frame after %d: %v", len(out), err)
		}
		out = append(out, f)
	}
}

func sameFrames(t *testing.T, got, want []Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Keyframe != want[i].Keyframe || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("frame %d = %v %v %q, want %v %v %q", i, got[i].Time, got[i].Keyframe, got[i].Data,
				want[i].Time, want[i].Keyframe, want[i].Data)
		}
	}
}

func TestARecordingReadsBackItsMetadataFramesAndMarks(t *testing.T) {
	meta := Meta{Created: t0, Server: "nats://127.0.0.1:4222", Version: "test", Title: "slow-database", FrameFormat: "test+json"}
	want := script{seconds: 5, perSecond: 4, keyEvery: 6}.frames()
	r, err := open(t, encode(t, meta, want))
	if err != nil {
		t.Fatal(err)
	}
	if r.Damage() != nil {
		t.Errorf("damage %v in a whole recording", r.Damage())
	}
	if got := r.Meta(); got != meta {
		t.Errorf("meta %+v, want %+v", got, meta)
	}
	if r.Chunks() != 5 {
		t.Errorf("%d chunks for 5 seconds, want 5", r.Chunks())
	}
	if d := r.Duration(); d != 4750*time.Millisecond {
		t.Errorf("duration %v, want 4.75s", d)
	}
	marks := r.Marks()
	if len(marks) != 4 || !marks[1].Time.Equal(want[6].Time) || marks[1].Label != "keyframe at 1.5s" {
		t.Errorf("marks %+v", marks)
	}
	c, err := r.Seek(r.Start())
	if err != nil {
		t.Fatal(err)
	}
	sameFrames(t, readAll(t, c), want)
	if err := r.Verify(); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestSeekStartsAtTheLastKeyframeAtOrBeforeTheTime(t *testing.T) {
	// 4 frames a second, a keyframe every 6: at 0s, 1.5s, 3s, 4.5s.
	frames := script{seconds: 6, perSecond: 4, keyEvery: 6}.frames()
	r, err := open(t, encode(t, Meta{}, frames))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Duration
		from int // index of the first frame
	}{
		{"a time before the recording starts at its first frame", -time.Hour, 0},
		{"the first instant starts at the first keyframe", 0, 0},
		{"a time just before a keyframe starts at the one before", 1499 * time.Millisecond, 0},
		{"a keyframe's own time starts at it", 1500 * time.Millisecond, 6},
		{"a keyframe in an earlier chunk is found", 2900 * time.Millisecond, 6},
		{"a time in the last chunk starts at its keyframe", 5 * time.Second, 18},
		{"a time after the end starts at the last keyframe", time.Hour, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Seek(t0.Add(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			sameFrames(t, readAll(t, c), frames[tt.from:])
		})
	}
}

func TestSeekWithoutAnEarlierKeyframeStartsAtTheFirstFrame(t *testing.T) {
	frames := script{seconds: 3, perSecond: 2, keyEvery: 1000}.frames()
	for i := range frames {
		frames[i].Keyframe = false
	}
	r, err := open(t, encode(t, Meta{}, frames))
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Seek(t0.Add(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sameFrames(t, readAll(t, c), frames)
}

func TestTheWriterKeepsTimeInOrderWhenTheClockStepsBack(t *testing.T) {
	frames := []Frame{
		{Time: t0, Keyframe: true, Data: []byte("a")},
		{Time: t0.Add(-time.Minute), Data: []byte("b")},
		{Time: t0.Add(time.Second), Data: []byte("c")},
	}
	r, err := open(t, encode(t, Meta{}, frames))
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Seek(t0)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c)
	if len(got) != 3 || !got[1].Time.Equal(t0) {
		t.Fatalf("frames %+v: the step back should read as the last time", got)
	}
}

func TestALongLabelIsCutOnARuneBoundary(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	r, err := open(t, written(t, Meta{}, Options{}, func(w *Writer) error { return w.Mark(t0, long) }))
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Marks(); len(m) != 1 || m[0].Label != strings.Repeat("é", 100) {
		t.Fatalf("marks %q", m)
	}
}

func TestAFrameAboveTheBoundIsRefused(t *testing.T) {
	w, err := NewWriter(io.Discard, Meta{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(Frame{Time: t0, Data: make([]byte, MaxFrame+1)}); err == nil {
		t.Fatal("a frame above MaxFrame was taken")
	}
}

func TestACrashLosesOnlyTheChunkBeingFilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.rec")
	w, err := Create(path, Meta{Title: "crash"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	frames := script{seconds: 3, perSecond: 4, keyEvery: 4}.frames()
	for _, f := range frames[:10] { // into the third second
		if err := w.Append(f); err != nil {
			t.Fatal(err)
		}
	}
	// The writer is never closed before the file is read: as after a
	// kill, only what Append has already written is there.
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Chunks() != 2 || r.Damage() != nil {
		t.Fatalf("%d chunks, damage %v; want the 2 whole seconds", r.Chunks(), r.Damage())
	}
	c, err := r.Seek(t0)
	if err != nil {
		t.Fatal(err)
	}
	sameFrames(t, readAll(t, c), frames[:8])
}

func TestOpenNamesTheFileAndTheTrouble(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("shopping list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if !errors.Is(err, ErrNotRecording) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("open: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.rec")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open a missing file: %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 7 * time.Second: "7s", 12*time.Minute + 4*time.Second: "12m04s",
		time.Hour + 2*time.Minute + 9*time.Second: "1h02m09s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAChunkIsCompressedOnItsOwnEveryKeyEvery(t *testing.T) {
	frames := script{seconds: 10, perSecond: 2, keyEvery: 1}.frames()
	r, err := open(t, written(t, Meta{}, Options{KeyEvery: 3 * time.Second}, func(w *Writer) error {
		for _, f := range frames {
			if err := w.Append(f); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var standalone []int
	for i, c := range r.chunks {
		if c.standalone {
			standalone = append(standalone, i)
		}
	}
	if fmt.Sprint(standalone) != "[0 3 6 9]" {
		t.Errorf("standalone chunks %v, want every third", standalone)
	}
	// A seek into the middle of a chain decompresses from its start.
	c, err := r.Seek(t0.Add(8 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sameFrames(t, readAll(t, c), frames[16:])
}
