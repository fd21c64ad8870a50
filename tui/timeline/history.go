package timeline

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// Options configure a History. The zero value is usable.
type Options struct {
	// Keep is how far back the history reaches (default 15m). Frames
	// older than Keep are dropped a keyframe group at a time, so up to
	// KeyEvery more may be kept.
	Keep time.Duration
	// Every is the history's resolution: at most one frame is kept per
	// Every (default 1s, the feed's default poll), the newest state then.
	Every time.Duration
	// KeyEvery is how often a frame is stored whole (default 10s); the
	// frames between are compressed against it, and a seek decodes at
	// most two frames.
	KeyEvery time.Duration
	// MaxBytes bounds the compressed frames kept (default 256 MiB): past
	// it the oldest go first, whatever their age, so a system far larger
	// than the demo keeps a shorter history rather than all the memory.
	MaxBytes int
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Keep, 15*time.Minute)
	def(&o.Every, time.Second)
	def(&o.KeyEvery, 10*time.Second)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	return o
}

// ErrEmpty reports a seek in a history that holds no frame yet.
var ErrEmpty = errors.New("history holds no frame yet")

// History is the last minutes of frames in bounded memory. The feeds add
// what they send the dashboard (AddSnapshot, AddTelemetry, AddRun); at
// most one frame per Options.Every is kept, compressed. It is safe for
// concurrent use: the adds come from the feeds' goroutines and the seeks
// from the dashboard's commands.
//
// Frames are zstd-compressed in groups: a group's first frame (its
// keyframe) alone, every later frame of the group with the keyframe's
// JSON as the dictionary. A status snapshot is mostly its recent sagas
// (186 KB of 208 KB at the demo's load), which every poll shifts by the
// sagas that started: a diff by field would store them whole each time,
// a dictionary stores only the new ones.
type History struct {
	opts Options

	mu sync.Mutex
	// The state now, not yet in a frame unless at is its time.
	snap *feed.Snapshot
	tel  *feed.TelemetrySnapshot
	runs []contract.RunEvent
	// prev is the snapshot of the newest frame, to find notable events.
	prev *feed.Snapshot
	// spans holds each span of the frames' telemetry once.
	spans  spanLog
	groups []*group
	bytes  int
	// cur encodes the newest group's frames against its keyframe.
	cur   *zstd.Encoder
	curID uint32
	// err is the last frame that could not be stored.
	err error
	// cache is the keyframe JSON of the group a seek last decoded, so
	// stepping a second at a time decodes one frame per step.
	cache struct {
		g   *group
		raw []byte
	}
}

// group is a keyframe and the frames compressed against it.
type group struct {
	id     uint32
	frames []stored
	bytes  int
}

// stored is one compressed frame. frames[0] of a group is its keyframe,
// compressed without dictionary.
type stored struct {
	t       time.Time
	data    []byte
	notable []Notable
	// minRef is the lowest span number the frame refers to, 0 for none:
	// the spans below every kept frame's are dropped.
	minRef uint64
}

// NewHistory returns an empty history.
func NewHistory(opts Options) *History {
	return &History{opts: opts.withDefaults()}
}

// plain compresses and decompresses keyframes. EncodeAll and DecodeAll
// are safe for concurrent use, and with concurrency 1 they start no
// goroutine, so one of each serves every History.
var (
	plainEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	plainDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
)

// compress is enc.EncodeAll(raw) copied to an array of its own size:
// EncodeAll makes room for all of raw, and a frame kept for 15 minutes
// would hold that room (measured: 1.3 MiB more heap a second at the
// demo's load, for 40 KB of frames).
func compress(enc *zstd.Encoder, raw []byte) []byte {
	return bytes.Clone(enc.EncodeAll(raw, nil))
}

// AddSnapshot takes the status snapshot the dashboard is sent; s is kept,
// not copied (snapshots are read-only).
func (h *History) AddSnapshot(s feed.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snap = &s
	h.commit(s.Time)
}

