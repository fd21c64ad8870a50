package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/tui"
	"github.com/sagascope/sagascope/tui/recording"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// runRecord is `sagascope record [connection flags] [--duration D] FILE`:
// the dashboard's feeds without the dashboard, written to FILE.
func runRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	var opts connect.Options
	opts.Register(fs)
	var sys connect.System
	sys.Register(fs)
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	title := fs.String("title", "", "a name for the recording, shown when it is replayed")
	refresh := fs.Duration("refresh", time.Second, "how often streams and consumers are polled")
	noTelemetry := fs.Bool("no-telemetry", false, "leave traces and logs out (at the demo's load they are most of the file)")
	var sample float64
	traceSampleFlag(fs, &sample, "trace-sample")
	path, err := parseFile(fs, args, stderr)
	if err != nil {
		return err
	}
	if *duration < 0 {
		return cli.Usagef("--duration %v is negative", *duration)
	}
	if *refresh < 100*time.Millisecond {
		return cli.Usagef("--refresh %v is below 100ms", *refresh)
	}
	if err := checkTraceSample("trace-sample", sample); err != nil {
		return err
	}
	nc, sysNC, err := dialWatcher(ctx, opts, sys, "sagascope record")
	if err != nil {
		return err
	}
	defer nc.Close()
	meta := recordingMeta(nc.ConnectedUrlRedacted(), *title)
	if !*noTelemetry {
		meta.TraceSample = sample
	}
	w, err := recording.Create(path, meta, recording.Options{})
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(stderr, "sagascope: recording %s to %s (Ctrl-C stops)\n", nc.ConnectedUrlRedacted(), path)
	err = tui.Record(ctx, nc, w, tui.RecordOptions{RefreshEvery: *refresh, System: sysNC, NoTelemetry: *noTelemetry, TraceSample: sample})
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("record to %s: %w", path, err)
	}
	r, err := recording.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(stdout, "recorded %s in %d chunks to %s (%s%s)\n", recording.FormatDuration(r.Duration()), r.Chunks(), path, fileSize(path), perHour(path, r.Duration()))
	return nil
}

// recordingMeta is the header of a recording made now by this sagascope.
func recordingMeta(server, title string) recording.Meta {
	return recording.Meta{Created: time.Now(), Server: server, Version: version, Title: title, FrameFormat: tui.FrameFormat}
}

// recordFlags are --record and --record-trace-sample on the commands that
// open the dashboard.
type recordFlags struct {
	path   string
	sample float64
}

func recordFlag(fs *flag.FlagSet) *recordFlags {
	var r recordFlags
	fs.StringVar(&r.path, "record", "", "also write what the dashboard sees to this recording file (see 'sagascope replay')")
	traceSampleFlag(fs, &r.sample, "record-trace-sample")
	return &r
}

// traceSampleFlag registers the share of traces a recording keeps.
func traceSampleFlag(fs *flag.FlagSet, p *float64, name string) {
	fs.Float64Var(p, name, tui.DefaultTraceSample, "share of traces without errors the recording keeps, above 0 up to 1 (every trace with an error is kept)")
}

// checkTraceSample is a usage error for a sample out of range.
func checkTraceSample(name string, v float64) error {
	if !(v > 0 && v <= 1) {
		return cli.Usagef("--%s %v is not above 0 and at most 1", name, v)
	}
	return nil
}

// check is a usage error for flags out of range; call it after parsing.
func (r *recordFlags) check() error { return checkTraceSample("record-trace-sample", r.sample) }

// start creates the recording --record names, fed by the dashboard; stop
// writes its last chunk and closes it. Without --record there is none and
// stop does nothing.
func (r *recordFlags) start(server, title string) (rec *tui.Recorder, stop func() error, err error) {
	if r.path == "" {
		return nil, func() error { return nil }, nil
	}
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	meta := recordingMeta(server, title)
	meta.TraceSample = r.sample
	w, err := recording.Create(r.path, meta, recording.Options{})
	if err != nil {
		return nil, nil, err
	}
	return tui.NewRecorder(w, r.sample), w.Close, nil
}

