package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/telemetry/internal/natstest"
	"github.com/sagascope/sagascope/telemetry/logging"
	"github.com/sagascope/sagascope/telemetry/wire"
)

const (
	traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanHex  = "00f067aa0ba902b7"
	// prefix starts the tests' log subjects.
	prefix = "saga.v1"
)

// spanCtx is a context holding a sampled span context.
func spanCtx() context.Context {
	tid, _ := trace.TraceIDFromHex(traceHex)
	sid, _ := trace.SpanIDFromHex(spanHex)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

// lines parses JSON log lines.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecordsCarryWhatTheirContextKnows(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any // keys that must be there with these values
		none []string       // keys that must be absent
	}{
		{"a record logged in a span carries its trace and span ids", spanCtx(),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			map[string]any{"trace_id": traceHex, "span_id": spanHex}, []string{"saga_id"}},
		{"a record logged while handling a saga carries its id", logging.ContextWithSaga(spanCtx(), "order-1"),
			func(l *slog.Logger, ctx context.Context) { l.WarnContext(ctx, "hello") },
			map[string]any{"trace_id": traceHex, "saga_id": "order-1"}, nil},
		{"a record without a context carries neither", context.Background(),
			func(l *slog.Logger, ctx context.Context) { l.Info("hello") },
			map[string]any{"msg": "hello"}, []string{"trace_id", "span_id", "saga_id"}},
		{"a record naming its saga keeps its own saga_id", logging.ContextWithSaga(context.Background(), "order-1"),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello", "saga_id", "order-2") },
			map[string]any{"saga_id": "order-2"}, nil},
		{"a logger naming its saga keeps its own saga_id", logging.ContextWithSaga(context.Background(), "order-1"),
			func(l *slog.Logger, ctx context.Context) { l.With("saga_id", "order-3").InfoContext(ctx, "hello") },
			map[string]any{"saga_id": "order-3"}, nil},
		{"the ids stay at the top when the logger opened groups", logging.ContextWithSaga(spanCtx(), "order-1"),
			func(l *slog.Logger, ctx context.Context) {
				l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").InfoContext(ctx, "hello", "k", "v")
			},
			map[string]any{"trace_id": traceHex, "span_id": spanHex, "saga_id": "order-1", "a": float64(1),
				"g": map[string]any{"b": float64(2), "h": map[string]any{"k": "v"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := logging.New(&buf, logging.Options{Format: logging.JSON})
			if err != nil {
				t.Fatal(err)
			}
			tt.log(l, tt.ctx)
			got := lines(t, &buf)
			if len(got) != 1 {
				t.Fatalf("%d lines, want 1: %s", len(got), buf.String())
			}
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[0][k], v) {
					t.Errorf("%s = %v, want %v in %s", k, got[0][k], v, buf.String())
				}
			}
			for _, k := range tt.none {
				if _, ok := got[0][k]; ok {
					t.Errorf("%s present in %s", k, buf.String())
				}
			}
			if strings.Count(buf.String(), `"saga_id"`) > 1 {
				t.Errorf("saga_id twice in %s", buf.String())
			}
		})
	}
}

func TestWrappingAgainAddsTheIdsOnce(t *testing.T) {
	tests := []struct {
		name string
		wrap func(w *bytes.Buffer) *slog.Logger
	}{
		{"a logger from New wrapped again", func(w *bytes.Buffer) *slog.Logger {
			l, _ := logging.New(w, logging.Options{Format: logging.JSON})
			return slog.New(logging.WithContext(l.Handler()))
		}},
		{"a logger from New given attributes, then wrapped", func(w *bytes.Buffer) *slog.Logger {
			l, _ := logging.New(w, logging.Options{Format: logging.JSON})
			return slog.New(logging.WithContext(l.With("service", "orders").Handler()))
		}},
		{"a plain handler wrapped twice", func(w *bytes.Buffer) *slog.Logger {
			return slog.New(logging.WithContext(logging.WithContext(slog.NewJSONHandler(w, nil))))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.wrap(&buf).InfoContext(logging.ContextWithSaga(spanCtx(), "order-1"), "hello")
			for _, k := range []string{`"trace_id"`, `"span_id"`, `"saga_id"`} {
				if n := strings.Count(buf.String(), k); n != 1 {
					t.Errorf("%s %d times in %s, want once", k, n, buf.String())
				}
			}
		})
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		want    logging.Format
		wantErr bool
		looks   func(string) bool
	}{
		{"no format is text", "", logging.Text, false, func(s string) bool { return strings.HasPrefix(s, "time=") }},
		{"text is key=value", "text", logging.Text, false, func(s string) bool { return strings.Contains(s, "msg=hello") }},
		{"json is one object per line", "json", logging.JSON, false, func(s string) bool { return strings.HasPrefix(s, "{") }},
		{"anything else is refused", "yaml", "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := logging.ParseFormat(tt.format)
			if (err != nil) != tt.wantErr || f != tt.want {
				t.Fatalf("ParseFormat(%q) = %q, %v", tt.format, f, err)
			}
			var buf bytes.Buffer
			l, err := logging.New(&buf, logging.Options{Format: logging.Format(tt.format), Level: slog.LevelDebug})
			if tt.wantErr {
				if err == nil {
					t.Fatal("New accepted an unknown format")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.InfoContext(spanCtx(), "hello")
			if !tt.looks(buf.String()) || !strings.Contains(buf.String(), traceHex) {
				t.Fatalf("output %q", buf.String())
			}
		})
	}
}

// bus is a real server with a connection subscribed to subject. Shippers
// publish on the same connection, so once it is flushed every record
// shipped before is in the subscription: the server answers the flush
// after routing what came before it.
type bus struct {
	*nats.Conn
	sub  *nats.Subscription
	recs []wire.LogRecord
	subj []string
}

func newBus(t *testing.T, srv *server.Server, subject string) *bus {
	t.Helper()
	nc := natstest.Connect(t, srv)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	// Draining would wait for every record shipped to be read.
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &bus{Conn: nc, sub: sub}
}

// records returns every record shipped so far.
func (b *bus) records(t *testing.T) []wire.LogRecord {
	t.Helper()
	if err := b.FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	n, _, err := b.sub.Pending()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		m, err := b.sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r wire.LogRecord
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("shipped record %q is not a LogRecord: %v", m.Data, err)
		}
		b.recs = append(b.recs, r)
		b.subj = append(b.subj, m.Subject)
	}
	return b.recs
}

