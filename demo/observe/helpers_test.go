package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
	t.Cleanup(cancel)
	r.tel = systemtest.Telemetry(t, ctx, telemetry.Config{HTTP: "127.0.0.1:0", Log: log, SpanProcessors: []sdktrace.SpanProcessor{r.rec}})
	cfg := systemtest.Config(srv.ClientURL(), load)
	cfg.Load.Log, cfg.Log, cfg.Telemetry = log, log, r.tel
	for _, f := range tune {
		f(&cfg)
	}
	systemtest.Run(t, ctx, cfg)
	systemtest.WaitFor(t, systemtest.Eventually, "every instance ready", func() error {
		ok, why := r.tel.Probes().Ready()
		if n := len(r.tel.Probes().Names()); !ok || n < len(contract.Services) {
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
	env := contract.NewEnvelope(typ, loadgen.RandomOrder(systemtest.Seed), nil, 0, time.Now())
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
	ctx, cancel := context.WithTimeout(t.Context(), systemtest.Eventually)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	return env
}

// syncBuffer is the JSON log the logger's goroutines write.
type syncBuffer struct{ systemtest.LogBuffer }

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	text := b.String()
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
			return a.Value.String()
		}
	}
	return ""
}

// serviceOf is the service.name of the span's resource.
func serviceOf(s sdktrace.ReadOnlySpan) string {
	v, _ := s.Resource().Set().Value("service.name")
	return v.AsString()
}

// instanceOf is the service.instance.id of the span's resource.
func instanceOf(s sdktrace.ReadOnlySpan) string {
	v, _ := s.Resource().Set().Value("service.instance.id")
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
