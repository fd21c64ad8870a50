package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// spanSpec describes a fixture span relative to its trace's start.
type spanSpec struct {
	id, parent, service, name, kind string
	at, took                        time.Duration
	failed                          string // the error status message, "" for ok
	attrs                           []feed.Attr
	events                          []feed.SpanEvent
}

// fixtureTrace builds a trace as the feed would from specs, spans in the
// order given (the order they arrived).
func fixtureTrace(n int, saga string, start time.Time, specs []spanSpec) *feed.Trace {
	tr := &feed.Trace{ID: fmt.Sprintf("%016x%016x", uint64(n+1)*0x9e3779b97f4a7c15, uint64(n+7)*0xbf58476d1ce4e5b9), SagaID: saga, Start: start, End: start, Updated: fixtureTime}
	for _, sp := range specs {
		s := &feed.Span{TraceID: tr.ID, SpanID: sp.id, ParentID: sp.parent, Name: sp.name, Kind: sp.kind,
			Service: sp.service, Instance: sp.service[:min(3, len(sp.service))] + "-1", Start: start.Add(sp.at), End: start.Add(sp.at + sp.took),
			SagaID: saga, Attrs: sp.attrs, Events: sp.events}
		if saga != "" {
			s.Attrs = append([]feed.Attr{{Key: "saga.id", Value: saga}}, s.Attrs...)
		}
		if sp.failed != "" {
			s.Status, s.StatusMessage = feed.StatusError, sp.failed
			tr.Errors++
		}
		for i := range s.Events {
			s.Events[i].Time = start.Add(sp.at + s.Events[i].Time.Sub(time.Time{}))
		}
		tr.Spans = append(tr.Spans, s)
		if s.ParentID == "" && tr.Root == nil {
			tr.Root = s
		}
		if tr.First == nil || s.Start.Before(tr.First.Start) {
			tr.First = s
		}
		if s.End.After(tr.End) {
			tr.End = s.End
		}
		if !slices.Contains(tr.Services, s.Service) {
			tr.Services = append(tr.Services, s.Service)
			slices.Sort(tr.Services)
		}
	}
	return tr
}

func process(t string) string { return "process " + contract.Subject(t) }
func publish(t string) string { return "publish " + contract.Subject(t) }

// completedSaga is the spans of a saga whose steps all succeeded.
func completedSaga() []spanSpec {
	ms := time.Millisecond
	msg := func(subject string, seq int) []feed.Attr {
		return []feed.Attr{{Key: "messaging.destination.name", Value: subject}, {Key: "messaging.nats.stream.sequence", Value: fmt.Sprint(seq)}, {Key: "messaging.system", Value: "nats"}}
	}
	return []spanSpec{
		{id: "01", parent: "", service: "orders", name: publish(contract.PlaceOrder), kind: "producer", at: 0, took: ms},
		{id: "02", parent: "01", service: "orders", name: process(contract.PlaceOrder), kind: "consumer", at: ms, took: 3 * ms, attrs: msg(contract.Subject(contract.PlaceOrder), 24_722)},
		{id: "03", parent: "02", service: "orders", name: publish(contract.ChargePayment), kind: "producer", at: 3 * ms, took: ms},
		{id: "04", parent: "03", service: "payment", name: process(contract.ChargePayment), kind: "consumer", at: 5 * ms, took: 9 * ms, attrs: msg(contract.Subject(contract.ChargePayment), 40_000)},
		{id: "05", parent: "04", service: "payment", name: "charge gateway", kind: "client", at: 6 * ms, took: 6 * ms},
		{id: "06", parent: "04", service: "payment", name: publish(contract.PaymentCharged), kind: "producer", at: 13 * ms, took: ms},
		{id: "07", parent: "06", service: "orders", name: process(contract.PaymentCharged), kind: "consumer", at: 15 * ms, took: 3 * ms},
		{id: "08", parent: "07", service: "orders", name: publish(contract.ReserveStock), kind: "producer", at: 17 * ms, took: ms},
		{id: "09", parent: "08", service: "inventory", name: process(contract.ReserveStock), kind: "consumer", at: 19 * ms, took: 8 * ms},
		{id: "0a", parent: "09", service: "inventory", name: "reserve database", kind: "client", at: 20 * ms, took: 5 * ms},
		{id: "0b", parent: "09", service: "inventory", name: publish(contract.StockReserved), kind: "producer", at: 26 * ms, took: ms},
		{id: "0c", parent: "0b", service: "orders", name: process(contract.StockReserved), kind: "consumer", at: 28 * ms, took: 3 * ms},
		{id: "0d", parent: "0c", service: "orders", name: publish(contract.ScheduleShipment), kind: "producer", at: 30 * ms, took: ms},
		{id: "0e", parent: "0d", service: "shipping", name: process(contract.ScheduleShipment), kind: "consumer", at: 32 * ms, took: 12 * ms},
		{id: "0f", parent: "0e", service: "shipping", name: "book carrier", kind: "client", at: 33 * ms, took: 10 * ms},
		{id: "10", parent: "0e", service: "shipping", name: publish(contract.ShipmentScheduled), kind: "producer", at: 43 * ms, took: ms},
		{id: "11", parent: "10", service: "orders", name: process(contract.ShipmentScheduled), kind: "consumer", at: 45 * ms, took: 2 * ms},
	}
}