func TestShippedRecords(t *testing.T) {
	// Subscribed to every instance's logs, to see which subject it uses.
	b := newBus(t, natstest.Server(t), wire.LogSubjects(prefix))
	ship := logging.NewShipper(b, wire.LogSubject(prefix, "payment", "inst1"), "payment", "inst1", logging.ShipOptions{})
	l := slog.New(ship).With("service", "payment", "instance", "inst1", "consumer", "payment")
	ctx := logging.ContextWithSaga(spanCtx(), "order-1")
	l.WithGroup("call").WarnContext(ctx, "gateway failed", "attempt", 2, slog.Group("err", "text", "down"))
	l.DebugContext(ctx, "never shipped")

	recs := b.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records shipped, want 1 (debug is never shipped): %+v", len(recs), recs)
	}
	r := recs[0]
	if b.subj[0] != wire.LogSubject(prefix, "payment", "inst1") {
		t.Errorf("subject %q", b.subj[0])
	}
	want := wire.LogRecord{
		V: wire.LogVersion, Level: "WARN", Message: "gateway failed", Service: "payment", Instance: "inst1",
		TraceID: traceHex, SpanID: spanHex, SagaID: "order-1",
	}
	r.Time = time.Time{}
	attrs := r.Attrs
	r.Attrs = nil
	if r.V != want.V || r.Level != want.Level || r.Message != want.Message || r.Service != want.Service ||
		r.Instance != want.Instance || r.TraceID != want.TraceID || r.SpanID != want.SpanID || r.SagaID != want.SagaID {
		t.Errorf("record %+v, want %+v", r, want)
	}
	wantAttrs := map[string]string{"consumer": "payment", "call.attempt": "2", "call.err.text": "down"}
	if len(attrs) != len(wantAttrs) {
		t.Errorf("attrs %v, want %v", attrs, wantAttrs)
	}
	for k, v := range wantAttrs {
		if attrs[k] != v {
			t.Errorf("attr %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
}

func TestShippingIsRateLimited(t *testing.T) {
	tests := []struct {
		name      string
		opts      logging.ShipOptions
		level     slog.Level
		n         int
		wantShip  int
		wantDrop  uint64
		thenAfter time.Duration // log one more after this, which reports the drops
	}{
		{"a warning storm ships the burst and counts the rest", logging.ShipOptions{Rate: 1, Burst: 3}, slog.LevelWarn, 100, 3, 97, 0},
		{"info ships a smaller sample", logging.ShipOptions{InfoRate: 1, InfoBurst: 2}, slog.LevelInfo, 100, 2, 98, 0},
		{"info can be left out", logging.ShipOptions{InfoRate: -1}, slog.LevelInfo, 10, 0, 0, 0},
		{"the next record shipped says how many were dropped", logging.ShipOptions{Rate: 5, Burst: 1}, slog.LevelError, 10, 1, 9, 250 * time.Millisecond},
	}
	srv := natstest.Server(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			instance := fmt.Sprint("i", i)
			subject := wire.LogSubject(prefix, "orders", instance)
			b := newBus(t, srv, subject)
			ship := logging.NewShipper(b, subject, "orders", instance, tt.opts)
			l := slog.New(ship)
			for range tt.n {
				l.Log(context.Background(), tt.level, "storm")
			}
			if got := len(b.records(t)); got != tt.wantShip {
				t.Fatalf("%d shipped, want %d", got, tt.wantShip)
			}
			if got := ship.Dropped(); got != tt.wantDrop {
				t.Fatalf("%d dropped, want %d", got, tt.wantDrop)
			}
			if tt.thenAfter == 0 {
				return
			}
			time.Sleep(tt.thenAfter)
			l.Log(context.Background(), tt.level, "after the storm")
			recs := b.records(t)
			if last := recs[len(recs)-1]; last.Message != "after the storm" || last.Dropped != tt.wantDrop {
				t.Fatalf("last record %+v, want it to report %d dropped", last, tt.wantDrop)
			}
			if ship.Dropped() != 0 {
				t.Fatalf("drops not reset after being reported: %d", ship.Dropped())
			}
		})
	}
}

func TestTeeSendsEachRecordToEveryHandlerThatWantsIt(t *testing.T) {
	var warnOnly, all bytes.Buffer
	l := slog.New(logging.Tee(
		slog.NewTextHandler(&warnOnly, &slog.HandlerOptions{Level: slog.LevelWarn}),
		slog.NewTextHandler(&all, &slog.HandlerOptions{Level: slog.LevelDebug}),
	)).With("k", "v")
	l.Debug("quiet")
	l.Warn("loud")
	if strings.Contains(warnOnly.String(), "quiet") || !strings.Contains(warnOnly.String(), "loud k=v") {
		t.Errorf("warn handler got %q", warnOnly.String())
	}
	if !strings.Contains(all.String(), "quiet k=v") || !strings.Contains(all.String(), "loud k=v") {
		t.Errorf("debug handler got %q", all.String())
	}
}
