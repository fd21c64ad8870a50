package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/embedded"
)

// TestMain fails the package if a server goroutine outlives Shutdown: the
// demo starts and stops servers inside a long-lived process, so a leak here
// would accumulate there.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start starts a server and shuts it down when the test ends.
func start(t *testing.T, opts embedded.Options) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connect opens a client over TCP and closes it when the test ends.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fillStream creates a file-backed stream ORDERS with the given replicas and
// publishes n messages to it.
func fillStream(t *testing.T, ctx context.Context, js jetstream.JetStream, replicas, n int) {
	t.Helper()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "ORDERS",
		Subjects: []string{"orders.>"},
		Storage:  jetstream.FileStorage,
		Replicas: replicas,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "orders.created", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// readAll reads every message of ORDERS in order through an ordered
// consumer, retrying while the stream is briefly unavailable (a restart or
// leader election in progress), and returns their payloads.
func readAll(t *testing.T, ctx context.Context, js jetstream.JetStream, want int) []string {
	t.Helper()
	var lastErr error
	for ctx.Err() == nil {
		// Each attempt gets its own short deadline: a request in flight when
		// its server stops gets no reply and would otherwise wait out ctx.
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := tryReadAll(attempt, js, want)
		cancel()
		if err == nil {
			return got
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("read ORDERS: %v", lastErr)
	return nil
}

func tryReadAll(ctx context.Context, js jetstream.JetStream, want int) ([]string, error) {
	stream, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs != uint64(want) {
		return nil, fmt.Errorf("stream holds %d messages, want %d", info.State.Msgs, want)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	batch, err := cons.FetchNoWait(want)
	if err != nil {
		return nil, err
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, string(msg.Data()))
	}
	if err := batch.Error(); err != nil {
		return nil, err
	}
	if len(got) != want {
		return nil, fmt.Errorf("fetched %d messages, want %d", len(got), want)
	}
	return got, nil
}

func checkSequence(t *testing.T, got []string) {
	t.Helper()
	for i, g := range got {
		if g != strconv.Itoa(i) {
			t.Fatalf("message %d = %q, want %q", i, g, strconv.Itoa(i))
		}
	}
}

func TestStartServesClientsUntilShutdown(t *testing.T) {
	dir := t.TempDir()
	s := start(t, embedded.Options{Port: -1, DataDir: dir})

	if s.Port() <= 0 {
		t.Fatalf("Port() = %d, want a bound port", s.Port())
	}
	if want := "nats://127.0.0.1:" + strconv.Itoa(s.Port()); s.ClientURL() != want {
		t.Fatalf("ClientURL() = %q, want %q", s.ClientURL(), want)
	}
	if s.DataDir() != dir {
		t.Fatalf("DataDir() = %q, want %q", s.DataDir(), dir)
	}
	if name := s.NATS().Name(); name != "sagascope" {
		t.Fatalf("server name = %q, want the default %q", name, "sagascope")
	}

	ctx := testContext(t, 10*time.Second)
	js := connect(t, s.ClientURL())
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream not enabled: %v", err)
	}

	s.Shutdown()
	s.Shutdown() // a second call must be harmless
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())), time.Second); err == nil {
		conn.Close()
		t.Fatalf("port %d still accepts connections after Shutdown", s.Port())
	}
}

