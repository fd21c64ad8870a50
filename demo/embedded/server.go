// Package embedded runs a NATS server with JetStream inside the sagascope
// process, so the demo works on a laptop with nothing else installed.
//
// Clients always reach the embedded server over TCP loopback, exactly as they
// would reach an external one: the in-process pipe transport
// (nats.InProcessServer) was measured stalling pull consumers for ~30 s, and
// going through TCP keeps the demo honest about what a real deployment sees.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultPort is the port the embedded server prefers when Options.Port is 0:
// the NATS default, so `nats` CLI users find it without flags.
const DefaultPort = 4222

// ErrPortInUse reports that the server could not bind its client port. With
// Options.Port > 0 it is returned from Start; callers can test for it with
// errors.Is and suggest another port.
var ErrPortInUse = errors.New("client port is in use or cannot be bound")

const (
	defaultHost = "127.0.0.1"
	defaultName = "sagascope"

	// readyTimeout bounds how long Start waits for the client listener. A
	// cold start with an empty store takes milliseconds; a large store being
	// recovered can take seconds.
	readyTimeout = 10 * time.Second

	// restartBindTimeout bounds how long Restart retries binding the same
	// port after shutdown, for kernels that keep it briefly unavailable.
	restartBindTimeout = 5 * time.Second

	// jetStreamMaxMemory caps memory-backed streams. The server's default is
	// 75% of the machine's RAM, which is wrong for a demo that shares the
	// process with services, a load generator and a dashboard: a runaway
	// memory stream should hit a clean "insufficient resources" error, not
	// swap the laptop. sagascope's own streams are file-backed, so this only
	// limits what an experimenter adds.
	jetStreamMaxMemory = 256 << 20

	// maxPayload is the NATS default (1 MiB), set explicitly so a change of
	// server default cannot silently change what the demo accepts.
	maxPayload = server.MAX_PAYLOAD_SIZE

	// storeSubdir is the directory the server creates under its StoreDir;
	// everything JetStream persists lives below it.
	storeSubdir = server.JetStreamStoreDir
)

// Options configures Start. The zero value is a usable default: loopback,
// port 4222 with fallback to a free port, the per-user data dir, logs
// discarded.
type Options struct {
	// Host is the interface to listen on; "" means 127.0.0.1.
	Host string
	// Port selects the client port: 0 tries 4222 and falls back to a free
	// port if 4222 is taken; a negative value always picks a free port; a
	// positive value is used exactly and Start fails with ErrPortInUse if it
	// is taken.
	Port int
	// DataDir is the JetStream store directory; "" means DefaultDataDir().
	DataDir string
	// Fresh wipes the JetStream store under DataDir before starting. Only
	// the store the server itself created (DataDir/jetstream) is removed, so
	// pointing DataDir at a directory holding other files cannot lose them.
	Fresh bool
	// Name is the server name; "" means "sagascope".
	Name string
	// Auth, when not nil, requires every client to log in as one of its
	// roles. Start refuses a Host that is not a loopback address without
	// it.
	Auth *Auth
	// TLSCert and TLSKey are PEM files of the server's certificate (chain)
	// and key; set both to require TLS of every client. ClientOptions pins
	// the certificate for in-process clients, which dial 127.0.0.1, a name
	// a real certificate does not carry.
	TLSCert, TLSKey string
	// Logf, when set, receives one call per server log line, already
	// prefixed with its level ("[INF] ", "[WRN] ", "[ERR] ", "[FTL] ").
	// It may be called from server goroutines concurrently. nil discards
	// server logs.
	Logf func(format string, args ...any)
}

// Server is a running (or shut down) embedded NATS server. Its methods are
// safe for concurrent use. The owner must call Shutdown.
type Server struct {
	host    string
	name    string
	dataDir string
	logf    func(format string, args ...any)
	cluster *memberConfig // nil for a standalone server
	auth    *auth         // nil: no authentication
	system  User          // the system account's in-process login, without auth
	tls     *serverTLS    // nil: plain TCP

	mu   sync.Mutex
	ns   *server.Server
	port int // the bound client port, fixed after the first start
}

