package tracing_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/sagascope/sagascope/telemetry/tracing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRatioZeroIsNoTracingAtAll(t *testing.T) {
	tp, _, err := tracing.New(context.Background(), tracing.Config{Ratio: 0, Service: "orders", Getenv: env(nil)})
	if !errors.Is(err, tracing.ErrDisabled) || tp != nil {
		t.Fatalf("New(ratio 0) = %v, %v; want no provider and ErrDisabled", tp, err)
	}
}

func TestSamplingFollowsTheRatioAndThenTheParent(t *testing.T) {
	tp, shutdown, err := tracing.New(context.Background(), tracing.Config{Ratio: 0.5, Service: "orders", Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	tr := tp.Tracer("test")
	parent := func(flags trace.TraceFlags) context.Context {
		tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
		sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
		return trace.ContextWithRemoteSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}))
	}
	const n = 2000
	tests := []struct {
		name     string
		ctx      context.Context
		min, max int // sampled of n
	}{
		// Binomial(2000, 0.5): 1000 ± 22 (one standard deviation).
		{"new traces are sampled at the ratio", context.Background(), 850, 1150},
		{"a sampled parent's children are all sampled", parent(trace.FlagsSampled), n, n},
		{"an unsampled parent's children are none", parent(0), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sampled := 0
			for range n {
				_, s := tr.Start(tt.ctx, "x")
				if s.SpanContext().IsSampled() {
					sampled++
				}
				s.End()
			}
			if sampled < tt.min || sampled > tt.max {
				t.Fatalf("%d of %d sampled, want %d..%d", sampled, n, tt.min, tt.max)
			}
		})
	}
}

func TestOTLPExportIsChosenByTheEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    bool
		wantErr bool
	}{
		{"no endpoint, no export", nil, false, false},
		{"an endpoint exports over http/protobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, false},
		{"a traces endpoint is enough", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"}, true, false},
		{"grpc is supported", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, false},
		{"the traces protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, true, false},
		{"an unknown protocol is an error", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, true},
		{"the none exporter turns it off", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, err := tracing.OTLPExporter(context.Background(), env(tt.vars))
			if (err != nil) != tt.wantErr || (exp != nil) != tt.want {
				t.Fatalf("OTLPExporter = %v, %v; want an exporter: %v, an error: %v", exp, err, tt.want, tt.wantErr)
			}
			if exp != nil {
				if err := exp.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// collector receives OTLP/HTTP trace exports on loopback, as a collector
// would, and keeps the decoded requests.
type collector struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestSpansReachAnOTLPCollector(t *testing.T) {
	var c collector
	srv := httptest.NewServer(&c)
	t.Cleanup(srv.Close)
	// The OTLP exporter reads its settings from the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	tp, shutdown, err := tracing.New(context.Background(), tracing.Config{
		Ratio: 1, Service: "payment", Instance: "inst1", Version: "v9", BatchTimeout: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "charge")
	span.End()
	// Shutdown flushes the batch.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) != 1 || len(c.reqs[0].ResourceSpans) != 1 {
		t.Fatalf("collector got %d exports, want 1 with one resource", len(c.reqs))
	}
	rs := c.reqs[0].ResourceSpans[0]
	res := map[string]string{}
	for _, a := range rs.GetResource().GetAttributes() {
		res[a.Key] = a.GetValue().GetStringValue()
	}
	for k, v := range map[string]string{"service.name": "payment", "service.instance.id": "inst1", "service.version": "v9", "service.namespace": "sagascope"} {
		if res[k] != v {
			t.Errorf("resource %s = %q, want %q", k, res[k], v)
		}
	}
	if got := rs.ScopeSpans[0].Spans[0]; got.Name != "charge" || hex.EncodeToString(got.SpanId) != span.SpanContext().SpanID().String() {
		t.Errorf("collector got span %q %x, want %q %s", got.Name, got.SpanId, "charge", span.SpanContext().SpanID())
	}
}