// cancelledSaga is a saga whose charge the payment breaker rejected.
func cancelledSaga() []spanSpec {
	ms := time.Millisecond
	at := func(d time.Duration) time.Time { return time.Time{}.Add(d) }
	return []spanSpec{
		{id: "02", parent: "01", service: "orders", name: process(contract.PlaceOrder), kind: "consumer", at: ms, took: 2 * ms},
		{id: "03", parent: "02", service: "orders", name: publish(contract.ChargePayment), kind: "producer", at: 2 * ms, took: ms},
		{id: "04", parent: "03", service: "payment", name: process(contract.ChargePayment), kind: "consumer", at: 4 * ms, took: 3 * ms,
			failed: "breaker gateway is open", attrs: []feed.Attr{{Key: "messaging.nats.message.delivery_count", Value: "1"}},
			events: []feed.SpanEvent{{Time: at(ms), Name: "breaker rejected", Attrs: []feed.Attr{{Key: "breaker.name", Value: "gateway"}}}}},
		{id: "05", parent: "04", service: "payment", name: publish(contract.PaymentDeclined), kind: "producer", at: 6 * ms, took: ms},
		{id: "06", parent: "05", service: "orders", name: process(contract.PaymentDeclined), kind: "consumer", at: 8 * ms, took: 2 * ms},
		{id: "01", parent: "", service: "orders", name: publish(contract.PlaceOrder), kind: "producer", at: 0, took: ms},
	}
}

// fixtureTelemetry is the traces and logs of the demo under the faults of
// fixtureSnapshot, with a hostile sender among them.
func fixtureTelemetry() feed.TelemetrySnapshot {
	s := feed.TelemetrySnapshot{Time: fixtureTime, Reading: true, Since: ago(3 * time.Minute)}
	// Saga i started i*700ms ago, as in fixtureSagas.
	started := func(i int) time.Time { return ago(time.Duration(i) * 700 * time.Millisecond) }
	s.Traces = append(s.Traces,
		// The newest saga is in flight: its root span has not arrived.
		fixtureTrace(0, "ord-012400", started(0), completedSaga()[1:5]),
		fixtureTrace(1, "", started(0).Add(-time.Millisecond), []spanSpec{
			{id: "01", service: "\x1b]0;pwned\x07evil", name: "evil \x1b[2Jspan\nforged", kind: "internal", took: time.Millisecond,
				failed: "\x1b[31mred\x1b[0m", attrs: []feed.Attr{{Key: "k\x1b[1m", Value: "v\r\nforged line\u202e"}}},
		}),
	)
	for i := 2; i < 24; i++ {
		specs := completedSaga()
		if i%8 == 5 {
			specs = cancelledSaga()
		}
		s.Traces = append(s.Traces, fixtureTrace(i, fmt.Sprintf("ord-%06d", 12_400-i), started(i), specs))
	}
	for _, tr := range s.Traces {
		s.Spans += len(tr.Spans)
	}
	s.Logs = fixtureLogs(s.Traces)
	s.Counts = feed.TelemetryCounts{Batches: 420, Logs: uint64(len(s.Logs))}
	return s
}

