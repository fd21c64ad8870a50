package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/tui/recording"
)

// A recording made by `record` is read back by `replay --info`.
func TestRecordThenReplayInfo(t *testing.T) {
	srv := natstest.Server(t)
	path := filepath.Join(t.TempDir(), "two-seconds.rec")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"record", "--server", srv.ClientURL(), path, "--duration", "2500ms", "--title", "two \x1b[31mseconds"}, &stdout, &stderr); code != 0 {
		t.Fatalf("record exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "recorded ") {
		t.Errorf("record printed %q", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"replay", "--info", path}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
		t.Fatalf("replay --info exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"format 1.1, frames sagascope-timeline/2", "title    two seconds", "traces   every trace with an error and 10% of the others", "server   nats://127.0.0.1:", "length   "} {
		if !strings.Contains(out, want) {
			t.Errorf("replay --info does not say %q:\n%s", want, out)
		}
	}
}

func TestReplayOfABadFileIsOneLine(t *testing.T) {
	dir := t.TempDir()
	var whole bytes.Buffer
	w, err := recording.NewWriter(&whole, recordingMeta("nats://x", "t"), recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := w.Append(recording.Frame{Time: t0.Add(time.Duration(i) * time.Second), Keyframe: true, Data: bytes.Repeat([]byte("frame "), 40)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	valid := whole.Bytes()
	future := bytes.Clone(valid)
	future[len("SAGASCOPE-REC\n")+1] = 2 // major 2
	tests := []struct {
		name string
		file []byte
		code int
		says string
	}{
		{"an empty file", nil, 1, "recording is empty"},
		{"a file that is not a recording", []byte("hello\n"), 1, "not a sagascope recording"},
		{"a recording of a newer major", future, 1, "recorded by a newer sagascope (format 2.x); this one reads 1.x"},
		{"a file cut in its first chunk", valid[:len(valid)-len(valid)/2], 1, "cut short"},
		{"a file cut later keeps what is whole", valid[:len(valid)-3], 0, "recording cut short after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"replay", "--info", path}, &stdout, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != tt.code || len(lines) != 1 || !strings.Contains(lines[0], tt.says) {
				t.Fatalf("exit %d (want %d), stderr not one line saying %q:\n%s", code, tt.code, tt.says, stderr.String())
			}
		})
	}
}

func TestScenarioRecordIsTakenOutOfTheCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		path, rest string
		usage      bool
	}{
		{"no --record leaves the line as it is", []string{"run", "gateway-down", "--scale", "0.5"}, "", "run gateway-down --scale 0.5", false},
		{"--record FILE anywhere is taken out", []string{"run", "--record", "g.rec", "gateway-down"}, "g.rec", "run gateway-down", false},
		{"--record=FILE is taken out", []string{"run", "gateway-down", "--record=g.rec"}, "g.rec", "run gateway-down", false},
		{"--record without a file is a usage error", []string{"run", "gateway-down", "--record"}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, rest, err := takeRecordFlag(tt.args)
			if (err != nil) != tt.usage || path != tt.path || strings.Join(rest, " ") != tt.rest {
				t.Fatalf("takeRecordFlag(%q) = %q, %q, %v", tt.args, path, rest, err)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"scenario", "run", "gateway-down", "--server", "nats://127.0.0.1:1", "--record", filepath.Join(t.TempDir(), "x.rec")}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "run 'sagascope record --server URL FILE' beside it") {
		t.Fatalf("--record on an attached run: exit %d, %s", code, stderr.String())
	}
}

// A trace sample out of range is one line and exit 2, before anything
// connects or starts.
func TestATraceSampleOutOfRangeIsAUsageError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.rec")
	for _, args := range [][]string{
		{"record", "--server", "nats://127.0.0.1:1", "--trace-sample", "0", file},
		{"record", "--server", "nats://127.0.0.1:1", "--trace-sample", "1.5", file},
		{"tui", "--server", "nats://127.0.0.1:1", "--record", file, "--record-trace-sample", "-1"},
		{"--record", file, "--record-trace-sample", "2"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "is not above 0 and at most 1") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("%q made %s", args, file)
		}
	}
}
