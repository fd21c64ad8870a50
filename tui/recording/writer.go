package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// DefaultChunkSpan is how much time one chunk holds: what a crash can lose
// and the grain a seek decompresses.
const DefaultChunkSpan = time.Second

// DefaultKeyEvery is how often a chunk is compressed on its own. From
// BenchmarkAnHourOfTheDemo (720 KB frames, 2,000 recent sagas, one a
// second; busy 2-core machine): every 10s is 42 MiB/hour and seeks of 7
// ms (worst 33), every 20s 25 MiB/hour and 21 ms (worst 91), every 40s
// 17 MiB/hour and 19 ms (worst 86). A standalone chunk is ~100 KB there,
// a chained one ~2.4 KB.
const DefaultKeyEvery = 20 * time.Second

// maxChainRaw bounds the raw bytes of a chain (a standalone chunk and
// those after it that depend on it), so a seek decompresses at most this
// much whatever the frames' size: zstd decodes it here in about 50 ms.
const maxChainRaw = 48 << 20

// Options configure a Writer; the zero value is the default.
type Options struct {
	// ChunkSpan is the time a chunk holds (DefaultChunkSpan if zero).
	ChunkSpan time.Duration
	// KeyEvery is how often a chunk is compressed on its own rather than
	// against the chunk before it (DefaultKeyEvery if zero): a seek
	// decompresses at most this much recording before the frame it wants.
	KeyEvery time.Duration
	// NoSync skips the fsync after each chunk: a crash of the process
	// still loses nothing written, a crash of the machine may. For tests
	// and benchmarks.
	NoSync bool
}

// Writer appends frames to a recording, one chunk per ChunkSpan, each
// chunk written whole with one write and then synced. It is for one
// goroutine. The caller closes it; Close writes the last chunk.
type Writer struct {
	out      io.Writer
	close    func() error
	sync     func() error
	span     time.Duration
	keyEvery time.Duration
	enc      *zstd.Encoder
	keyAt    time.Time // start of the last standalone chunk
	chained  int       // raw bytes since then, which a seek may decompress

	head chunkHead // the chunk being filled; zero start means none
	raw  []byte    // its body, uncompressed
	prev []byte    // the last chunk's body, the next one's dictionary
	last time.Time // the latest frame time, to keep time monotonic
	buf  []byte    // reused for the encoded chunk
	err  error     // the first write failure; every later call returns it
}

// Create makes (or truncates) the file at path and writes the header.
func Create(path string, meta Meta, opts Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	w, err := NewWriter(f, meta, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.close = f.Close
	if !opts.NoSync {
		w.sync = f.Sync
	}
	return w, nil
}

// NewWriter writes a recording to out, starting with the header. Close
// does not close out.
func NewWriter(out io.Writer, meta Meta, opts Options) (*Writer, error) {
	if meta.Created.IsZero() {
		meta.Created = time.Now()
	}
	hdr, err := encodeHeader(meta)
	if err != nil {
		return nil, err
	}
	// One encoder used synchronously by EncodeAll: no goroutines to stop.
	// The fastest level: against the chunk before, the better levels made
	// the file no smaller (9.7 MiB/hour either way at 208 KB frames) and
	// cost 26 ms a second instead of 3.4 ms.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
		zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, fmt.Errorf("start recording compressor: %w", err)
	}
	w := &Writer{out: out, span: opts.ChunkSpan, keyEvery: opts.KeyEvery, enc: enc}
	if w.span <= 0 {
		w.span = DefaultChunkSpan
	}
	if w.keyEvery <= 0 {
		w.keyEvery = DefaultKeyEvery
	}
	if _, err := out.Write(hdr); err != nil {
		return nil, fmt.Errorf("write recording header: %w", err)
	}
	return w, nil
}

