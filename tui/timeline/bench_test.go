package timeline_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/timeline"
)

// BenchmarkHistoryDemo's flags, after the package on the go test line.
var (
	historyWindow = flag.Duration("window", time.Minute, "BenchmarkHistoryDemo: how long the demo is recorded")
	historyRate   = flag.Float64("rate", 20, "BenchmarkHistoryDemo: orders per second placed (the demo's default is 20)")
)

// BenchmarkHistoryDemo records the demo into a History as the dashboard
// does: the demo runs in this process on an embedded server (every saga
// traced, logs shipped, -rate orders a second), the status and telemetry
// feeds run with the dashboard's default options and hand every snapshot
// to the history, for -window (default 1m). It prints what the history
// holds per minute and for the default 15 minutes (extrapolated from the
// window), the heap the history holds at the end (in use after a GC, with
// it and after dropping it: what it adds to the RSS, with the newest
// telemetry snapshot and the spans of the last seek, which a dashboard
// holds anyway, among it), the time the feeds spent adding, and the time
// of a seek (wall clock: on a busy machine it says more of the machine).
//
// It measures once, whatever b.N: run it with -benchtime 1x.
//
//	go test -run '^$' -bench HistoryDemo -benchtime 1x ./tui/timeline -window 1m
//	go test -run '^$' -bench HistoryDemo -benchtime 1x ./tui/timeline -window 30s -rate 1000
func BenchmarkHistoryDemo(b *testing.B) {
	srv := natstest.Server(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	cfg := systemtest.Config(srv.ClientURL(), *historyRate)
	cfg.Telemetry = systemtest.Telemetry(b, ctx, telemetry.Config{Log: cfg.Log})
	systemtest.Run(b, ctx, cfg)
	nc := natstest.Connect(b, srv.ClientURL())

	sf, err := feed.New(nc, feed.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tf, err := feed.NewTelemetry(nc, feed.TelemetryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h := timeline.NewHistory(timeline.Options{})
	var (
		mu     sync.Mutex
		adding time.Duration
		last   feed.Snapshot
	)
	timed := func(add func()) {
		start := time.Now()
		add()
		mu.Lock()
		adding += time.Since(start)
		mu.Unlock()
	}
	b.ResetTimer()
	wctx, stop := context.WithTimeout(ctx, *historyWindow)
	defer stop()
	var g errgroup.Group
	g.Go(func() error {
		return sf.Run(wctx, func(s feed.Snapshot) { timed(func() { h.AddSnapshot(s) }); last = s })
	})
	g.Go(func() error {
		return tf.Run(wctx, func(s feed.TelemetrySnapshot) { timed(func() { h.AddTelemetry(s) }) })
	})
	if err := g.Wait(); err != nil && wctx.Err() == nil {
		b.Fatal(err)
	}

	b.StopTimer()
	st := h.Stats()
	oldest, newest := h.Span()
	span := newest.Sub(oldest)
	if st.Err != nil || st.Frames < 2 || span <= 0 {
		b.Fatalf("history after %v: %+v over %v", *historyWindow, st, span)
	}
	f, err := h.Seek(newest)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := timeline.Encode(f)
	if err != nil {
		b.Fatal(err)
	}
	// Seeks to a time spread over the history: a frame a second in, then
	// every 7th second, so most land between keyframes.
	seeks, seekStart := 0, time.Now()
	for at := oldest.Add(time.Second); at.Before(newest); at = at.Add(7 * time.Second) {
		if _, err := h.Seek(at); err != nil {
			b.Fatal(err)
		}
		seeks++
	}
	seek := time.Since(seekStart) / time.Duration(max(seeks, 1))

	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(h)
	h = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	heap := float64(int64(with.HeapInuse)-int64(without.HeapInuse)) / (1 << 20)

	perMin := float64(st.Bytes) / span.Minutes()
	b.Logf("demo at %.0f orders/s (placed %.0f/s at the end): %d sagas, %d consumers, %d spans in %d traces, %d log lines in the newest frame (%d KB of JSON)",
		*historyRate, last.Sagas.PlacedRate, len(f.Snapshot.Recent), len(f.Snapshot.Consumers), f.Telemetry.Spans, len(f.Telemetry.Traces), len(f.Telemetry.Logs), len(raw)>>10)
	b.Logf("%d frames over %v: %.2f MiB compressed, %.2f MiB/min, %.1f MiB per 15 min; heap held %.1f MiB; adding %.1f ms per frame; seek %.1f ms",
		st.Frames, span.Round(time.Second), float64(st.Bytes)/(1<<20), perMin/(1<<20), 15*perMin/(1<<20), heap,
		float64(adding.Microseconds())/1000/float64(st.Frames), float64(seek.Microseconds())/1000)
	b.ReportMetric(15*perMin/(1<<20), "MiB/15min")
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(float64(seek.Microseconds())/1000, "ms/seek")
}

// syntheticTelemetry is second i of a feed holding 10,000 spans at the
// demo's rate: 20 sagas a second, 18 spans each, the oldest traces leaving
// as new ones come. Spans and traces are shared between seconds, as the
// feed shares them.
type syntheticTelemetry struct {
	traces []*feed.Trace
	n      int
}

func (s *syntheticTelemetry) next(at time.Time) feed.TelemetrySnapshot {
	for range 20 {
		s.n++
		id := fmt.Sprintf("%032x", s.n)
		tr := &feed.Trace{ID: id, SagaID: fmt.Sprintf("ord-%06d", s.n), Start: at, End: at.Add(40 * time.Millisecond), Updated: at, Services: []string{"inventory", "orders", "payment", "shipping"}}
		for j := range 18 {
			tr.Spans = append(tr.Spans, &feed.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", s.n*100+j), ParentID: fmt.Sprintf("%016x", s.n*100), Name: "process saga.v1.payment.cmd.charge",
				Service: "payment", Instance: "b2c3d4e5", Start: at.Add(time.Duration(j) * time.Millisecond), End: at.Add(time.Duration(j+2) * time.Millisecond), SagaID: tr.SagaID,
				Attrs: []feed.Attr{{Key: "messaging.system", Value: "nats"}, {Key: "saga.id", Value: tr.SagaID}, {Key: "messaging.destination.name", Value: "saga.v1.payment.cmd.charge"}}})
		}
		s.traces = append([]*feed.Trace{tr}, s.traces...)
	}
	s.traces = s.traces[:min(len(s.traces), 10_000/18)]
	return feed.TelemetrySnapshot{Time: at, Traces: s.traces, Spans: len(s.traces) * 18, Reading: true}
}

// BenchmarkHistorySeek is a seek in a minute of synthetic frames of
// 10,000 spans (syntheticTelemetry): "step" a second back and forth (the
// spans decoded for the frame before are reused), "jump" 30 s each time
// (half of them are decoded again).
func BenchmarkHistorySeek(b *testing.B) {
	h := timeline.NewHistory(timeline.Options{})
	var tel syntheticTelemetry
	for i := range 60 {
		h.AddTelemetry(tel.next(t0.Add(time.Duration(i) * time.Second)))
	}
	b.Logf("%d frames, %d bytes", h.Stats().Frames, h.Stats().Bytes)
	for _, tt := range []struct {
		name string
		gap  time.Duration
	}{{"step", time.Second}, {"jump", 30 * time.Second}} {
		b.Run(tt.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := h.Seek(t0.Add(20*time.Second + time.Duration(i%2)*tt.gap)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/seek")
		})
	}
}
