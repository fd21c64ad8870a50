package recording

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Reader reads a recording through an index of its chunks, built at open
// from the chunks' heads alone. It is safe for concurrent use; each Cursor
// it returns is for one goroutine. The caller closes it.
type Reader struct {
	src    io.ReaderAt
	close  func() error
	meta   Meta
	minor  int
	chunks []chunkIndex
	damage error

	// mu guards the decoders: chained is re-armed with each chunk's
	// dictionary before it decodes.
	mu      sync.Mutex
	plain   *zstd.Decoder
	chained *zstd.Decoder
}

// chunkIndex is one whole chunk: its head and where its body is.
type chunkIndex struct {
	chunkHead
	body    int64 // offset of the body
	bodyLen int
	bodyCRC uint32
}

// Open opens the recording at path. It fails with an error wrapping
// ErrNotRecording, ErrNewerFormat, ErrCorrupt, ErrTruncated or ErrEmpty
// when no whole chunk can be read. A file damaged after some whole chunks
// opens, and Damage says what was lost.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording: %w", err)
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording %s: %w", path, err)
	}
	r.close = f.Close
	return r, nil
}

// NewReader reads a recording of size bytes from src, as Open does. Close
// does not close src.
func NewReader(src io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{src: src}
	off, err := r.readHeader(size)
	if err != nil {
		return nil, err
	}
	r.damage = r.index(off, size)
	if len(r.chunks) == 0 {
		if r.damage != nil {
			return nil, r.damage
		}
		return nil, fmt.Errorf("%w: a header and no chunks", ErrEmpty)
	}
	if err := r.startDecoders(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) readHeader(size int64) (int64, error) {
	if size == 0 {
		return 0, fmt.Errorf("%w: the file has no bytes", ErrEmpty)
	}
	fixed := make([]byte, headerFixed)
	n, err := r.src.ReadAt(fixed, 0)
	if n < len(magic) || string(fixed[:len(magic)]) != magic {
		if n == int(size) && bytes.HasPrefix([]byte(magic), fixed[:n]) {
			return 0, fmt.Errorf("%w: %d bytes, inside the header", ErrTruncated, n)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read recording header: %w", err)
		}
		return 0, ErrNotRecording
	}
	if n < headerFixed {
		return 0, fmt.Errorf("%w: %d bytes, inside the header", ErrTruncated, n)
	}
	major := int(binary.BigEndian.Uint16(fixed[len(magic):]))
	minor := int(binary.BigEndian.Uint16(fixed[len(magic)+2:]))
	if major > Major {
		return 0, fmt.Errorf("%w (format %d.x); this one reads %d.x", ErrNewerFormat, major, Major)
	}
	if major < 1 {
		return 0, fmt.Errorf("%w: format %d.%d was never written", ErrCorrupt, major, minor)
	}
	metaLen := int64(binary.BigEndian.Uint32(fixed[len(magic)+4:]))
	if metaLen > maxMeta {
		return 0, fmt.Errorf("%w: metadata of %d bytes, at most %d", ErrCorrupt, metaLen, maxMeta)
	}
	end := int64(headerFixed) + metaLen + 4
	if end > size {
		return 0, fmt.Errorf("%w: %d bytes, inside the header", ErrTruncated, size)
	}
	rest := make([]byte, metaLen+4)
	if _, err := r.src.ReadAt(rest, headerFixed); err != nil {
		return 0, fmt.Errorf("read recording header: %w", err)
	}
	js := rest[:metaLen]
	if checksum(fixed[len(magic):], js) != binary.BigEndian.Uint32(rest[metaLen:]) {
		return 0, fmt.Errorf("%w: header checksum does not match", ErrCorrupt)
	}
	if err := json.Unmarshal(js, &r.meta); err != nil {
		return 0, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	r.minor = minor
	return end, nil
}

// index reads the chunks' heads from off to size, skipping their bodies.
// It stops at the first chunk that is not whole and returns why.
func (r *Reader) index(off, size int64) error {
	fixed := make([]byte, chunkFixed)
	var head []byte
	for off < size {
		cut := func(what string) error {
			return &DamageError{After: r.duration(), Kind: ErrTruncated, Detail: fmt.Sprintf("chunk %d at byte %d: %s", len(r.chunks)+1, off, what)}
		}
		bad := func(format string, args ...any) error {
			return &DamageError{After: r.duration(), Kind: ErrCorrupt, Detail: fmt.Sprintf("chunk %d at byte %d: %s", len(r.chunks)+1, off, fmt.Sprintf(format, args...))}
		}
		if size-off < chunkFixed {
			return cut("its head is cut")
		}
		if _, err := r.src.ReadAt(fixed, off); err != nil {
			return bad("read: %v", err)
		}
		if string(fixed[:len(chunkMarker)]) != chunkMarker {
			return bad("no chunk marker")
		}
		headLen := int64(binary.BigEndian.Uint32(fixed[4:]))
		bodyLen := int64(binary.BigEndian.Uint32(fixed[8:]))
		bodyCRC := binary.BigEndian.Uint32(fixed[12:])
		if headLen > maxHead || bodyLen > maxChunkBody {
			return bad("lengths %d and %d above their bounds", headLen, bodyLen)
		}
		headEnd := off + chunkFixed + headLen + 4
		if headEnd > size {
			return cut("its head is cut")
		}
		if int64(cap(head)) < headLen+4 {
			head = make([]byte, headLen+4)
		}
		head = head[:headLen+4]
		if _, err := r.src.ReadAt(head, off+chunkFixed); err != nil {
			return bad("read: %v", err)
		}
		if checksum(fixed[len(chunkMarker):], head[:headLen]) != binary.BigEndian.Uint32(head[headLen:]) {
			return bad("head checksum does not match")
		}
		if headEnd+bodyLen > size {
			return cut("its body is cut")
		}
		h, err := decodeChunkHead(head[:headLen])
		if err != nil {
			return bad("head: %v", err)
		}
		if n := len(r.chunks); n > 0 && h.start.Before(r.chunks[n-1].end()) {
			return bad("starts before the chunk it follows ends")
		}
		if len(r.chunks) == 0 && !h.standalone {
			return bad("the first chunk depends on one before it")
		}
		r.chunks = append(r.chunks, chunkIndex{chunkHead: h, body: headEnd, bodyLen: int(bodyLen), bodyCRC: bodyCRC})
		off = headEnd + bodyLen
	}
	return nil
}

// DamageError says a recording is whole only up to a point: After is how
// much of it reads, Kind is ErrTruncated or ErrCorrupt, Detail says where
// and what.
type DamageError struct {
	After  time.Duration
	Kind   error
	Detail string
}

// Error reads "recording cut short after 12m04s: chunk 725 at byte …".
func (e *DamageError) Error() string {
	what := "cut short"
	if e.Kind == ErrCorrupt {
		what = "damaged"
	}
	if e.After == 0 {
		return fmt.Sprintf("recording %s in its first second: %s", what, e.Detail)
	}
	return fmt.Sprintf("recording %s after %s: %s", what, FormatDuration(e.After), e.Detail)
}

// Unwrap returns Kind, so errors.Is(err, ErrTruncated) works.
func (e *DamageError) Unwrap() error { return e.Kind }

// FormatDuration writes d as a recording's clock: 12m04s, 1h02m09s, 7s.
func FormatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

// Damage is nil for a whole recording, else a *DamageError saying what
// was lost at its end; the chunks before it read as usual.
func (r *Reader) Damage() error { return r.damage }

// Meta is the recording's header metadata.
func (r *Reader) Meta() Meta { return r.meta }

// Version is the format the file was written in.
func (r *Reader) Version() (major, minor int) { return Major, r.minor }

// Chunks is the number of whole chunks.
func (r *Reader) Chunks() int { return len(r.chunks) }

// Start is the time of the first whole chunk's start.
func (r *Reader) Start() time.Time {
	if len(r.chunks) == 0 {
		return time.Time{}
	}
	return r.chunks[0].start
}

// End is the time of the last frame or mark of the last whole chunk.
func (r *Reader) End() time.Time {
	if len(r.chunks) == 0 {
		return time.Time{}
	}
	return r.chunks[len(r.chunks)-1].end()
}

// Duration is End minus Start.
func (r *Reader) Duration() time.Duration { return r.duration() }

func (r *Reader) duration() time.Duration {
	if len(r.chunks) == 0 {
		return 0
	}
	return r.End().Sub(r.Start())
}

// Marks are the notable labels of every whole chunk, in time order.
func (r *Reader) Marks() []Mark {
	var out []Mark
	for _, c := range r.chunks {
		out = append(out, c.marks...)
	}
	return out
}

// Close releases the decoder and closes the file Open opened.
func (r *Reader) Close() error {
	r.mu.Lock()
	for _, d := range []*zstd.Decoder{r.plain, r.chained} {
		if d != nil {
			d.Close()
		}
	}
	r.plain, r.chained = nil, nil
	r.mu.Unlock()
	if r.close != nil {
		c := r.close
		r.close = nil
		return c()
	}
	return nil
}

// startChunk is the chunk to decompress from to show time t: the last
// one holding a keyframe at or before t, else the first.
func (r *Reader) startChunk(t time.Time) int {
	// The last chunk starting at or before t.
	i := sort.Search(len(r.chunks), func(i int) bool { return r.chunks[i].start.After(t) }) - 1
	for ; i >= 0; i-- {
		c := &r.chunks[i]
		if c.keyframe && !c.start.Add(c.firstKey).After(t) {
			return i
		}
	}
	return 0
}
