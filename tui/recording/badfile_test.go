package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz/FuzzOpen")

// badFile is a file and what reading it should find: the error Open
// returns, the damage it reports, the error Verify returns (each nil or a
// sentinel it wraps) and the whole chunks.
type badFile struct {
	name                   string
	file                   []byte
	open, damage, verified error
	chunks                 int
}

// chunkAt returns the offset, head and body of each chunk of b.
func chunksOf(t testing.TB, b []byte) (offs []int, heads, bodies [][]byte) {
	t.Helper()
	off := headerFixed + int(binary.BigEndian.Uint32(b[headerFixed-4:])) + 4
	for off < len(b) {
		headLen := int(binary.BigEndian.Uint32(b[off+4:]))
		bodyLen := int(binary.BigEndian.Uint32(b[off+8:]))
		head := b[off+chunkFixed : off+chunkFixed+headLen]
		body := b[off+chunkFixed+headLen+4 : off+chunkFixed+headLen+4+bodyLen]
		offs, heads, bodies = append(offs, off), append(heads, head), append(bodies, body)
		off += chunkFixed + headLen + 4 + bodyLen
	}
	return offs, heads, bodies
}

func flip(b []byte, at int) []byte {
	out := bytes.Clone(b)
	out[at] ^= 0x20
	return out
}

// withChunk returns b with chunk i rebuilt from head and body, checksums
// made to hold, so only the fields themselves are wrong.
func withChunk(t testing.TB, b []byte, i int, head, body []byte) []byte {
	t.Helper()
	offs, _, _ := chunksOf(t, b)
	end := len(b)
	if i+1 < len(offs) {
		end = offs[i+1]
	}
	out := append(bytes.Clone(b[:offs[i]]), appendChunk(nil, head, body)...)
	return append(out, b[end:]...)
}

// badFiles are the files the reader must survive; they are also the fuzz
// target's seed corpus.
func badFiles(t testing.TB) []badFile {
	meta := Meta{Created: t0, Server: "nats://127.0.0.1:4222", Version: "seed", Title: "three seconds"}
	valid := encode(t, meta, script{seconds: 3, perSecond: 2, keyEvery: 2}.frames())
	hdr, err := encodeHeader(meta)
	if err != nil {
		t.Fatal(err)
	}
	offs, heads, bodies := chunksOf(t, valid)

	futureMajor := bytes.Clone(valid)
	binary.BigEndian.PutUint16(futureMajor[len(magic):], 2)

	// A newer minor: a header field and head fields this reader does not
	// know.
	newer := []byte(magic)
	newer = binary.BigEndian.AppendUint16(newer, Major)
	newer = binary.BigEndian.AppendUint16(newer, Minor+3)
	js := []byte(`{"created":"2026-12-02T15:00:00Z","title":"from the future","colour":"blue","layers":[1,2]}`)
	newer = binary.BigEndian.AppendUint32(newer, uint32(len(js)))
	newer = append(newer, js...)
	newer = binary.BigEndian.AppendUint32(newer, checksum(newer[len(magic):]))
	for i := range heads {
		newer = appendChunk(newer, append(bytes.Clone(heads[i]), 0x05, 0xff, 0x01), bodies[i])
	}

	hugeBody := bytes.Clone(valid)
	binary.BigEndian.PutUint32(hugeBody[offs[0]+8:], 0xfffffff0)

	h, err := decodeChunkHead(heads[0])
	if err != nil {
		t.Fatal(err)
	}
	huge := h
	huge.rawLen, huge.frames = 1<<31, 1<<29
	lie := h
	lie.rawLen, lie.frames = 9, 3
	h2, err := decodeChunkHead(heads[1])
	if err != nil || h2.standalone {
		t.Fatalf("the second chunk should be chained to the first (%v)", err)
	}
	claims := h2
	claims.standalone = true
	chainedFirst := h
	chainedFirst.standalone = false

	return []badFile{
		{name: "valid", file: valid, chunks: 3},
		{name: "empty", file: nil, open: ErrEmpty},
		{name: "not_a_recording", file: []byte("GIF89a\x01\x00\x01\x00 not a recording at all"), open: ErrNotRecording},
		{name: "cut_in_header", file: valid[:10], open: ErrTruncated},
		{name: "header_only", file: hdr, open: ErrEmpty},
		{name: "future_major", file: futureMajor, open: ErrNewerFormat},
		{name: "newer_minor", file: newer, chunks: 3},
		{name: "header_bit_flipped", file: flip(valid, headerFixed+3), open: ErrCorrupt},
		{name: "cut_in_first_chunk", file: valid[:offs[0]+30], open: ErrTruncated},
		{name: "cut_in_second_chunk", file: valid[:offs[1]+30], damage: ErrTruncated, chunks: 1},
		{name: "cut_after_a_chunk_marker", file: append(bytes.Clone(valid), "CHNK"...), damage: ErrTruncated, chunks: 3},
		{name: "cut_in_second_body", file: valid[:offs[2]-3], damage: ErrTruncated, chunks: 1},
		{name: "second_head_bit_flipped", file: flip(valid, offs[1]+chunkFixed+1), damage: ErrCorrupt, chunks: 1},
		{name: "second_body_bit_flipped", file: flip(valid, offs[2]-3), verified: ErrCorrupt, chunks: 3},
		{name: "body_length_4GiB", file: hugeBody, open: ErrCorrupt},
		{name: "raw_length_2GiB", file: withChunk(t, valid, 0, huge.encode(), bodies[0]), open: ErrCorrupt},
		{name: "chained_first_chunk", file: withChunk(t, valid, 0, chainedFirst.encode(), bodies[0]), open: ErrCorrupt},
		{name: "chained_chunk_claims_standalone", file: withChunk(t, valid, 1, claims.encode(), bodies[1]), verified: ErrCorrupt, chunks: 3},
		{name: "raw_length_too_small", file: withChunk(t, valid, 0, lie.encode(), bodies[0]), verified: ErrCorrupt, chunks: 3},
	}
}

