package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Deadlines for polling; generous because other test binaries share the
// machine. A condition that holds returns at once.
const (
	eventually = 60 * time.Second
	pollEvery  = 50 * time.Millisecond
)

// seed is small so tests start fast, and rich so nothing runs out.
var seed = contract.Seed{Accounts: 20, AccountBalance: 1_000_000_000, SKUs: 10, StockPerSKU: 1_000_000}

// rig is the whole demo system on a fresh embedded server, with telemetry
// on: every span recorded, logs captured as JSON, metrics and probes
// served on a loopback port.
type rig struct {
	srv  *embedded.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	ctl  *control.Client
	tel  *telemetry.Telemetry
	rec  *tracetest.SpanRecorder
	logs *syncBuffer
	http *http.Client
	stop context.CancelFunc // begins the system's graceful shutdown
}

// start runs the system until the test ends, placing load orders a second
// (0: none); tune changes its configuration first.
func start(t *testing.T, load float64, tune ...func(*system.Config)) *rig {
	t.Helper()
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	r := &rig{
		srv: srv, nc: nc, js: natstest.JetStream(t, nc), ctl: control.NewClient(nc),
		rec: tracetest.NewSpanRecorder(), logs: &syncBuffer{},
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	log, err := logging.New(r.logs, logging.Options{Format: logging.JSON, Level: slog.LevelDebug})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	tel, shutdown, err := telemetry.Start(ctx, telemetry.Config{
		TraceRatio: 1, HTTP: "127.0.0.1:0", Log: log,
		SpanProcessors: []sdktrace.SpanProcessor{r.rec}, SpanBatchTimeout: 50 * time.Millisecond,
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r.tel = tel
	t.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("telemetry shutdown: %v", err)
		}
	})
	url := srv.ClientURL()
	cfg := system.Config{
		Connect: func(ctx context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		},
		Workers:   8,
		Topology:  topology.Options{Seed: seed},
		Load:      &loadgen.Config{Rate: load, Log: log},
		Log:       log,
		Telemetry: tel,
	}
	for _, f := range tune {
		f(&cfg)
	}
	if err := system.Prepare(ctx, cfg); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- system.RunInstances(ctx, system.Instances(cfg)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	waitFor(t, "every instance ready", func() error {
		ok, why := tel.Probes().Ready()
		if n := len(tel.Probes().Names()); !ok || n < len(contract.Services) {
			return fmt.Errorf("%d instances, not ready: %v", n, why)
		}
		return nil
	})
	return r
}

// publish stores a message of type typ about a new random order, as its
// sender would, with traceparent ("" for none) as its trace context.
func (r *rig) publish(t *testing.T, typ, traceparent string) contract.Envelope {
	t.Helper()
	env := contract.NewEnvelope(typ, loadgen.RandomOrder(seed), nil, 0, time.Now())
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(contract.Subject(env.Type))
	msg.Data = data
	msg.Header.Set(contract.MsgIDHeader, env.ID)
	msg.Header.Set(contract.SagaHeader, env.SagaID)
	if traceparent != "" {
		msg.Header.Set(contract.TraceParentHeader, traceparent)
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	return env
}

// waitFor polls cond until it returns nil, failing the test with its last
// word after eventually.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %v", what, eventually, err)
		}
		time.Sleep(pollEvery)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// attr returns the string form of a span attribute, or "".
func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// serviceOf is the service.name of the span's resource.
func serviceOf(s sdktrace.ReadOnlySpan) string {
	v, _ := s.Resource().Set().Value("service.name")
	return v.AsString()
}

// spansOf returns every recorded span of trace id.
func (r *rig) spansOf(id trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.rec.Ended() {
		if s.SpanContext().TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// find returns the recorded spans named name for which match holds.
func (r *rig) find(name string, match func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.rec.Ended() {
		if s.Name() == name && (match == nil || match(s)) {
			out = append(out, s)
		}
	}
	return out
}

// publishName and processName are the span names of a message type.
func publishName(typ string) string { return "publish " + contract.Subject(typ) }
func processName(typ string) string { return "process " + contract.Subject(typ) }
