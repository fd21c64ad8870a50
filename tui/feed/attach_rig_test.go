package feed_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/tui/feed"
)

// attachVariant is one way of configuring the feed, attached alone in
// turn. opts gets the APP connection the feed reads through and a
// connection as the system account's user.
type attachVariant struct {
	name string
	opts func(app, sys *nats.Conn) feed.Options
}

// The streams the attached window changes: one created at a third of the
// window, the layout's last deleted at two thirds; a trickle of messages
// goes round the first few.
const (
	addedStream    = "ATTACH_ADDED"
	trickleStreams = 4
)

// attachRig is the separate server holding the layout, and the APP
// connection that built it and changes it while a feed is attached.
type attachRig struct {
	srv    *serverProcess
	layout layout
	js     jetstream.JetStream
	sys    *nats.Conn
	built  time.Duration // how long the layout took to build
	logf   func(format string, args ...any)
}

// newAttachRig starts the server and builds the layout on it.
func newAttachRig(tb testing.TB, l layout, logf func(string, ...any)) *attachRig {
	tb.Helper()
	srv := startServer(tb)
	nc := srv.dial(tb, "attach layout", appUser, appPassword)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	r := &attachRig{srv: srv, layout: l, js: js, sys: srv.dial(tb, "attach system", sysUser, sysPassword), logf: logf}
	logf("nats-server %s (pid %d, %s): building %d %s streams × %d consumers × %d messages of %d B",
		srv.version, srv.pid, srv.clientURL, l.streams, strings.ToLower(l.storage.String()), l.consumers, layoutMessages, layoutPayload)
	start := time.Now()
	if err := l.build(tb.Context(), js); err != nil {
		tb.Fatalf("build the layout: %v", err)
	}
	r.built = time.Since(start)
	s := srv.mustSample(tb)
	if s.streams != l.streams || s.consumers != l.streams*l.consumers {
		tb.Fatalf("the server holds %d streams and %d consumers, want %d and %d", s.streams, s.consumers, l.streams, l.streams*l.consumers)
	}
	logf("layout built in %v", r.built.Round(time.Millisecond))
	return r
}

// attachRun is what one run measured: the server idle before, between and
// after the variants, and each variant attached.
type attachRun struct {
	rig     *attachRig
	window  time.Duration
	baseRSS float64 // MiB, before the first feed
	idle    []serverLoad
	results []attachResult
}

// attachResult is one variant attached for one window.
type attachResult struct {
	name   string
	server serverLoad
	// feedCPU is the test process's CPU over the window, per cent of one
	// core: the feed's, and the trickle's few requests.
	feedCPU float64
	feedRSS float64 // MiB at the window's end
	frames  int
	// complete counts from attach; appear and disappear from the create
	// and the delete returning.
	complete, appear, disappear latency
}

// run measures each variant attached alone for window, with the server
// idle for a window before the first and after each.
func (r *attachRig) run(tb testing.TB, variants []attachVariant, window time.Duration) attachRun {
	tb.Helper()
	debug.FreeOSMemory()
	run := attachRun{rig: r, window: window, baseRSS: selfRSS(tb)}
	run.idle = append(run.idle, r.idleFor(tb, window))
	for _, v := range variants {
		r.logf("attaching %q for %v", v.name, window)
		run.results = append(run.results, r.attach(tb, v, window))
		run.idle = append(run.idle, r.idleFor(tb, window))
	}
	return run
}

// idleFor measures the server with nothing attached.
func (r *attachRig) idleFor(tb testing.TB, window time.Duration) serverLoad {
	tb.Helper()
	a := r.sample(tb)
	pause(tb.Context(), window)
	return a.until(r.sample(tb))
}

func (r *attachRig) sample(tb testing.TB) serverSample {
	tb.Helper()
	return r.srv.mustSample(tb)
}

// attach runs variant v's feed on a connection of its own for window,
// while the system changes under it, then restores the layout.
func (r *attachRig) attach(tb testing.TB, v attachVariant, window time.Duration) attachResult {
	tb.Helper()
	removed := r.layout.stream(r.layout.streams - 1)
	res := r.watch(tb, v, window, removed)
	ctx := tb.Context()
	if err := r.js.DeleteStream(ctx, addedStream); err != nil {
		tb.Fatalf("restore the layout: delete %s: %v", addedStream, err)
	}
	if err := r.layout.buildStream(ctx, r.js, r.layout.streams-1); err != nil {
		tb.Fatalf("restore the layout: %v", err)
	}
	return res
}

// watch is attach's window: the feed runs until the window's figures are
// read and every sighting was seen (or another window passed), and is
// stopped and waited for before it returns.
func (r *attachRig) watch(tb testing.TB, v attachVariant, window time.Duration, removed string) attachResult {
	tb.Helper()
	ctx := tb.Context()
	nc := r.srv.dial(tb, "attach feed", appUser, appPassword)
	defer nc.Close()
	f, err := feed.New(nc, v.opts(nc, r.sys))
	if err != nil {
		tb.Fatal(err)
	}
	w := newWatcher(r.layout, addedStream, removed)
	debug.FreeOSMemory()

	server0, cpu0 := r.sample(tb), selfCPU(tb)
	start := time.Now()
	w.arm(w.complete, start)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx, w.send) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("feed %q: %v", v.name, err)
		}
	}()

	if err := r.disturb(ctx, w, start, window, removed); err != nil {
		tb.Fatal(err)
	}
	server1, cpu1 := r.sample(tb), selfCPU(tb)
	res := attachResult{
		name:    v.name,
		server:  server0.until(server1),
		feedCPU: share(cpu1-cpu0, server1.at.Sub(server0.at)),
		feedRSS: selfRSS(tb),
	}
	w.await(ctx, max(window, 10*time.Second))
	res.complete, res.appear, res.disappear = w.latencies()
	res.frames = w.frameCount()
	return res
}

// disturb changes the system while the feed is attached, until the
// window ends: a message a second round the first streams, a stream
// created at a third of the window and one deleted at two thirds.
func (r *attachRig) disturb(ctx context.Context, w *watcher, start time.Time, window time.Duration, removed string) error {
	trickle := time.NewTicker(time.Second)
	defer trickle.Stop()
	create := time.After(time.Until(start.Add(window / 3)))
	remove := time.After(time.Until(start.Add(2 * window / 3)))
	end := time.After(time.Until(start.Add(window)))
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end:
			return nil
		case <-trickle.C:
			subject := r.layout.subject(n % min(trickleStreams, r.layout.streams-1))
			if _, err := r.js.Publish(ctx, subject, payload); err != nil {
				return fmt.Errorf("trickle to %s: %w", subject, err)
			}
			n++
		case <-create:
			create = nil
			cfg := jetstream.StreamConfig{Name: addedStream, Subjects: []string{"attach.added"}, Storage: r.layout.storage}
			if _, err := r.js.CreateStream(ctx, cfg); err != nil {
				return fmt.Errorf("create %s: %w", addedStream, err)
			}
			w.arm(w.appear, time.Now())
		case <-remove:
			remove = nil
			w.forget(removed)
			if err := r.js.DeleteStream(ctx, removed); err != nil {
				return fmt.Errorf("delete %s: %w", removed, err)
			}
			w.arm(w.disappear, time.Now())
		}
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// selfCPU is this process's user and system CPU time.
func selfCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfRSS is this process's resident set in MiB, from /proc/self/status.
func selfRSS(tb testing.TB) float64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatalf("read VmRSS %q: %v", v, err)
			}
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}
