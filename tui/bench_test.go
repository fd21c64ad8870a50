package tui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// frameBudget is what one frame may cost: at the default 10 frames a
// second, 5 ms is 5% of one core.
const frameBudget = 5 * time.Millisecond

// bigSnapshot is a large server: 100 streams of 10 consumers each and
// 10,000 recent sagas, beside the fixture's services.
func bigSnapshot() feed.Snapshot { return serverOf(100) }

// serverOf is a server of n streams with 10 consumers each, and 10,000
// recent sagas.
func serverOf(n int) feed.Snapshot {
	s := fixtureSnapshot()
	streams := make([]feed.Stream, 0, n)
	consumers := make([]feed.Consumer, 0, 10*n)
	for i := range n {
		st := fixtureStreams()[i%len(fixtureStreams())]
		st.Name = fmt.Sprintf("%s_%05d", st.Name, i)
		streams = append(streams, st)
		for j := range 10 {
			c := commandConsumer("payment", uint64(i*j*37%5000), (i+j)%64, []feed.Level{feed.LevelOK, feed.LevelWarn, feed.LevelCritical}[j%3], "")
			c.Stream, c.Name = st.Name, fmt.Sprintf("worker-%02d", j)
			consumers = append(consumers, c)
		}
	}
	sortConsumers(consumers)
	s.Streams, s.Consumers = streams, consumers
	s.Recent = fixtureSagas(10_000)
	return s
}

// bigTelemetry is 10,000 spans in traces of completed sagas, with their
// log lines.
func bigTelemetry() feed.TelemetrySnapshot {
	s := feed.TelemetrySnapshot{Time: fixtureTime, Reading: true, Since: ago(10 * time.Minute)}
	for i := 0; s.Spans < 10_000; i++ {
		tr := fixtureTrace(i, fmt.Sprintf("ord-%06d", 12_400-i), ago(time.Duration(i)*700*time.Millisecond), completedSaga())
		s.Traces = append(s.Traces, tr)
		s.Spans += len(tr.Spans)
	}
	s.Logs = fixtureLogs(s.Traces)
	return s
}

// One frame of each screen on a large server: a status snapshot and a
// telemetry snapshot arrive (the screen on view rebuilds what it shows from
// them) and the dashboard is drawn at 160x48. Reported per frame: ms/frame
// and budget-% (the share of the 5 ms frame budget used), beside B/op and
// allocs/op.
func BenchmarkFrame(b *testing.B) {
	snap, tel := snapshotMsg{bigSnapshot()}, telemetryMsg{bigTelemetry()}
	b.Logf("%d streams, %d consumers, %d sagas, %d spans in %d traces, %d log lines",
		len(snap.snap.Streams), len(snap.snap.Consumers), len(snap.snap.Recent), tel.snap.Spans, len(tel.snap.Traces), len(tel.snap.Logs))
	for i, s := range newApp(appConfig{styles: plainStyles()}).screens {
		b.Run(s.Title(), func(b *testing.B) {
			a := testApp(b, 160, 48, snap.snap, &fakeControl{})
			a.switchTo(i)
			scr := a.screens[i]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				scr.Update(snap)
				scr.Update(tel)
				_ = a.View()
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/frame")
			b.ReportMetric(100*float64(per)/float64(frameBudget), "budget-%")
		})
	}
}

// The Streams and Consumers screens of a server of 10,000 streams with 10
// consumers each (100,000 rows): a snapshot arrives (the list is filtered
// and sorted again) and the screen is drawn at 160x48, sorted by a column
// other than the name and filtered, as a user looking for trouble would.
//
// "between polls" frames get a snapshot of the same poll (nine in ten at
// the default refresh); "new poll" frames get a poll of their own each
// time, so the list is filtered and sorted again, once a refresh.
func BenchmarkFrame100kRows(b *testing.B) {
	poll := serverOf(10_000)
	next := poll
	next.Streams, next.Consumers = slices.Clone(poll.Streams), slices.Clone(poll.Consumers)
	polls := []snapshotMsg{{poll}, {next}}
	for _, tt := range []struct {
		name string
		keys []string
	}{
		{"Streams", []string{"2", "s"}},
		{"Consumers", []string{"3", "s"}},
		{"Consumers filtered", []string{"3", "/", "w", "o", "r", "k", "e", "r", "-", "0", "3", "enter", "s"}},
	} {
		for _, frames := range []struct {
			name string
			of   func(i int) snapshotMsg
		}{
			{"between polls", func(int) snapshotMsg { return polls[0] }},
			{"new poll", func(i int) snapshotMsg { return polls[i%2] }},
		} {
			b.Run(tt.name+"/"+frames.name, func(b *testing.B) {
				a := testApp(b, 160, 48, poll, &fakeControl{})
				press(a, tt.keys...)
				scr := a.screens[a.active]
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					i++
					scr.Update(frames.of(i))
					_ = a.View()
				}
				per := b.Elapsed() / time.Duration(b.N)
				b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/frame")
				b.ReportMetric(100*float64(per)/float64(frameBudget), "budget-%")
			})
		}
	}
}