// AddTelemetry takes the telemetry snapshot the dashboard is sent.
func (h *History) AddTelemetry(t feed.TelemetrySnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tel = &t
	h.commit(t.Time)
}

// AddRun takes a scenario run event; it goes into the next frame. Its
// time is the runner's clock, not the feed's, so it does not make a frame
// by itself.
func (h *History) AddRun(e contract.RunEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs = append(h.runs, e)
}

// commit stores the state as a frame at t, unless the newest frame is
// less than Every older. Called with h.mu held.
func (h *History) commit(t time.Time) {
	if n := h.newest(); !n.IsZero() && t.Sub(n) < h.opts.Every {
		return
	}
	f := Frame{Time: t, Snapshot: h.snap, Telemetry: h.tel, Runs: h.runs}
	f.Notable = notable(h.prev, h.snap, h.runs)
	if err := h.store(f); err != nil {
		h.err = err
		return
	}
	h.prev, h.runs = h.snap, nil
	h.evict(t)
}

func (h *History) store(f Frame) error {
	var sk *skeleton
	var minRef uint64
	if f.Telemetry != nil {
		var size int
		var err error
		if sk, size, err = h.spans.add(f.Telemetry); err != nil {
			return fmt.Errorf("store frame at %s: %w", f.Time.Format(time.TimeOnly), err)
		}
		h.bytes += size
		minRef, _ = sk.oldestRef()
	}
	raw, err := encode(f, sk)
	if err != nil {
		return err
	}
	last := h.last()
	if last == nil || f.Time.Sub(last.frames[0].t) >= h.opts.KeyEvery {
		return h.keyframe(f, raw, minRef)
	}
	data := compress(h.cur, raw)
	last.frames = append(last.frames, stored{t: f.Time, data: data, notable: f.Notable, minRef: minRef})
	last.bytes += len(data)
	h.bytes += len(data)
	return nil
}

// keyframe starts a group with f, and an encoder for the group's later
// frames with f's JSON as its dictionary.
func (h *History) keyframe(f Frame, raw []byte, minRef uint64) error {
	h.curID++
	if h.curID == 0 { // zstd reserves dictionary id 0 for none
		h.curID = 1
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderDictRaw(h.curID, raw))
	if err != nil {
		return fmt.Errorf("store keyframe at %s: %w", f.Time.Format(time.TimeOnly), err)
	}
	if h.cur != nil {
		_ = h.cur.Close() // EncodeAll only: nothing is buffered
	}
	h.cur = enc
	data := compress(plainEnc, raw)
	h.groups = append(h.groups, &group{id: h.curID, frames: []stored{{t: f.Time, data: data, notable: f.Notable, minRef: minRef}}, bytes: len(data)})
	h.bytes += len(data)
	return nil
}

// evict drops the oldest groups while the next group starts Keep before
// now or earlier, or the frames are over MaxBytes; the newest group stays.
func (h *History) evict(now time.Time) {
	horizon := now.Add(-h.opts.Keep)
	for len(h.groups) > 1 && (!h.groups[1].frames[0].t.After(horizon) || h.bytes > h.opts.MaxBytes) {
		h.bytes -= h.groups[0].bytes
		if h.cache.g == h.groups[0] {
			h.cache.g, h.cache.raw = nil, nil
		}
		h.groups[0] = nil
		h.groups = h.groups[1:]
	}
	// The spans no kept frame refers to.
	var low uint64
	for _, g := range h.groups {
		for _, f := range g.frames {
			if f.minRef != 0 && (low == 0 || f.minRef < low) {
				low = f.minRef
			}
		}
	}
	if low != 0 {
		h.bytes -= h.spans.drop(low)
	}
}

func (h *History) last() *group {
	if len(h.groups) == 0 {
		return nil
	}
	return h.groups[len(h.groups)-1]
}

func (h *History) newest() time.Time {
	if g := h.last(); g != nil {
		return g.frames[len(g.frames)-1].t
	}
	return time.Time{}
}