func TestBadFilesAreOneClearErrorAndWholeChunksStayReadable(t *testing.T) {
	for _, tt := range badFiles(t) {
		t.Run(strings.ReplaceAll(tt.name, "_", " "), func(t *testing.T) { checkBadFile(t, tt, tt.file) })
	}
}

// checkBadFile reads file as a replay would and checks it finds what tt
// says.
func checkBadFile(t *testing.T, tt badFile, file []byte) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if !sameError(err, tt.open) {
		t.Fatalf("open: %v, want %v", err, tt.open)
	}
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("open error is more than one line: %q", err)
		}
		return
	}
	defer r.Close()
	if !sameError(r.Damage(), tt.damage) {
		t.Errorf("damage: %v, want %v", r.Damage(), tt.damage)
	}
	if err := r.Verify(); !sameError(err, tt.verified) {
		t.Errorf("verify: %v, want %v", err, tt.verified)
	}
	if r.Chunks() != tt.chunks {
		t.Errorf("%d whole chunks, want %d", r.Chunks(), tt.chunks)
	}
	runtime.ReadMemStats(&after)
	// A file of a few hundred bytes may not cost megabytes, whatever its
	// length fields say.
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("reading %d bytes allocated %d", len(file), got)
	}
}

func sameError(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestTheMessagesSayWhatToDo(t *testing.T) {
	files := map[string][]byte{}
	for _, f := range badFiles(t) {
		files[f.name] = f.file
	}
	_, err := NewReader(bytes.NewReader(files["future_major"]), int64(len(files["future_major"])))
	if want := "recorded by a newer sagascope (format 2.x); this one reads 1.x"; err == nil || err.Error() != want {
		t.Errorf("future major: %v, want %q", err, want)
	}
	cut := files["cut_in_second_chunk"]
	r, err := NewReader(bytes.NewReader(cut), int64(len(cut)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d *DamageError
	if !errors.As(r.Damage(), &d) || !strings.HasPrefix(d.Error(), "recording cut short after 1s: chunk 2 at byte ") {
		t.Errorf("cut short: %v", r.Damage())
	}
}

// TestTheSeedCorpusIsTheBadFiles checks that each file of
// testdata/fuzz/FuzzOpen is still the bad file it is named for (a new
// compressor may write other bytes, the same damage); -update rewrites
// them.
func TestTheSeedCorpusIsTheBadFiles(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	for _, tt := range badFiles(t) {
		path := filepath.Join(dir, tt.name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			quoted, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
			file, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
			if !ok || err != nil {
				t.Fatalf("%s is not a corpus file of one []byte: %v", path, err)
			}
			checkBadFile(t, tt, []byte(file))
		})
	}
}