// fixtureLogs are log lines newest first, some in the traces' spans.
func fixtureLogs(traces []*feed.Trace) []*feed.LogLine {
	var out []*feed.LogLine
	add := func(l feed.LogLine) {
		l.Seq = uint64(100 - len(out))
		out = append(out, &l)
	}
	byName := func(saga string) *feed.Trace {
		for _, tr := range traces {
			if tr.SagaID == saga {
				return tr
			}
		}
		return nil
	}
	cancelled := byName("ord-012395")
	add(feed.LogLine{Time: ago(100 * time.Millisecond), Level: "WARN", Message: "message refused for good", Service: "payment", Instance: "pay-1",
		TraceID: cancelled.ID, SpanID: cancelled.Spans[2].SpanID, SagaID: "ord-012395",
		Attrs: []feed.Attr{{Key: "delivery", Value: "1"}, {Key: "error", Value: "breaker gateway is open"}, {Key: "type", Value: contract.ChargePayment}}})
	add(feed.LogLine{Time: ago(300 * time.Millisecond), Level: "ERROR", Message: "could not store dead letter; will retry \x1b[2J\x1b]52;c;cHduZWQ=\x07", Service: "inventory", Instance: "inv-1",
		Attrs: []feed.Attr{{Key: "error", Value: "nats: timeout"}, {Key: "subject", Value: "saga.v1.dlq.inventory"}}})
	add(feed.LogLine{Time: ago(900 * time.Millisecond), Level: "INFO", Message: "saga step timed out", Service: "orders", Instance: "ord-1", SagaID: "ord-012398",
		Attrs: []feed.Attr{{Key: "reason", Value: "inventory did not answer in 15s"}, {Key: "status", Value: "compensating"}}})
	add(feed.LogLine{Time: ago(2 * time.Second), Level: "WARN", Message: "pull failed, pulling again", Service: "shipping", Instance: "shi-2",
		Attrs: []feed.Attr{{Key: "error", Value: "nats: no heartbeat received"}, {Key: "stream", Value: "SAGA_SHIPPING"}}, Dropped: 12})
	for i := range 30 {
		add(feed.LogLine{Time: ago(time.Duration(3+i) * time.Second), Level: "WARN", Message: "giving up after the last delivery", Service: "inventory", Instance: "inv-1",
			SagaID: fmt.Sprintf("ord-%06d", 12_300-i), Attrs: []feed.Attr{{Key: "delivery", Value: "5"}, {Key: "error", Value: "database: latency fault 300ms"}}})
	}
	add(feed.LogLine{Time: ago(time.Minute), Level: "INFO", Message: "started", Service: "payment", Instance: "pay-1",
		Attrs: []feed.Attr{{Key: "consumers", Value: "2"}, {Key: "workers", Value: "32"}}})
	return out
}

// screenIndex is the position of the screen titled title.
func screenIndex(t *testing.T, a *app, title string) int {
	t.Helper()
	i := slices.IndexFunc(a.screens, func(s screen) bool { return s.Title() == title })
	if i < 0 {
		t.Fatalf("no %s screen", title)
	}
	return i
}

// telemetryApp is testApp showing the fixture's telemetry on screen title.
func telemetryApp(t *testing.T, w, h int, title string, tel feed.TelemetrySnapshot) *app {
	t.Helper()
	a := testApp(t, w, h, fixtureSnapshot(), &fakeControl{})
	a.Update(telemetryMsg{tel})
	a.switchTo(screenIndex(t, a, title))
	return a
}

// deliver presses keys and hands the app the message the last key's
// command makes, as the program would; it fails when there is none.
func deliver(t *testing.T, a *app, keys ...string) tea.Msg {
	t.Helper()
	cmds := press(a, keys...)
	last := cmds[len(cmds)-1]
	if last == nil {
		t.Fatalf("keys %v asked for nothing", keys)
	}
	msg := last()
	a.Update(msg)
	return msg
}

