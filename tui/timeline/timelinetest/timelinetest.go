// Package timelinetest checks that frames survive their bytes, for the
// tests of tui/timeline and of the screens that draw rewound frames.
package timelinetest

import (
	"testing"

	"github.com/sagascope/sagascope/tui/internal/same"
	"github.com/sagascope/sagascope/tui/timeline"
)

// RoundTrip encodes f, decodes the bytes and fails t when the frame that
// comes back differs from f (as same.Diff compares); it returns that frame
// and the size of its bytes.
func RoundTrip(t testing.TB, f timeline.Frame) (timeline.Frame, int) {
	t.Helper()
	b, err := timeline.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := timeline.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := same.Diff(f, got); d != "" {
		t.Fatalf("decoded frame differs at %s", d)
	}
	return got, len(b)
}
