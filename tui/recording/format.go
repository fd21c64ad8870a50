// Package recording is sagascope's file of what a dashboard saw: a header
// and then about one chunk per second of opaque frames, appended as they
// come so a crash loses at most the chunk being filled. What a frame's bytes
// mean is the frame model's business (Meta.FrameFormat names it); this
// package only stores, checks and finds them.
//
// # Layout (format 1.x)
//
//	header  "SAGASCOPE-REC\n"  major uint16  minor uint16
//	        metaLen uint32  meta (JSON)  crc32c uint32 (of major..meta)
//	chunk   "CHNK"  headLen uint32  bodyLen uint32  bodyCRC uint32
//	        head (headLen bytes)  headCRC uint32 (of headLen..head)
//	        body (bodyLen bytes: one zstd frame)
//
// Integers are big-endian; the head and the body's records use varints. A
// head is: start (unix ns, varint), span, frames, raw body length, flags
// (1: holds a keyframe, 2: standalone), first keyframe offset, then labels
// (count, then offset, length, bytes each). The decompressed body is
// frames, each: offset from start, flags (1: keyframe), length, bytes.
// Offsets are nanoseconds after the chunk's start. A standalone body is
// one zstd frame on its own; any other is one zstd frame whose raw
// dictionary (id 1) is the previous chunk's decompressed body. The first
// chunk is standalone.
//
// # The version rule
//
// The magic and the major and minor numbers stay where they are in every
// version. A minor version only adds: new JSON fields in the metadata, new
// fields at the end of a chunk's head, new flag bits. A reader reads any
// minor of its major and ignores what it does not know. Anything else is a
// new major, and a reader refuses a major newer than its own
// (ErrNewerFormat) rather than guess.
package recording

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// The format this package writes; it reads every minor of Major.
const (
	Major = 1
	Minor = 1
)

// magic opens every recording, whatever its version.
const magic = "SAGASCOPE-REC\n"

const chunkMarker = "CHNK"

// Bounds that keep a damaged or hostile length field from making a reader
// allocate more than a chunk can hold. A second of a 10,000-stream
// dashboard is a few MB of frames, so these leave room without letting a
// flipped bit ask for 4 GiB.
const (
	// MaxFrame is the largest frame a Writer takes.
	MaxFrame = 32 << 20
	// maxChunkRaw bounds a chunk's decompressed body; the Writer starts a
	// new chunk before a frame would cross it.
	maxChunkRaw = 64 << 20
	// maxChunkBody bounds a chunk's compressed body.
	maxChunkBody = maxChunkRaw + maxChunkRaw/64
	maxMeta      = 64 << 10
	maxHead      = 64 << 10
	// maxLabel bounds one notable label; longer ones are cut.
	maxLabel = 200
	// maxLabels bounds the labels of one chunk; more are dropped.
	maxLabels = 64
)

// headerFixed is the length of the magic, major, minor and metaLen;
// chunkFixed of the marker, headLen, bodyLen and bodyCRC. Untyped, to serve
// as offsets of either width.
const (
	headerFixed = 14 + 2 + 2 + 4
	chunkFixed  = 4 + 4 + 4 + 4
)

// Sentinel errors; the errors this package returns wrap one of them and
// say where in the file the trouble is.
var (
	// ErrNotRecording: the file does not start with a recording's magic.
	ErrNotRecording = errors.New("not a sagascope recording")
	// ErrNewerFormat: the file's major version is newer than this reader's.
	ErrNewerFormat = errors.New("recorded by a newer sagascope")
	// ErrCorrupt: a checksum or a field does not hold.
	ErrCorrupt = errors.New("recording is corrupt")
	// ErrTruncated: the file ends inside a header or a chunk.
	ErrTruncated = errors.New("recording cut short")
	// ErrEmpty: the file holds no whole chunk.
	ErrEmpty = errors.New("recording is empty")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b ...[]byte) uint32 {
	var c uint32
	for _, p := range b {
		c = crc32.Update(c, castagnoli, p)
	}
	return c
}

// Meta describes a recording; it is the header's JSON block. Unknown
// fields written by a newer minor are ignored.
type Meta struct {
	// Created is when the recording started.
	Created time.Time `json:"created"`
	// Server is the NATS URL the dashboard watched (credentials removed by
	// the caller).
	Server string `json:"server,omitempty"`
	// Version is the sagascope that recorded it.
	Version string `json:"sagascope_version,omitempty"`
	// Title is a free-form name, e.g. the scenario recorded.
	Title string `json:"title,omitempty"`
	// FrameFormat names what the frame bytes are, so a replay knows how to
	// read them (e.g. "feed.Snapshot+json").
	FrameFormat string `json:"frame_format,omitempty"`
	// TraceSample is the share of traces without errors the recorder kept
	// (every trace with an error is kept); 0 when it kept every trace or
	// none (added in 1.1: a 1.0 file kept every trace).
	TraceSample float64 `json:"trace_sample,omitempty"`
}