// Span returns the times of the oldest and newest frames; both are zero
// for an empty history.
func (h *History) Span() (oldest, newest time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.groups) == 0 {
		return time.Time{}, time.Time{}
	}
	return h.groups[0].frames[0].t, h.newest()
}

// Stats says how much the history holds.
type Stats struct {
	Frames int
	// Bytes are the compressed frames' bytes.
	Bytes int
	// Err is the last frame that could not be stored, nil if none.
	Err error
}

// Stats returns what the history holds now.
func (h *History) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, g := range h.groups {
		n += len(g.frames)
	}
	return Stats{Frames: n, Bytes: h.bytes, Err: h.err}
}

// Seek returns the newest frame at or before t, or the oldest frame when t
// is earlier than all of them. The frame is decoded afresh: the caller
// owns it.
func (h *History) Seek(t time.Time) (Frame, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.groups) == 0 {
		return Frame{}, ErrEmpty
	}
	gi, fi := h.atOrBefore(t)
	return h.decode(gi, fi)
}

// SeekAfter is Seek(t) for a cursor moving forward from from: the newest
// frame at or before t if it is later than from, else the first frame
// after from (frames are not evenly spaced: stepping a second forward
// must not stay in place). ok is false when no frame is later than from:
// the cursor has reached the present.
func (h *History) SeekAfter(from, t time.Time) (f Frame, ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.groups) == 0 {
		return Frame{}, false, ErrEmpty
	}
	gi, fi := h.atOrBefore(t)
	if !h.groups[gi].frames[fi].t.After(from) {
		gi, fi = h.atOrBefore(from)
		if !h.groups[gi].frames[fi].t.After(from) { // else from is before the oldest
			if fi++; fi == len(h.groups[gi].frames) {
				gi, fi = gi+1, 0
			}
			if gi == len(h.groups) {
				return Frame{}, false, nil
			}
		}
	}
	f, err = h.decode(gi, fi)
	return f, err == nil, err
}

// atOrBefore locates the newest frame at or before t, else the oldest.
// Called with h.mu held and at least one group.
func (h *History) atOrBefore(t time.Time) (gi, fi int) {
	gi = max(sort.Search(len(h.groups), func(i int) bool { return h.groups[i].frames[0].t.After(t) })-1, 0)
	g := h.groups[gi]
	fi = max(sort.Search(len(g.frames), func(i int) bool { return g.frames[i].t.After(t) })-1, 0)
	return gi, fi
}

// decode returns frame fi of group gi. Called with h.mu held.
func (h *History) decode(gi, fi int) (Frame, error) {
	g := h.groups[gi]
	raw, err := h.keyJSON(g)
	if err != nil {
		return Frame{}, err
	}
	if fi > 0 {
		raw, err = decodeWith(g, raw, g.frames[fi].data)
		if err != nil {
			return Frame{}, err
		}
	}
	f, sk, err := decode(raw)
	if err != nil || sk == nil {
		return f, err
	}
	f.Telemetry, err = h.spans.resolve(sk)
	return f, err
}

// keyJSON is g's keyframe decompressed. Called with h.mu held.
func (h *History) keyJSON(g *group) ([]byte, error) {
	if h.cache.g == g {
		return h.cache.raw, nil
	}
	raw, err := plainDec.DecodeAll(g.frames[0].data, nil)
	if err != nil {
		return nil, fmt.Errorf("seek: decompress keyframe at %s: %w", g.frames[0].t.Format(time.TimeOnly), err)
	}
	h.cache.g, h.cache.raw = g, raw
	return raw, nil
}

// decodeWith decompresses a frame of g with its keyframe's JSON.
func decodeWith(g *group, key, data []byte) ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderDictRaw(g.id, key))
	if err != nil {
		return nil, fmt.Errorf("seek: decoder for group %d: %w", g.id, err)
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("seek: decompress frame of group %d: %w", g.id, err)
	}
	return raw, nil
}
