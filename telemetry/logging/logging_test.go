package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/logging"
)

const (
	traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanHex  = "00f067aa0ba902b7"
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

// bus records what a Shipper publishes.
type bus struct {
	mu   sync.Mutex
	recs []contract.LogRecord
	subj []string
}

func (b *bus) Publish(subject string, data []byte) error {
	var r contract.LogRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recs = append(b.recs, r)
	b.subj = append(b.subj, subject)
	return nil
}

func (b *bus) records() []contract.LogRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]contract.LogRecord(nil), b.recs...)
}

func TestShippedRecords(t *testing.T) {
	var b bus
	ship := logging.NewShipper(&b, contract.Payment, "inst1", logging.ShipOptions{})
	l := slog.New(ship).With("service", "payment", "instance", "inst1", "consumer", "payment")
	ctx := logging.ContextWithSaga(spanCtx(), "order-1")
	l.WithGroup("call").WarnContext(ctx, "gateway failed", "attempt", 2, slog.Group("err", "text", "down"))
	l.DebugContext(ctx, "never shipped")

	recs := b.records()
	if len(recs) != 1 {
		t.Fatalf("%d records shipped, want 1 (debug is never shipped): %+v", len(recs), recs)
	}
	r := recs[0]
	if b.subj[0] != contract.LogSubject(contract.Payment, "inst1") {
		t.Errorf("subject %q", b.subj[0])
	}
	want := contract.LogRecord{
		V: contract.Version, Level: "WARN", Message: "gateway failed", Service: contract.Payment, Instance: "inst1",
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
		{"the next record shipped says how many were dropped", logging.ShipOptions{Rate: 20, Burst: 1}, slog.LevelError, 10, 1, 9, 120 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bus
			ship := logging.NewShipper(&b, contract.Orders, "i", tt.opts)
			l := slog.New(ship)
			for range tt.n {
				l.Log(context.Background(), tt.level, "storm")
			}
			if got := len(b.records()); got != tt.wantShip {
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
			recs := b.records()
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