// Append adds a frame. A frame a chunk span after the chunk's first one
// writes that chunk out first. A time before the last frame's is moved up
// to it, so a wall clock stepping back cannot unorder the file.
func (w *Writer) Append(f Frame) error {
	if w.err != nil {
		return w.err
	}
	if len(f.Data) > MaxFrame {
		return fmt.Errorf("append frame: %d bytes, at most %d", len(f.Data), MaxFrame)
	}
	t := w.monotonic(f.Time)
	if !w.head.start.IsZero() && (t.Sub(w.head.start) >= w.span || len(w.raw)+len(f.Data)+32 > maxChunkRaw) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.begin(t)
	off := t.Sub(w.head.start)
	var flags uint64
	if f.Keyframe {
		flags |= frameKeyframe
		if !w.head.keyframe {
			w.head.keyframe, w.head.firstKey = true, off
		}
	}
	w.raw = binary.AppendUvarint(w.raw, uint64(off))
	w.raw = binary.AppendUvarint(w.raw, flags)
	w.raw = binary.AppendUvarint(w.raw, uint64(len(f.Data)))
	w.raw = append(w.raw, f.Data...)
	w.head.frames++
	w.head.span = max(w.head.span, off)
	return nil
}

// Mark keeps a notable label in the chunk being filled (or the next one).
// Labels longer than 200 bytes are cut; past 64 in one chunk they are
// dropped, as a timeline could not show them anyway.
func (w *Writer) Mark(t time.Time, label string) error {
	if w.err != nil {
		return w.err
	}
	t = w.monotonic(t)
	w.begin(t)
	if len(w.head.marks) >= maxLabels {
		return nil
	}
	w.head.marks = append(w.head.marks, Mark{Time: t, Label: cut(label, maxLabel)})
	w.head.span = max(w.head.span, t.Sub(w.head.start))
	return nil
}

func (w *Writer) monotonic(t time.Time) time.Time {
	if t.Before(w.last) {
		t = w.last
	}
	w.last = t
	return t
}

// begin starts a chunk at t if none is being filled.
func (w *Writer) begin(t time.Time) {
	if w.head.start.IsZero() {
		w.head = chunkHead{start: t}
		w.raw = w.raw[:0]
	}
}

// Flush writes the chunk being filled, if any, and syncs it to disk.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.head.start.IsZero() {
		return nil
	}
	w.head.rawLen = len(w.raw)
	body, err := w.compress()
	if err != nil {
		w.err = err
		return err
	}
	b := appendChunk(w.buf[:0], w.head.encode(), body)
	w.buf = b
	w.head = chunkHead{}
	// This body is the next one's dictionary; the one before is free.
	w.prev, w.raw = w.raw, w.prev[:0]
	if _, err := w.out.Write(b); err != nil {
		w.err = fmt.Errorf("write recording chunk: %w", err)
		return w.err
	}
	if w.sync != nil {
		if err := w.sync(); err != nil {
			w.err = fmt.Errorf("sync recording: %w", err)
			return w.err
		}
	}
	return nil
}

// compress compresses the chunk being filled, on its own or against the
// chunk before it, and says which in its head.
func (w *Writer) compress() ([]byte, error) {
	w.head.standalone = len(w.prev) < minDict || len(w.raw) == 0 || w.head.start.Sub(w.keyAt) >= w.keyEvery ||
		w.chained+len(w.raw) > maxChainRaw
	dict := zstd.WithEncoderDictDelete()
	if w.head.standalone {
		w.keyAt, w.chained = w.head.start, len(w.raw)
	} else {
		w.chained += len(w.raw)
		dict = zstd.WithEncoderDictRaw(chainDict, w.prev)
	}
	if err := w.enc.ResetWithOptions(nil, dict); err != nil {
		return nil, fmt.Errorf("compress recording chunk: %w", err)
	}
	return w.enc.EncodeAll(w.raw, nil), nil
}

// Close writes the last chunk and closes the file Create opened. Calling
// it again returns nil.
func (w *Writer) Close() error {
	if w.enc == nil {
		return nil
	}
	err := w.Flush()
	w.enc.Close()
	w.enc = nil
	if w.close != nil {
		err = errors.Join(err, w.close())
	}
	w.err = errors.New("recording closed")
	return err
}

// appendChunk appends a chunk of head and compressed body to b.
func appendChunk(b, head, body []byte) []byte {
	start := len(b)
	b = append(b, chunkMarker...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(head)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = binary.BigEndian.AppendUint32(b, checksum(body))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint32(b, checksum(b[start+len(chunkMarker):]))
	return append(b, body...)
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
