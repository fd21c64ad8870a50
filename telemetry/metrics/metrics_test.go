package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/telemetry/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches the exposition, fails the test unless it parses with
// strict (legacy) Prometheus names and passes promtool's lint, and returns
// it by family name.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.Bytes()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, pr := range problems {
		t.Errorf("promtool check metrics: %s: %s", pr.Metric, pr.Text)
	}
	return fams
}

// value is the value of the series of fam with labels, or -1.
func value(fams map[string]*dto.MetricFamily, fam string, labels map[string]string) float64 {
	f := fams[fam]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestExpositionParsesAndSaysWhatWasRecorded(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	status := metrics.Status{
		Capacity: 64, Busy: 7, Queued: 3,
		Processed: 100, Failed: 2, Retried: 5, DeadLettered: 1, Duplicates: 4,
		Breakers: []metrics.Breaker{{Name: "gateway", State: "open", Rejected: 9}},
	}
	in, err := m.Instance("payment", "inst1", metrics.Source{
		Status:        func() metrics.Status { return status },
		BreakerStates: []string{"closed", "open", "half-open"},
		Injected:      func() map[string]uint64 { return map[string]uint64{"error": 6} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in.Handled(ctx, "payment", "saga.v1.payment.cmd.charge", "", 3*time.Millisecond)
	in.Handled(ctx, "payment", "saga.v1.payment.cmd.charge", "", 5*time.Millisecond)
	in.Handled(ctx, "payment", "saga.v1.payment.cmd.charge", metrics.ErrTransient, time.Millisecond)
	in.SagaEnded(ctx, "completed", 40*time.Millisecond)
	in.SagaEnded(ctx, "completed", 60*time.Millisecond)
	in.SagaEnded(ctx, "cancelled", 80*time.Millisecond)
	in.StepAnswered(ctx, "charge", "done", 10*time.Millisecond)

	fams := scrape(t, m.Handler())
	who := map[string]string{"service": "payment", "instance": "inst1"}
	with := func(kv ...string) map[string]string {
		out := map[string]string{"service": "payment"}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{"completed sagas are counted by outcome", "sagascope_sagas_total", with("outcome", "completed"), 2},
		{"cancelled sagas are counted apart", "sagascope_sagas_total", with("outcome", "cancelled"), 1},
		{"end-to-end latency is a histogram per outcome", "sagascope_saga_duration_seconds", with("outcome", "completed"), 2},
		{"step latency is a histogram per step and result", "sagascope_saga_step_duration_seconds", with("step", "charge", "result", "done"), 1},
		{"handling latency follows the messaging conventions", "messaging_process_duration_seconds",
			with("messaging_destination_name", "saga.v1.payment.cmd.charge", "messaging_consumer_group_name", "payment", "messaging_system", "nats"), 2},
		{"failed handling carries its error type", "messaging_process_duration_seconds", with("error_type", "transient"), 1},
		{"pool capacity is a gauge", "sagascope_worker_capacity", who, 64},
		{"busy workers are a gauge", "sagascope_worker_busy", who, 7},
		{"queued messages are a gauge", "sagascope_worker_queued", who, 3},
		{"processed messages are a counter", "sagascope_messages_processed_total", who, 100},
		{"retries are a counter", "sagascope_messages_retried_total", who, 5},
		{"dead letters are a counter", "sagascope_messages_dead_lettered_total", who, 1},
		{"duplicates are a counter", "sagascope_messages_duplicates_total", who, 4},
		{"failures are a counter", "sagascope_messages_failed_total", who, 2},
		{"the breaker's state is 1", "sagascope_breaker_state", map[string]string{"breaker": "gateway", "state": "open"}, 1},
		{"the breaker's other states are 0", "sagascope_breaker_state", map[string]string{"breaker": "gateway", "state": "closed"}, 0},
		{"breaker rejections are a counter", "sagascope_breaker_rejected_total", map[string]string{"breaker": "gateway"}, 9},
		{"injected faults are counted by kind", "sagascope_faults_injected_total", map[string]string{"kind": "error"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(fams, tt.family, tt.labels); got != tt.want {
				var names []string
				for n := range fams {
					names = append(names, n)
				}
				t.Fatalf("%s%v = %v, want %v (families: %s)", tt.family, tt.labels, got, tt.want, strings.Join(names, " "))
			}
		})
	}

	// A closed instance is no longer observed.
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := value(scrape(t, m.Handler()), "sagascope_worker_capacity", who); got != -1 {
		t.Fatalf("closed instance still observed: capacity %v", got)
	}
}

func TestANilInstanceRecordsNothing(t *testing.T) {
	var in *metrics.Instance
	ctx := context.Background()
	in.Handled(ctx, "c", "s", "", time.Second)
	in.SagaEnded(ctx, "completed", time.Second)
	in.StepAnswered(ctx, "charge", "done", time.Second)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
}