// memberConfig is what makes a Server one node of a Cluster.
type memberConfig struct {
	name   string
	port   int
	routes []*url.URL
}

// DefaultDataDir returns the per-user JetStream store directory,
// <user cache dir>/sagascope/jetstream. It does not create it; Start does.
func DefaultDataDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the per-user cache dir for the JetStream store (set a data dir explicitly): %w", err)
	}
	return filepath.Join(cache, "sagascope", "jetstream"), nil
}

// Start starts a NATS server with JetStream on a file store and returns once
// it accepts client connections. The caller owns the returned Server and must
// call Shutdown.
func Start(opts Options) (*Server, error) {
	s := &Server{host: opts.Host, name: opts.Name, dataDir: opts.DataDir, logf: opts.Logf}
	if s.host == "" {
		s.host = defaultHost
	}
	if s.name == "" {
		s.name = defaultName
	}
	if s.dataDir == "" {
		dir, err := DefaultDataDir()
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS server: %w", err)
		}
		s.dataDir = dir
	}
	if err := checkExposure(s.host, opts.Auth); err != nil {
		return nil, fmt.Errorf("start embedded NATS server: %w", err)
	}
	if opts.Auth != nil {
		a, err := newAuth(*opts.Auth)
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS server: %w", err)
		}
		s.auth = a
	} else {
		s.system = login(SystemUser, "")
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		t, err := loadTLS(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS server: %w", err)
		}
		s.tls = t
	}
	if err := prepareDataDir(s.dataDir, opts.Fresh); err != nil {
		return nil, fmt.Errorf("start embedded NATS server: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startFirstLocked(opts.Port); err != nil {
		return nil, err
	}
	return s, nil
}

// startFirstLocked applies the Options.Port rules to the first start.
func (s *Server) startFirstLocked(port int) error {
	switch {
	case port > 0:
		return s.startLocked(port)
	case port < 0:
		return s.startLocked(server.RANDOM_PORT)
	}
	// Port 0: prefer 4222. Probing first avoids initialising JetStream twice
	// in the common case where something already listens there; the
	// ErrPortInUse fallback covers losing the race after the probe.
	if portFree(s.host, DefaultPort) {
		err := s.startLocked(DefaultPort)
		if !errors.Is(err, ErrPortInUse) {
			return err
		}
	}
	return s.startLocked(server.RANDOM_PORT)
}

// prepareDataDir creates dir and, when fresh, removes the JetStream store the
// server keeps below it.
func prepareDataDir(dir string, fresh bool) error {
	if fresh {
		if err := os.RemoveAll(filepath.Join(dir, storeSubdir)); err != nil {
			return fmt.Errorf("wipe JetStream store in %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create JetStream data dir: %w", err)
	}
	return nil
}

// portFree reports whether host:port can be bound right now.
func portFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// startLocked starts a new server on port (server.RANDOM_PORT for any free
// port). s.mu must be held. On success s.ns and s.port are set.
func (s *Server) startLocked(port int) error {
	addr := net.JoinHostPort(s.host, strconv.Itoa(port))
	if port == server.RANDOM_PORT {
		addr = net.JoinHostPort(s.host, "0")
	}
	fail := func(err error) error {
		return fmt.Errorf("start embedded NATS server on %s: %w", addr, err)
	}

	ns, err := server.NewServer(s.serverOptions(port))
	if err != nil {
		return fail(err)
	}
	log := &serverLog{logf: s.logf}
	ns.SetLogger(log, false, false)

	// Start is synchronous: it returns once the client listener is bound or
	// after it has logged a fatal error (it never exits the process, because
	// our logger's Fatalf only records).
	ns.Start()
	if fatal := log.fatalError(); fatal != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return fail(fatal)
	}
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return fail(fmt.Errorf("not ready for connections after %s", readyTimeout))
	}
	s.ns = ns
	s.port = ns.Addr().(*net.TCPAddr).Port
	return nil
}

