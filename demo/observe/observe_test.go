package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/probes"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// get fetches path from the telemetry endpoint.
func (r *rig) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := r.http.Get("http://" + r.tel.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestEveryLineLoggedInAHandlerCarriesItsMessagesTrace(t *testing.T) {
	r := start(t, 20)
	shipped, err := r.nc.SubscribeSync(contract.LogSubjects)
	if err != nil {
		t.Fatal(err)
	}
	// Draining would wait for every record shipped to be read.
	t.Cleanup(func() { _ = shipped.Unsubscribe() })
	ctx, cancel := context.WithTimeout(t.Context(), systemtest.Eventually)
	defer cancel()
	// Transient carrier failures make the shipping handlers log their
	// retries (at debug, which the test's logger keeps).
	if _, err := r.ctl.SetFault(ctx, contract.Fault{Service: contract.Shipping, Kind: contract.FaultError, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	// An event for a saga that does not exist is refused for good, with a
	// warning from inside the orders handler, under a trace of our own.
	tid, _ := trace.TraceIDFromHex("5bf92f3577b34da6a3ce929d0e0e4736")
	env := r.publish(t, contract.PaymentCharged, "00-"+tid.String()+"-00f067aa0ba902b7-01")

	// Lines logged while handling a message are those naming its delivery.
	var inHandlers []map[string]any
	systemtest.WaitFor(t, systemtest.Eventually, "retries and the refusal logged", func() error {
		inHandlers = inHandlers[:0]
		retries, refused := 0, false
		for _, l := range r.logs.lines(t) {
			if _, ok := l["delivery"]; !ok {
				continue
			}
			inHandlers = append(inHandlers, l)
			retries += boolInt(l["msg"] == "retrying later")
			refused = refused || l["saga_id"] == env.SagaID
		}
		if retries < 3 || !refused {
			return fmt.Errorf("%d retries logged, refusal logged: %v", retries, refused)
		}
		return nil
	})
	// The line's span is the consumer span of its message; spans end just
	// after their handler returns.
	systemtest.WaitFor(t, systemtest.Eventually, "every handler line's span recorded", func() error {
		spans := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range r.rec.Ended() {
			spans[s.SpanContext().SpanID().String()] = s
		}
		for _, l := range inHandlers {
			if l["trace_id"] == nil || l["span_id"] == nil {
				t.Fatalf("line logged in a handler without a trace: %v", l)
			}
			s, ok := spans[l["span_id"].(string)]
			if !ok {
				return fmt.Errorf("span of %v not recorded", l)
			}
			if s.SpanKind() != trace.SpanKindConsumer || s.SpanContext().TraceID().String() != l["trace_id"] ||
				attr(s, sagaspan.SagaIDKey) != l["saga_id"] {
				t.Fatalf("line %v is not about its message's consumer span %s %q of trace %s, saga %s",
					l, s.SpanKind(), s.Name(), s.SpanContext().TraceID(), attr(s, sagaspan.SagaIDKey))
			}
			// The instance's logger names it on every line, so a line read
			// from the process's mixed output says where it came from.
			if l["service"] != serviceOf(s) || l["instance"] != instanceOf(s) {
				t.Fatalf("line %v names service %v instance %v, want those of its span: %s %s",
					l, l["service"], l["instance"], serviceOf(s), instanceOf(s))
			}
			if l["saga_id"] == env.SagaID && l["trace_id"] != tid.String() {
				t.Fatalf("refusal logged with trace %v, want the message's %s", l["trace_id"], tid)
			}
		}
		return nil
	})

	// The warning is shipped over NATS on its instance's subject, with its
	// trace; debug lines never are.
	deadline := time.Now().Add(systemtest.Eventually)
	for {
		m, err := shipped.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("the refusal was not shipped: %v", err)
		}
		var rec contract.LogRecord
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatalf("shipped %q is not a LogRecord: %v", m.Data, err)
		}
		if rec.Level == "DEBUG" {
			t.Fatalf("debug line shipped: %+v", rec)
		}
		if rec.SagaID != env.SagaID {
			continue
		}
		if m.Subject != contract.LogSubject(contract.Orders, rec.Instance) || rec.Service != string(contract.Orders) ||
			rec.Level != "WARN" || rec.TraceID != tid.String() || rec.SpanID == "" {
			t.Fatalf("refusal shipped on %s as %+v", m.Subject, rec)
		}
		break
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTheMetricsEndpointIsValidPrometheus(t *testing.T) {
	r := start(t, 20)
	var fams map[string]*dto.MetricFamily
	systemtest.WaitFor(t, systemtest.Eventually, "completed sagas counted", func() error {
		code, body := r.get(t, telemetry.MetricsPath)
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d", telemetry.MetricsPath, code)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		var err error
		fams, err = p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("exposition does not parse: %v\n%s", err, body)
		}
		if f := fams["sagascope_sagas_total"]; f == nil || len(f.Metric) == 0 {
			return fmt.Errorf("no saga counted yet")
		}
		// promlint is the linter `promtool check metrics` runs.
		problems, err := promlint.New(strings.NewReader(body)).Lint()
		if err != nil {
			t.Fatalf("lint: %v", err)
		}
		for _, p := range problems {
			t.Errorf("promtool check metrics: %s: %s", p.Metric, p.Text)
		}
		if path, err := exec.LookPath("promtool"); err == nil {
			cmd := exec.Command(path, "check", "metrics")
			cmd.Stdin = strings.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		}
		return nil
	})
	for _, name := range []string{
		"sagascope_sagas_total", "sagascope_saga_duration_seconds", "sagascope_saga_step_duration_seconds",
		"messaging_process_duration_seconds", "sagascope_worker_capacity", "sagascope_worker_busy",
		"sagascope_worker_queued", "sagascope_messages_processed_total", "sagascope_breaker_state",
		"target_info",
	} {
		if fams[name] == nil {
			t.Errorf("%s not exposed", name)
		}
	}
}

func TestProbes(t *testing.T) {
	r := start(t, 0)
	// The readiness check of the one payment instance, as /readyz names it.
	var payment string
	for _, n := range r.tel.Probes().Names() {
		if strings.HasPrefix(n, string(contract.Payment)+"/") {
			payment = n
		}
	}
	if payment == "" {
		t.Fatalf("no payment instance among %v", r.tel.Probes().Names())
	}
	steps := []struct {
		name      string
		do        func(t *testing.T)
		wantReady int
		why       string // in the /readyz body
	}{
		{"ready once every instance consumes", func(*testing.T) {}, http.StatusOK, "ok"},
		{"not ready while NATS is down", func(*testing.T) { r.srv.Shutdown() }, http.StatusServiceUnavailable, "orders/"},
		{"ready again once every instance reconnected", func(t *testing.T) {
			if err := r.srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}, http.StatusOK, "ok"},
		// The crashed instance stays down long enough for the probe to be
		// seen failing on a loaded machine.
		{"not ready, naming the instance, while payment is crashed", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), systemtest.Quickly)
			defer cancel()
			crash := contract.Fault{Service: contract.Payment, Kind: contract.FaultCrash, RestartAfter: 5 * time.Second}
			if _, err := r.ctl.SetFault(ctx, crash); err != nil {
				t.Fatal(err)
			}
		}, http.StatusServiceUnavailable, "not ready: " + payment + "\n"},
		{"ready again once payment restarted", func(*testing.T) {}, http.StatusOK, "ok"},
		{"not ready as soon as shutdown begins", func(*testing.T) { r.stop() }, http.StatusServiceUnavailable, "draining"},
	}
	for _, s := range steps {
		s.do(t)
		systemtest.WaitFor(t, systemtest.Eventually, s.name, func() error {
			code, body := r.get(t, probes.ReadyPath)
			if code != s.wantReady || !strings.Contains(body, s.why) {
				return fmt.Errorf("GET %s = %d %q, want %d mentioning %q", probes.ReadyPath, code, body, s.wantReady, s.why)
			}
			return nil
		})
		// Liveness is about the process, not its dependencies: a NATS
		// outage must not get the pod restarted.
		if code, body := r.get(t, probes.LivePath); code != http.StatusOK || body != "ok\n" {
			t.Fatalf("%s: GET %s = %d %q, want 200 ok", s.name, probes.LivePath, code, body)
		}
	}
}