func TestTelemetryScreensGolden(t *testing.T) {
	tests := []struct {
		name   string
		screen string
		tel    func() feed.TelemetrySnapshot
		keys   []string
	}{
		{name: "traces", screen: "Traces", tel: fixtureTelemetry},
		{name: "traces_waterfall", screen: "Traces", tel: fixtureTelemetry, keys: []string{"down", "down", "enter"}},
		{name: "traces_waterfall_failed_span", screen: "Traces", tel: fixtureTelemetry, keys: []string{"/", "0", "1", "2", "3", "9", "5", "enter", "enter", "down", "down", "down"}},
		{name: "traces_span_detail", screen: "Traces", tel: fixtureTelemetry, keys: []string{"/", "0", "1", "2", "3", "9", "5", "enter", "enter", "down", "down", "down", "enter"}},
		{name: "traces_hostile", screen: "Traces", tel: fixtureTelemetry, keys: []string{"down", "enter"}},
		{name: "traces_hostile_detail", screen: "Traces", tel: fixtureTelemetry, keys: []string{"down", "enter", "enter"}},
		{name: "traces_no_stream", screen: "Traces", tel: func() feed.TelemetrySnapshot { return feed.TelemetrySnapshot{Time: fixtureTime} }},
		{name: "logs", screen: "Logs", tel: fixtureTelemetry},
		{name: "logs_filter_shipping", screen: "Logs", tel: fixtureTelemetry, keys: []string{"/", "s", "h", "i", "p", "enter"}},
		{name: "logs_without_trace", screen: "Logs", tel: fixtureTelemetry, keys: []string{"down", "enter"}},
		{name: "traces_problem", screen: "Traces", tel: func() feed.TelemetrySnapshot {
			s := fixtureTelemetry()
			s.Problems = []feed.Problem{{Source: feed.SourceSpans, Error: "follow SAGA_TELEMETRY: nats: \x1b[31mno responders"}}
			return s
		}},
		{name: "logs_malformed", screen: "Logs", tel: func() feed.TelemetrySnapshot {
			s := fixtureTelemetry()
			s.Counts.MalformedLogs = 3
			return s
		}},
		{name: "logs_empty", screen: "Logs", tel: func() feed.TelemetrySnapshot { return feed.TelemetrySnapshot{Time: fixtureTime, Reading: true} }},
	}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, sz.w, sz.h), func(t *testing.T) {
				a := telemetryApp(t, sz.w, sz.h, tt.screen, tt.tel())
				press(a, tt.keys...)
				view := a.View()
				checkFits(t, view, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s_%dx%d", tt.name, sz.w, sz.h), view)
			})
		}
	}
}

// Enter on a log line, or t on a saga, opens its trace on the Traces
// screen; a trace not arrived yet is waited for.
func TestOpeningATraceFromLogsAndSagas(t *testing.T) {
	tests := []struct {
		name      string
		from      string
		keys      []string
		tel       func() feed.TelemetrySnapshot
		wantTitle string
	}{
		{name: "a log line opens the trace it names", from: "Logs", keys: []string{"enter"}, tel: fixtureTelemetry, wantTitle: "saga ord-012395"},
		{name: "a log line with only a saga opens the saga's trace", from: "Logs", keys: []string{"down", "down", "enter"}, tel: fixtureTelemetry, wantTitle: "saga ord-012398"},
		{name: "a saga opens its trace", from: "Sagas", keys: []string{"down", "down", "t"}, tel: fixtureTelemetry, wantTitle: "saga ord-012398"},
		{name: "a trace not arrived yet is waited for", from: "Sagas", keys: []string{"t"}, wantTitle: "Waiting for the trace of saga ord-012400",
			tel: func() feed.TelemetrySnapshot { s := fixtureTelemetry(); s.Traces = s.Traces[1:]; return s }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := telemetryApp(t, 160, 48, tt.from, tt.tel())
			msg := deliver(t, a, tt.keys...)
			if _, ok := msg.(openTraceMsg); !ok {
				t.Fatalf("the keys sent %#v, not a request for a trace", msg)
			}
			if got := a.screens[a.active].Title(); got != "Traces" {
				t.Fatalf("screen %s on view, want Traces", got)
			}
			if v := ansi.Strip(a.View()); !strings.Contains(v, tt.wantTitle) {
				t.Errorf("the Traces screen should show %q:\n%s", tt.wantTitle, v)
			}
		})
	}

	t.Run("the trace waited for opens when it arrives", func(t *testing.T) {
		a := telemetryApp(t, 160, 48, "Sagas", feed.TelemetrySnapshot{Time: fixtureTime, Reading: true})
		deliver(t, a, "t")
		a.Update(telemetryMsg{fixtureTelemetry()})
		if v := a.View(); !strings.Contains(v, "saga ord-012400") || !strings.Contains(v, "root span not arrived") {
			t.Errorf("the trace should open once its spans arrive:\n%s", v)
		}
		press(a, "esc")
		if v := a.View(); !strings.Contains(v, "RECENT TRACES") {
			t.Errorf("esc should go back to the list:\n%s", v)
		}
	})
}