// runReplay is `sagascope replay FILE`, the dashboard on a recording, and
// `replay --info FILE`, what a recording holds.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	info := fs.Bool("info", false, "print what the recording holds (header, length, chunks, notable events) and check every chunk")
	path, err := parseFile(fs, args, stderr)
	if err != nil {
		return err
	}
	if !*info && !isTerminal(stdout) {
		return cli.Usagef("replay: stdout is not a terminal (use 'sagascope replay --info FILE' for scripts)")
	}
	r, err := recording.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if !*info {
		// A file cut short plays what is whole; the dashboard's header
		// says where it ends, and this line stays on the scrollback.
		if d := r.Damage(); d != nil {
			fmt.Fprintln(stderr, "sagascope:", d)
		}
		title := "replay of " + path
		if t := r.Meta().Title; t != "" {
			title += " (" + t + ")"
		}
		if m := r.Meta(); m.TraceSample > 0 && m.TraceSample < 1 {
			title += fmt.Sprintf(" · traces: errors + %s%%", strconv.FormatFloat(100*m.TraceSample, 'f', -1, 64))
		}
		return tui.Replay(ctx, r, tui.Options{Title: title})
	}
	printRecording(stdout, path, r)
	// What is damaged is said after what is whole, in one line; the whole
	// part stays usable, so it is not a failure.
	damage := r.Damage()
	if damage == nil {
		damage = r.Verify()
	}
	if damage != nil {
		fmt.Fprintln(stderr, "sagascope:", damage)
	}
	return nil
}

// printRecording prints a recording's header, length and notable events.
// Every string in it came from the file, so each is cleaned.
func printRecording(w io.Writer, path string, r *recording.Reader) {
	m := r.Meta()
	major, minor := r.Version()
	clean := func(s string) string { return sanitize.Line(s, 200) }
	fmt.Fprintf(w, "%s: sagascope recording, format %d.%d, frames %s\n", clean(path), major, minor, orNone(clean(m.FrameFormat)))
	if m.Title != "" {
		fmt.Fprintf(w, "title    %s\n", clean(m.Title))
	}
	fmt.Fprintf(w, "server   %s\n", orNone(clean(m.Server)))
	fmt.Fprintf(w, "made by  sagascope %s on %s\n", orNone(clean(m.Version)), m.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "length   %s, %s to %s UTC, %d chunks, %s\n", recording.FormatDuration(r.Duration()),
		r.Start().UTC().Format(time.TimeOnly), r.End().UTC().Format(time.TimeOnly), r.Chunks(), fileSize(path))
	if s := traceSampleNote(m); s != "" {
		fmt.Fprintf(w, "traces   %s\n", s)
	}
	marks := r.Marks()
	if len(marks) == 0 {
		fmt.Fprintln(w, "notable  none")
		return
	}
	fmt.Fprintf(w, "notable  %d\n", len(marks))
	for _, mk := range marks {
		fmt.Fprintf(w, "  %8s  %s\n", recording.FormatDuration(mk.Time.Sub(r.Start())), clean(mk.Label))
	}
}

// traceSampleNote says which traces a recording kept, "" when it kept
// every one.
func traceSampleNote(m recording.Meta) string {
	if m.TraceSample <= 0 || m.TraceSample >= 1 {
		return ""
	}
	return fmt.Sprintf("every trace with an error and %s of the others", strconv.FormatFloat(100*m.TraceSample, 'f', -1, 64)+"%")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// perHour is the file's size per hour of recording, e.g. ", 31.2
// MiB/hour", or "" for a recording under ten seconds, too short to say.
func perHour(path string, d time.Duration) string {
	st, err := os.Stat(path)
	if err != nil || d < 10*time.Second {
		return ""
	}
	return fmt.Sprintf(", %.1f MiB/hour", float64(st.Size())/(1<<20)*float64(time.Hour)/float64(d))
}

func fileSize(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "size unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(st.Size())/(1<<20))
}

// parseFile parses fs's flags, wherever they stand, and returns the one
// FILE argument.
func parseFile(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	own, other, err := cli.Split(fs, args)
	if err != nil {
		return "", err
	}
	if err := cli.Parse(fs, own, stderr); err != nil {
		return "", err
	}
	for _, a := range other {
		if strings.HasPrefix(a, "-") && a != "-" {
			return "", cli.Usagef("%s: flag provided but not defined: %s (see '%s -h')", fs.Name(), a, cli.CommandLine(fs))
		}
	}
	if len(other) != 1 {
		return "", cli.Usagef("%s: one FILE wanted, %d given (see '%s -h')", fs.Name(), len(other), cli.CommandLine(fs))
	}
	return other[0], nil
}
