package system_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/probes"
)

// startAsync calls system.Start in the background; the channel gets its
// result, and the system is closed when the test ends.
func startAsync(t *testing.T, ctx context.Context, cfg system.Config) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	var sys *system.System
	var mu sync.Mutex
	go func() {
		s, err := system.Start(ctx, system.Options{Services: cfg})
		mu.Lock()
		sys = s
		mu.Unlock()
		done <- err
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if sys != nil {
			if err := sys.Close(); err != nil {
				t.Errorf("system: %v", err)
			}
		}
	})
	return done
}

// awaitStart waits, within a generous deadline, for what Start returned.
func awaitStart(t *testing.T, done <-chan error) error {
	t.Helper()
	var err error
	systemtest.WaitFor(t, eventually, "Start returns", func() error {
		select {
		case err = <-done:
			return nil
		default:
			return errors.New("still starting")
		}
	})
	return err
}

// waitingForJetStream waits until the process's readiness says it waits
// for JetStream, and checks /readyz and /livez say so too.
func waitingForJetStream(t *testing.T, tel *telemetry.Telemetry, log *systemtest.LogBuffer) {
	t.Helper()
	want := system.PrepareCheck + ": waiting for JetStream: "
	systemtest.WaitFor(t, eventually, "readiness reports the wait for JetStream", func() error {
		if ok, why := tel.Probes().Ready(); ok || len(why) != 1 || !strings.HasPrefix(why[0], want) {
			return fmt.Errorf("Ready() = %v %q", ok, why)
		}
		return nil
	})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(probes.ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
		t.Fatalf("GET /readyz while waiting = %d %q, want 503 naming the wait for JetStream", code, body)
	}
	if code, _ := get(probes.LivePath); code != http.StatusOK {
		t.Fatalf("GET /livez while waiting = %d, want 200: a process waiting for JetStream is alive", code)
	}
	if l := log.String(); !strings.Contains(l, "msg=\"waiting for JetStream\" attempt=1 error=") || !strings.Contains(l, "retry_in=") {
		t.Fatalf("log while waiting:\n%s\nwant a warning per attempt with the error and the next wait", l)
	}
}

// A three-node cluster that is still forming when Start is called (one node
// up, without a meta leader, the other two started later) is what services
// deployed beside their servers meet: Start waits, says why on /readyz and
// in its log, and once the cluster has formed the services run sagas.
func TestStartWaitsForAClusterStillFormingThenRunsSagas(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	c.Stop(1)
	c.Stop(2)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var log systemtest.LogBuffer
	cfg := systemtest.Config(c.ClientURLs(), 20)
	cfg.Topology.Replicas = 3
	cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tel := systemtest.Telemetry(t, ctx, telemetry.Config{})
	cfg.Telemetry = tel
	done := startAsync(t, ctx, cfg)

	waitingForJetStream(t, tel, &log)
	for _, i := range []int{1, 2} {
		if err := c.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := awaitStart(t, done); err != nil {
		t.Fatalf("Start once the cluster formed: %v", err)
	}
	t.Logf("while the cluster formed:\n%s", log.String())
	systemtest.WaitFor(t, eventually, "every instance ready", func() error {
		if ok, why := tel.Probes().Ready(); !ok {
			return fmt.Errorf("not ready: %v", why)
		}
		return nil
	})
	js := natstest.JetStream(t, natstest.Connect(t, c.ClientURLs()))
	systemtest.WaitFor(t, eventually, "a saga completes", func() error {
		if n := countByStatus(sagas(t, js))[contract.SagaCompleted]; n == 0 {
			return errors.New("no saga completed yet")
		}
		return nil
	})
}

// Ctrl-C while the services wait for JetStream (here a server that has
// none) ends the wait: Start returns the cancellation, with the error it
// waited on.
func TestStartStopsWaitingForJetStreamWhenItsContextEnds(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(eventually) {
		t.Fatal("the server without JetStream did not start")
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var log systemtest.LogBuffer
	cfg := systemtest.Config(ns.ClientURL(), 0)
	cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tel := systemtest.Telemetry(t, ctx, telemetry.Config{})
	cfg.Telemetry = tel
	done := startAsync(t, ctx, cfg)

	waitingForJetStream(t, tel, &log)
	cancel()
	err = awaitStart(t, done)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "JetStream") {
		t.Fatalf("Start after its context ended = %v, want the cancellation and what it waited for", err)
	}
}

// A user who may not create streams will never be able to: Start fails at
// once with the refusal, without waiting or retrying.
func TestStartFailsAtOnceWhenTheUserMayNotCreateTheResources(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir(), Auth: &embedded.Auth{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	roles, _ := srv.Roles()

	var log systemtest.LogBuffer
	cfg := systemtest.Config(srv.ClientURL(), 0)
	cfg.Connect = func(ctx context.Context, name string) (*nats.Conn, error) {
		return nats.Connect(srv.ClientURL(), nats.Name(name), nats.UserInfo(roles.Observer.Name, roles.Observer.Password), nats.CustomInboxPrefix(roles.Observer.InboxPrefix()))
	}
	cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	sys, err := system.Start(ctx, system.Options{Services: cfg})
	if err == nil {
		_ = sys.Close()
		t.Fatal("Start as a read-only user succeeded, want the permission refused")
	}
	if !errors.Is(err, nats.ErrPermissionViolation) || ctx.Err() != nil {
		t.Fatalf("Start as a read-only user = %v, want the permissions violation before the deadline", err)
	}
	if strings.Contains(log.String(), "waiting for JetStream") {
		t.Fatalf("Start retried a permanent error:\n%s", log.String())
	}
	t.Logf("Start: %v", err)
}
