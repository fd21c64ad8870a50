package probes_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sagascope/sagascope/telemetry/probes"
)

func get(t *testing.T, mux *http.ServeMux, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name      string
		instances []bool // readiness of each instance
		drain     bool
		want      int
		wantWhy   string
	}{
		{"a process with every instance ready is ready", []bool{true, true}, false, http.StatusOK, "ok"},
		{"one instance not ready makes the process not ready", []bool{true, false}, false, http.StatusServiceUnavailable, "svc/1"},
		{"a process without instances is not ready", nil, false, http.StatusServiceUnavailable, "no instances"},
		{"a draining process is not ready whatever its instances say", []bool{true}, true, http.StatusServiceUnavailable, "draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probes.New()
			for i, ok := range tt.instances {
				p.Add("svc/"+string(rune('0'+i)), func() bool { return ok })
			}
			if tt.drain {
				p.Drain()
			}
			mux := http.NewServeMux()
			p.Register(mux)
			code, body := get(t, mux, probes.ReadyPath)
			if code != tt.want || !strings.Contains(body, tt.wantWhy) {
				t.Fatalf("GET /readyz = %d %q, want %d mentioning %q", code, body, tt.want, tt.wantWhy)
			}
			if code, _ := get(t, mux, probes.LivePath); code != http.StatusOK {
				t.Fatalf("GET /livez = %d, want 200 while the process serves", code)
			}
		})
	}
}

func TestReadinessFollowsItsChecks(t *testing.T) {
	p := probes.New()
	var connected atomic.Bool
	remove := p.Add("orders/1", connected.Load)
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"not ready before connecting", func() {}, false},
		{"ready once connected", func() { connected.Store(true) }, true},
		{"not ready after a disconnect", func() { connected.Store(false) }, false},
		{"ready again after reconnecting", func() { connected.Store(true) }, true},
		{"not ready once its only instance is removed", remove, false},
	}
	for _, s := range steps {
		s.do()
		if got, why := p.Ready(); got != s.want {
			t.Fatalf("%s: Ready() = %v (%v), want %v", s.name, got, why, s.want)
		}
	}
}

func TestACheckWithAReasonSaysWhyTheProcessIsNotReady(t *testing.T) {
	p := probes.New()
	mux := http.NewServeMux()
	p.Register(mux)
	var waiting atomic.Bool
	waiting.Store(true)
	remove := p.AddReason("prepare", func() string {
		if waiting.Load() {
			return "waiting for JetStream: no meta leader"
		}
		return ""
	})
	if code, body := get(t, mux, probes.ReadyPath); code != http.StatusServiceUnavailable || body != "not ready: prepare: waiting for JetStream: no meta leader\n" {
		t.Fatalf("GET /readyz while waiting = %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get(t, mux, probes.LivePath); code != http.StatusOK {
		t.Fatalf("GET /livez while waiting = %d, want 200: a waiting process is alive", code)
	}
	waiting.Store(false)
	if ok, why := p.Ready(); !ok {
		t.Fatalf("Ready() = false (%v) once the reason is gone, want true", why)
	}
	remove()
	if ok, why := p.Ready(); ok || len(why) != 1 || why[0] != "no instances" {
		t.Fatalf("Ready() after removing the check = %v %v, want not ready: no instances", ok, why)
	}
}
