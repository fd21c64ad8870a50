package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/telemetry"
)

// The tests that run the whole demo with telemetry on (one trace per saga,
// logs carrying their trace, the metrics endpoint, the probes) are the
// demo's: demo/observe.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The runtime's profiles are served beside the metrics, on the process's
// own mux: what a person runs `go tool pprof` against.
// No NATS is needed: the handler is the endpoint's.
func TestProfilesAreServedBesideTheMetrics(t *testing.T) {
	tel, shutdown, err := telemetry.Start(t.Context(), telemetry.Config{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, tt := range []struct{ path, says string }{
		{telemetry.ProfilePath, "goroutine"},
		{telemetry.ProfilePath + "heap?debug=1", "heap profile"},
		{telemetry.ProfilePath + "goroutine?debug=1", "goroutine profile"},
		{telemetry.MetricsPath, "# HELP"},
	} {
		code, body := get(tt.path)
		if code != http.StatusOK || !strings.Contains(body, tt.says) {
			t.Errorf("GET %s: %d, want 200 saying %q:\n%.300s", tt.path, code, tt.says, body)
		}
	}
	if code, _ := get("/debug/pprof/nonesuch"); code != http.StatusNotFound {
		t.Errorf("an unknown profile: %d, want 404", code)
	}
}
