package feed_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestTheAttachBenchmarkMeasuresASmallLayout runs BenchmarkAttach's
// machinery at a tiny scale: the separate server starts, the layout is
// built, the counters are read, and every variant reaches the complete
// picture and sees a stream appear and one disappear. It checks that the
// figures exist, never how large they are.
func TestTheAttachBenchmarkMeasuresASmallLayout(t *testing.T) {
	l := layout{streams: 20, consumers: 3, storage: jetstream.FileStorage}
	rig := newAttachRig(t, l, t.Logf)
	run := rig.run(t, attachVariants, 2*time.Second)

	var report strings.Builder
	run.report(&report)
	t.Log(report.String())
	if len(run.idle) != len(attachVariants)+1 || len(run.results) != len(attachVariants) {
		t.Fatalf("%d idle windows and %d results for %d variants", len(run.idle), len(run.results), len(attachVariants))
	}
	for _, r := range run.results {
		if r.server.APIRate <= 0 || r.feedCPU <= 0 || r.feedRSS <= 0 || r.frames == 0 {
			t.Errorf("%s: %.1f API requests/s, feed CPU %.1f %%, RSS %.0f MiB, %d frames: the counters were not read",
				r.name, r.server.APIRate, r.feedCPU, r.feedRSS, r.frames)
		}
		if !r.complete.seen || !r.appear.seen || !r.disappear.seen {
			t.Errorf("%s: complete picture %v, appear %v, disappear %v", r.name, r.complete, r.appear, r.disappear)
		}
	}
	if s := rig.sample(t); s.streams != l.streams || s.consumers != l.streams*l.consumers {
		t.Errorf("after the run the server holds %d streams and %d consumers, want the layout's %d and %d back",
			s.streams, s.consumers, l.streams, l.streams*l.consumers)
	}
}

// TestTheDemoAttachBenchmarkMeasuresTwoDashboards runs BenchmarkAttachDemo's
// machinery at a tiny scale: the demo runs against the separate server,
// sagas complete, two dashboards attach and each shows every service, and
// the counters are read. It checks that the figures exist, never how large
// they are.
func TestTheDemoAttachBenchmarkMeasuresTwoDashboards(t *testing.T) {
	rig := newDemoRig(t, t.Logf)
	run := rig.run(t, []int{2}, 2*time.Second)

	var report strings.Builder
	run.report(&report)
	t.Log(report.String())
	if len(run.without) != 2 || len(run.results) != 1 {
		t.Fatalf("%d windows without a dashboard and %d results, want 2 and 1", len(run.without), len(run.results))
	}
	r := run.results[0]
	if !r.showing.seen || r.showed != r.dashboards {
		t.Errorf("%d of %d dashboards show every service (all showing: %v)", r.showed, r.dashboards, r.showing)
	}
	if r.completed == 0 {
		t.Error("a dashboard shows no completed saga: the demo did not run")
	}
	if r.frames == 0 || r.telemetryFrames == 0 {
		t.Errorf("%d frames and %d telemetry frames", r.frames, r.telemetryFrames)
	}
	// The services make no JetStream API request once they consume: only
	// the dashboards' window must count some.
	if r.load.server.APIRate <= 0 {
		t.Errorf("%.1f API requests/s with dashboards: the API counter was not read", r.load.server.APIRate)
	}
	for _, l := range append(run.without, r.load) {
		if l.server.CPU <= 0 || l.process <= 0 {
			t.Errorf("server %.1f %%, this process %.1f %% of a core: the CPU was not read", l.server.CPU, l.process)
		}
	}
}