// A trace grows while it is on view: the waterfall shows the new spans
// and keeps the selected one.
func TestTheTraceOnViewFollowsItsNewSpans(t *testing.T) {
	tel := fixtureTelemetry()
	a := telemetryApp(t, 160, 48, "Traces", tel)
	press(a, "enter", "down", "down")
	more := fixtureTelemetry()
	more.Traces[0] = fixtureTrace(0, "ord-012400", tel.Traces[0].Start, completedSaga()[1:9])
	a.Update(telemetryMsg{more})
	v := ansi.Strip(a.View())
	if !strings.Contains(v, "8 spans") || !strings.Contains(v, "▸ payment     process "+contract.Subject(contract.ChargePayment)) {
		t.Errorf("the waterfall should show the 8 spans now held, the same span selected:\n%s", v)
	}
}

func TestSpanTreeOrdersEverySpanOnce(t *testing.T) {
	at := func(ms int) time.Time { return fixtureTime.Add(time.Duration(ms) * time.Millisecond) }
	sp := func(id, parent string, ms int) *feed.Span {
		return &feed.Span{SpanID: id, ParentID: parent, Start: at(ms)}
	}
	tests := []struct {
		name  string
		spans []*feed.Span
		want  string // id:depth in order
	}{
		{"children follow their parent, by start", []*feed.Span{sp("c", "a", 3), sp("a", "", 0), sp("b", "a", 1), sp("d", "b", 2)}, "a:0 b:1 d:2 c:1"},
		{"a span whose parent is missing starts a tree", []*feed.Span{sp("b", "x", 1), sp("a", "", 0)}, "a:0 b:0"},
		{"a parent cycle is shown, not lost", []*feed.Span{sp("a", "b", 0), sp("b", "a", 1), sp("c", "", 2)}, "c:0 a:0 b:1"},
		{"a span that is its own parent is a root", []*feed.Span{sp("a", "a", 0)}, "a:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range spanTree(tt.spans) {
				got = append(got, fmt.Sprintf("%s:%d", r.span.SpanID, r.depth))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got %s, want %s", g, tt.want)
			}
		})
	}
}

// A list given newest first follows the newest item while its cursor is on
// the first row, as a tail does; moved down, the cursor stays on its item
// as newer ones arrive above it.
func TestNewestFirstListsFollowTheNewestAtTheTop(t *testing.T) {
	tel := fixtureTelemetry()
	a := telemetryApp(t, 160, 48, "Logs", tel)
	logs := a.screens[a.active].(*logs)
	newer := func(seq uint64) {
		t.Helper()
		line := &feed.LogLine{Seq: seq, Time: fixtureTime, Level: "WARN", Message: fmt.Sprintf("line %d", seq), Service: "payment"}
		tel.Logs = append([]*feed.LogLine{line}, tel.Logs...)
		a.Update(telemetryMsg{tel})
	}
	selected := func() uint64 {
		t.Helper()
		l, ok := logs.list.selected()
		if !ok {
			t.Fatal("no line selected")
		}
		return l.Seq
	}

	newer(101)
	if got := selected(); got != 101 {
		t.Fatalf("at the top the newest line should be selected: got line %d", got)
	}
	press(a, "down")
	kept := selected()
	newer(102)
	if got := selected(); got != kept {
		t.Errorf("moved down, the cursor should stay on line %d, not move to %d", kept, got)
	}
}
