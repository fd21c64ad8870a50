package recording

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// isSentinel reports whether err wraps one of the package's sentinels, the
// promise every reading error keeps.
func isSentinel(err error) bool {
	for _, s := range []error{ErrNotRecording, ErrNewerFormat, ErrCorrupt, ErrTruncated, ErrEmpty} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzOpen reads arbitrary bytes as a recording, everything a replay does
// with it: open, read every frame, seek, verify. It must never panic,
// hang or allocate past the bounds, and every error must be one of the
// sentinels in one line. Seeds: testdata/fuzz/FuzzOpen (the bad files).
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := NewReader(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			if !isSentinel(err) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("open: %q is not one line wrapping a sentinel", err)
			}
			return
		}
		defer r.Close()
		if d := r.Damage(); d != nil && !isSentinel(d) {
			t.Fatalf("damage %q wraps no sentinel", d)
		}
		for _, at := range []int64{0, int64(r.Duration() / 2), int64(r.Duration()) + 1} {
			c, err := r.Seek(r.Start().Add(time.Duration(at)))
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("seek: %q wraps no sentinel", err)
				}
				continue
			}
			for {
				_, err := c.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					if !isSentinel(err) {
						t.Fatalf("next: %q wraps no sentinel", err)
					}
					break
				}
			}
		}
		if err := r.Verify(); err != nil && !isSentinel(err) {
			t.Fatalf("verify: %q wraps no sentinel", err)
		}
	})
}