// serverOptions builds fresh options for each start: the server mutates the
// Options it is given, so they must never be shared between starts.
func (s *Server) serverOptions(port int) *server.Options {
	o := &server.Options{
		ServerName:         s.name,
		Host:               s.host,
		Port:               port,
		MaxPayload:         maxPayload,
		JetStream:          true,
		StoreDir:           s.dataDir,
		JetStreamMaxMemory: jetStreamMaxMemory,
		// The host process owns SIGINT/SIGTERM; the server must not install
		// its own handlers (they would also leak a goroutine per server).
		NoSigs: true,
	}
	serverUsers(o, s.auth, s.system)
	if s.tls != nil {
		// A clone per start: the server keeps and may adjust its config.
		o.TLSConfig = s.tls.config.Clone()
		o.TLSTimeout = tlsTimeout.Seconds()
	}
	if s.cluster != nil {
		o.ServerName = s.cluster.name
		o.Cluster = server.ClusterOpts{
			Name: clusterName,
			Host: defaultHost,
			Port: s.cluster.port,
		}
		o.Routes = s.cluster.routes
	}
	return o
}

// ClientURL returns the URL clients connect to, nats://host:port (tls://
// with TLS). A wildcard listen host is reported as 127.0.0.1 so the URL is
// always dialable. With Auth or TLS, in-process clients also need
// ClientOptions.
func (s *Server) ClientURL() string {
	host := s.host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = defaultHost
	}
	return s.scheme() + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

func (s *Server) scheme() string {
	if s.tls != nil {
		return "tls://"
	}
	return "nats://"
}

// Port returns the bound client port. It stays the same across Restart.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// DataDir returns the JetStream store directory the server was started with.
func (s *Server) DataDir() string { return s.dataDir }

// NATS returns the underlying nats-server, for tests and probes that need
// Varz or Jsz. After Restart it is a different value; do not cache it.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// Shutdown stops the server and returns only when it is fully down, its
// listeners closed and its JetStream store flushed. Calling it again, or on
// a server that is already down, does nothing.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdownLocked()
}

func (s *Server) shutdownLocked() {
	if s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Restart shuts the server down and starts it again on the same port and data
// dir; file-backed streams keep their messages. Connected clients see a
// disconnect and reconnect on their own. Restart also starts a server that
// was shut down.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdownLocked()
	// The port was just released; on some systems it stays unbindable for a
	// moment, so retry briefly rather than fail a test mid-load.
	deadline := time.Now().Add(restartBindTimeout)
	for {
		err := s.startLocked(s.port)
		if err == nil || !errors.Is(err, ErrPortInUse) || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("restart: %w", err)
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverLog adapts the server's Logger to a printf function and remembers
// the first fatal line, which is how the server reports a failed Start.
type serverLog struct {
	logf func(format string, args ...any)

	mu    sync.Mutex
	fatal error
}

// listenFailure is the format of the fatal line for an unbindable client
// port; its last argument is the listen error.
const listenFailure = "Error listening on port"

func (l *serverLog) fatalError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

func (l *serverLog) emit(prefix, format string, v []any) {
	if l.logf != nil {
		l.logf(prefix+format, v...)
	}
}

func (l *serverLog) Noticef(format string, v ...any) { l.emit("[INF] ", format, v) }
func (l *serverLog) Warnf(format string, v ...any)   { l.emit("[WRN] ", format, v) }
func (l *serverLog) Errorf(format string, v ...any)  { l.emit("[ERR] ", format, v) }
func (l *serverLog) Debugf(format string, v ...any)  { l.emit("[DBG] ", format, v) }
func (l *serverLog) Tracef(format string, v ...any)  { l.emit("[TRC] ", format, v) }

// Fatalf records the line instead of exiting: an embedded server must never
// take the host process down. A listen failure keeps the OS error in the
// chain (errors.Is(err, syscall.EADDRINUSE) works) under ErrPortInUse.
func (l *serverLog) Fatalf(format string, v ...any) {
	l.emit("[FTL] ", format, v)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal != nil {
		return
	}
	if strings.HasPrefix(format, listenFailure) && len(v) > 0 {
		if cause, ok := v[len(v)-1].(error); ok {
			l.fatal = fmt.Errorf("%w: %w", ErrPortInUse, cause)
			return
		}
		l.fatal = fmt.Errorf("%w: %s", ErrPortInUse, fmt.Sprintf(format, v...))
		return
	}
	l.fatal = fmt.Errorf(format, v...)
}
