package feed_test

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/tui/feed"
)

// BenchmarkAttach's flags, after the package on the go test line.
var (
	attachStreams   = flag.Int("streams", 1000, "BenchmarkAttach: streams in the layout (at least 2)")
	attachConsumers = flag.Int("consumers", 10, "BenchmarkAttach: durable pull consumers per stream")
	attachStorage   = flag.String("storage", "file", "BenchmarkAttach: the streams' storage, file or memory")
	attachWindow    = flag.Duration("window", 60*time.Second, "BenchmarkAttach, BenchmarkAttachDemo: length of each measured window")
	attachOnly      = flag.String("variants", "", "BenchmarkAttach: run only the variants whose name contains this (default all)")
)

// attachVariants are the feed configurations BenchmarkAttach compares,
// each attached alone in turn; the first is the reference the others are
// divided by. sys is a connection as the system account's user, for a
// feed that asks the server about every account at once.
var attachVariants = []attachVariant{
	{name: "every refresh polls everything", opts: func(app, sys *nats.Conn) feed.Options { return feed.Options{APIBudget: -1} }},
	{name: "api budget (default)", opts: func(app, sys *nats.Conn) feed.Options { return feed.Options{} }},
	{name: "system account", opts: func(app, sys *nats.Conn) feed.Options { return feed.Options{System: sys} }},
}

// BenchmarkAttach measures what attaching the dashboard's feed costs a
// large JetStream system: a separate nats-server process (built from the
// module cache, JetStream on a temporary directory) holding -streams
// streams (default 1,000, -storage file) with -consumers durable pull
// consumers each (default 10) and 20 messages of 256 B, none of them
// running. For each variant it reports, over a -window (default 60s): the
// server's CPU above idle and JetStream API requests per second (from the
// server's /jsz counter), the feed's CPU and RSS (this process's; nothing
// else runs in it during the window but a message a second and one stream
// created and one deleted), how long until the feed's snapshot holds every
// stream and consumer, and how long until it shows the created stream and
// drops the deleted one. The server is measured idle before the first
// variant and after each, to show drift.
//
// It measures once, whatever b.N: run it with -benchtime 1x.
//
//	go test -run '^$' -bench Attach -benchtime 1x ./tui/feed                      # 1,000 streams, about 4 minutes
//	go test -run '^$' -bench Attach -benchtime 1x -timeout 60m ./tui/feed -streams 10000  # builds in a few minutes
//
// Timings are figures, never asserted: TestTheAttachBenchmarkMeasuresASmallLayout
// checks the machinery.
func BenchmarkAttach(b *testing.B) {
	storage, err := parseStorage(*attachStorage)
	if err != nil {
		b.Fatal(err)
	}
	if *attachStreams < 2 || *attachConsumers < 0 || *attachWindow <= 0 {
		b.Fatalf("-streams %d, -consumers %d, -window %v: want at least 2 streams, no negative consumers and a window", *attachStreams, *attachConsumers, *attachWindow)
	}
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) } // as it happens: a 10,000 stream run takes a while
	rig := newAttachRig(b, layout{streams: *attachStreams, consumers: *attachConsumers, storage: storage}, logf)
	b.ResetTimer()
	variants := attachVariants
	if *attachOnly != "" {
		variants = nil
		for _, v := range attachVariants {
			if strings.Contains(v.name, *attachOnly) {
				variants = append(variants, v)
			}
		}
	}
	run := rig.run(b, variants, *attachWindow)
	b.StopTimer()
	run.report(os.Stdout)
	for _, r := range run.results {
		unit := strings.ReplaceAll(r.name, " ", "-") + ":"
		b.ReportMetric(r.server.CPU-run.idleAround(r), unit+"server-%core")
		b.ReportMetric(r.server.APIRate, unit+"api-req/s")
		b.ReportMetric(r.feedCPU, unit+"feed-%core")
		b.ReportMetric(r.feedRSS, unit+"feed-MiB")
		if r.complete.seen {
			b.ReportMetric(r.complete.took.Seconds(), unit+"complete-s")
		}
	}
}

// idleAround is the server's idle CPU around result r: the mean of the
// windows before and after it.
func (run attachRun) idleAround(r attachResult) float64 {
	for i := range run.results {
		if run.results[i].name == r.name {
			return (run.idle[i].CPU + run.idle[i+1].CPU) / 2
		}
	}
	return 0
}

// report writes the run as a table, one line a variant, and each variant's
// ratios to the first.
func (run attachRun) report(w io.Writer) {
	l, srv := run.rig.layout, run.rig.srv
	fmt.Fprintf(w, "\nattach: %d %s streams × %d consumers × %d messages of %d B on nats-server %s (a separate process); built in %v; %v windows\n",
		l.streams, strings.ToLower(l.storage.String()), l.consumers, layoutMessages, layoutPayload, srv.version, run.rig.built.Round(time.Millisecond), run.window)
	var idleCPU, idleAPI []string
	for _, s := range run.idle {
		idleCPU = append(idleCPU, fmt.Sprintf("%.1f %%", s.CPU))
		idleAPI = append(idleAPI, fmt.Sprintf("%.1f", s.APIRate))
	}
	fmt.Fprintf(w, "server idle (before the first variant, after each): %s of a core; %s API requests/s\n",
		strings.Join(idleCPU, ", "), strings.Join(idleAPI, ", "))
	fmt.Fprintf(w, "test process before attaching: %.0f MiB RSS\n\n", run.baseRSS)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tserver CPU above idle\tAPI requests/s\tAPI errors\tfeed CPU\tfeed RSS\tcomplete picture\tappear\tdisappear\tframes")
	for _, r := range run.results {
		fmt.Fprintf(tw, "%s\t%.1f %% of a core\t%.1f\t%d\t%.1f %%\t%.0f MiB\t%v\t%v\t%v\t%d\n",
			r.name, r.server.CPU-run.idleAround(r), r.server.APIRate, r.server.APIErrors, r.feedCPU, r.feedRSS,
			r.complete, r.appear, r.disappear, r.frames)
	}
	_ = tw.Flush()
	if len(run.results) < 2 {
		return
	}
	ref := run.results[0]
	fmt.Fprintf(w, "\nratios to %q:\n", ref.name)
	for _, r := range run.results[1:] {
		parts := []string{
			ratio("server CPU above idle", r.server.CPU-run.idleAround(r), ref.server.CPU-run.idleAround(ref)),
			ratio("API requests", r.server.APIRate, ref.server.APIRate),
			ratio("feed CPU", r.feedCPU, ref.feedCPU),
			ratio("feed RSS", r.feedRSS, ref.feedRSS),
		}
		for _, p := range []struct {
			what   string
			v, ref latency
		}{{"complete picture", r.complete, ref.complete}, {"appear", r.appear, ref.appear}, {"disappear", r.disappear, ref.disappear}} {
			if p.v.seen && p.ref.seen {
				parts = append(parts, ratio(p.what, p.v.took.Seconds(), p.ref.took.Seconds()))
			}
		}
		fmt.Fprintf(w, "  %s: %s\n", r.name, strings.Join(parts, ", "))
	}
}

func ratio(what string, v, ref float64) string {
	if ref <= 0 {
		return what + " ×–"
	}
	return fmt.Sprintf("%s ×%.2f", what, v/ref)
}