func TestPortSelection(t *testing.T) {
	tests := []struct {
		name string
		// occupy returns the port number to hold with a listener of our own
		// during the start, or 0 for none; skip non-empty skips the case.
		occupy  func(t *testing.T) (port int, skip string)
		port    func(occupied int) int
		wantErr error
		check   func(t *testing.T, s *embedded.Server, occupied int)
	}{
		{
			name:   "port -1 picks a free port other than 4222",
			occupy: func(*testing.T) (int, string) { return 0, "" },
			port:   func(int) int { return -1 },
			check: func(t *testing.T, s *embedded.Server, _ int) {
				if s.Port() == embedded.DefaultPort {
					t.Errorf("random port = %d, want anything but the default", s.Port())
				}
			},
		},
		{
			name: "port 0 falls back to a free port when 4222 is taken",
			// If a developer already runs NATS on 4222, our listen fails
			// and 4222 is just as taken; either way the server must move.
			occupy: func(*testing.T) (int, string) { return embedded.DefaultPort, "" },
			port:   func(int) int { return 0 },
			check: func(t *testing.T, s *embedded.Server, _ int) {
				if s.Port() == embedded.DefaultPort {
					t.Errorf("server took port %d although it was occupied", s.Port())
				}
			},
		},
		{
			name: "port 0 uses 4222 when it is free",
			occupy: func(*testing.T) (int, string) {
				l, err := net.Listen("tcp", "127.0.0.1:4222")
				if err != nil {
					return 0, "port 4222 is in use on this machine"
				}
				l.Close()
				return 0, ""
			},
			port: func(int) int { return 0 },
			check: func(t *testing.T, s *embedded.Server, _ int) {
				if s.Port() != embedded.DefaultPort {
					t.Errorf("Port() = %d, want %d", s.Port(), embedded.DefaultPort)
				}
			},
		},
		{
			name:    "an explicit port that is taken is an error",
			occupy:  func(*testing.T) (int, string) { return -1, "" },
			port:    func(occupied int) int { return occupied },
			wantErr: embedded.ErrPortInUse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, skip := tt.occupy(t)
			if skip != "" {
				t.Skip(skip)
			}
			if port != 0 {
				port = hold(t, port)
			}
			s, err := embedded.Start(embedded.Options{Port: tt.port(port), DataDir: t.TempDir()})
			if tt.wantErr != nil {
				if err == nil {
					s.Shutdown()
					t.Fatalf("Start succeeded on occupied port %d", port)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if !errors.Is(err, syscall.EADDRINUSE) {
					t.Errorf("error %v does not carry the OS's EADDRINUSE", err)
				}
				if want := fmt.Sprintf("start embedded NATS server on 127.0.0.1:%d: client port is in use or cannot be bound: listen tcp ", port); !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %q does not start with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(s.Shutdown)
			tt.check(t, s, port)
			connect(t, s.ClientURL())
		})
	}
}

// hold listens on port (-1: any free port) for the rest of the test and
// returns the port. If someone else already listens there, the port is just
// as occupied, so that is not a failure.
func hold(t *testing.T, port int) int {
	t.Helper()
	if port < 0 {
		port = 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if port == 0 {
			t.Fatalf("listen on a free port: %v", err)
		}
		t.Logf("port %d is already in use by another process: %v", port, err)
		return port
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestStartKeepsOrWipesTheStore(t *testing.T) {
	tests := []struct {
		name      string
		fresh     bool
		wantMsgs  int
		wantFound bool
	}{
		{name: "a plain start keeps streams from the previous run", fresh: false, wantMsgs: 5, wantFound: true},
		{name: "a fresh start wipes them", fresh: true, wantFound: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t, 20*time.Second)
			dir := t.TempDir()
			first := start(t, embedded.Options{Port: -1, DataDir: dir})
			fillStream(t, ctx, connect(t, first.ClientURL()), 1, 5)
			first.Shutdown()

			second := start(t, embedded.Options{Port: -1, DataDir: dir, Fresh: tt.fresh})
			js := connect(t, second.ClientURL())
			_, err := js.Stream(ctx, "ORDERS")
			if !tt.wantFound {
				if !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Fatalf("stream lookup after fresh start: %v, want ErrStreamNotFound", err)
				}
				return
			}
			checkSequence(t, readAll(t, ctx, js, tt.wantMsgs))
		})
	}
}

func TestFreshLeavesOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, embedded.Options{Port: -1, DataDir: dir, Fresh: true})
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("Fresh removed a file it did not create: %v", err)
	}
}

func TestRestartKeepsPortAndMessages(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	s := start(t, embedded.Options{Port: -1, DataDir: t.TempDir()})
	port := s.Port()
	fillStream(t, ctx, connect(t, s.ClientURL()), 1, 50)
	before := s.NATS()

	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Port() != port {
		t.Fatalf("port after restart = %d, want %d", s.Port(), port)
	}
	if s.NATS() == before {
		t.Fatalf("NATS() still returns the stopped server")
	}
	if before.Running() {
		t.Fatalf("old server still running after Restart")
	}
	checkSequence(t, readAll(t, ctx, connect(t, s.ClientURL()), 50))
}

func TestRestartAfterShutdownStartsAgain(t *testing.T) {
	s := start(t, embedded.Options{Port: -1, DataDir: t.TempDir()})
	s.Shutdown()
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	connect(t, s.ClientURL())
}

func TestLogfReceivesServerLines(t *testing.T) {
	var (
		mu    sync.Mutex
		lines []string
	)
	start(t, embedded.Options{Port: -1, DataDir: t.TempDir(), Name: "logged", Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}})
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"[INF] Starting nats-server", "logged", "Server is ready"} {
		if !strings.Contains(joined, want) {
			t.Errorf("server log lacks %q; got:\n%s", want, joined)
		}
	}
}

func TestDefaultDataDirIsCreatedUnderTheUserCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache) // os.UserCacheDir on Linux and BSDs
	t.Setenv("HOME", cache)           // and on macOS, under Library/Caches
	want, err := embedded.DefaultDataDir()
	if err != nil {
		t.Fatalf("DefaultDataDir: %v", err)
	}
	if !strings.HasPrefix(want, cache) || !strings.HasSuffix(want, filepath.Join("sagascope", "jetstream")) {
		t.Fatalf("DefaultDataDir() = %q, want <%s>/.../sagascope/jetstream", want, cache)
	}
	if _, err := os.Stat(want); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DefaultDataDir created %s before Start (stat: %v)", want, err)
	}

	s := start(t, embedded.Options{Port: -1})
	if s.DataDir() != want {
		t.Fatalf("DataDir() = %q, want %q", s.DataDir(), want)
	}
	if fi, err := os.Stat(want); err != nil || !fi.IsDir() {
		t.Fatalf("Start did not create %s: %v", want, err)
	}
}