// Frame is one moment of dashboard state, as bytes the frame model chose.
// A keyframe stands alone; other frames may depend on the frames before
// them back to the last keyframe.
type Frame struct {
	Time     time.Time
	Keyframe bool
	Data     []byte
}

// Mark is a notable moment kept in a chunk's head, so a timeline can show
// it without decompressing anything.
type Mark struct {
	Time  time.Time
	Label string
}

const (
	chunkHasKeyframe = 1 << 0
	// chunkStandalone marks a body compressed on its own. Any other body
	// is compressed with the previous chunk's decompressed body as a raw
	// zstd dictionary (id chainDict): consecutive frames of a dashboard
	// are mostly the same bytes (the recent sagas shift by the few that
	// started), so a chained chunk stores about what changed.
	chunkStandalone = 1 << 1
	frameKeyframe   = 1 << 0
)

// chainDict is the zstd dictionary id of a chained chunk's dictionary.
const chainDict = 1

// encodeHeader returns the file header for meta.
func encodeHeader(meta Meta) ([]byte, error) {
	js, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode recording metadata: %w", err)
	}
	if len(js) > maxMeta {
		return nil, fmt.Errorf("encode recording metadata: %d bytes, at most %d", len(js), maxMeta)
	}
	b := make([]byte, 0, headerFixed+len(js)+4)
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, Major)
	b = binary.BigEndian.AppendUint16(b, Minor)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	return binary.BigEndian.AppendUint32(b, checksum(b[len(magic):])), nil
}

// chunkHead is what a chunk's head says, enough to index and seek without
// touching the body.
type chunkHead struct {
	start      time.Time
	span       time.Duration // last frame or label after start
	frames     int
	rawLen     int
	keyframe   bool          // the body holds at least one keyframe
	firstKey   time.Duration // the first keyframe's offset, if keyframe
	standalone bool          // the body is compressed without a dictionary
	marks      []Mark
}

func (h *chunkHead) end() time.Time { return h.start.Add(h.span) }

func (h *chunkHead) encode() []byte {
	b := binary.AppendVarint(nil, h.start.UnixNano())
	b = binary.AppendUvarint(b, uint64(h.span))
	b = binary.AppendUvarint(b, uint64(h.frames))
	b = binary.AppendUvarint(b, uint64(h.rawLen))
	var flags uint64
	if h.keyframe {
		flags |= chunkHasKeyframe
	}
	if h.standalone {
		flags |= chunkStandalone
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, uint64(h.firstKey))
	b = binary.AppendUvarint(b, uint64(len(h.marks)))
	for _, m := range h.marks {
		b = binary.AppendUvarint(b, uint64(max(m.Time.Sub(h.start), 0)))
		b = binary.AppendUvarint(b, uint64(len(m.Label)))
		b = append(b, m.Label...)
	}
	return b
}

// decodeChunkHead reads a head whose checksum already held; bytes after
// the fields it knows are a newer minor's and are ignored.
func decodeChunkHead(b []byte) (chunkHead, error) {
	d := varints{b: b}
	var h chunkHead
	h.start = time.Unix(0, d.varint()).UTC()
	h.span = time.Duration(d.bounded(uint64(365 * 24 * time.Hour)))
	frames := d.bounded(maxChunkRaw)
	h.rawLen = int(d.bounded(maxChunkRaw))
	flags := d.uvarint()
	h.keyframe = flags&chunkHasKeyframe != 0
	h.standalone = flags&chunkStandalone != 0
	h.firstKey = time.Duration(d.bounded(uint64(h.span)))
	n := d.bounded(maxLabels)
	if d.err != nil {
		return chunkHead{}, d.err
	}
	// Each frame takes at least three bytes of body, so a count beyond
	// that is damage, and it never sizes an allocation larger than the
	// body.
	if frames > uint64(h.rawLen)/3 {
		return chunkHead{}, fmt.Errorf("%d frames in %d bytes", frames, h.rawLen)
	}
	h.frames = int(frames)
	for range n {
		off := time.Duration(d.bounded(uint64(h.span)))
		label := d.bytes(maxLabel)
		if d.err != nil {
			return chunkHead{}, d.err
		}
		h.marks = append(h.marks, Mark{Time: h.start.Add(off), Label: string(label)})
	}
	return h, nil
}

// varints reads varints from b, remembering the first failure so a run of
// reads is checked once.
type varints struct {
	b   []byte
	err error
}

func (d *varints) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad or missing varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads what binary.AppendVarint wrote: a zig-zag uvarint.
func (d *varints) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// bounded reads a uvarint that must not exceed limit.
func (d *varints) bounded(limit uint64) uint64 {
	v := d.uvarint()
	if d.err == nil && v > limit {
		d.err = fmt.Errorf("field %d above its bound %d", v, limit)
		return 0
	}
	return v
}

// bytes reads a length-prefixed byte string of at most limit bytes; the
// result aliases the input.
func (d *varints) bytes(limit uint64) []byte {
	n := d.bounded(limit)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}
