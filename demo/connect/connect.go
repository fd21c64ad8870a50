package connect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/jsm.go/natscontext"
	"github.com/nats-io/nats.go"
)

// Errors Connect returns, for callers that react differently to each (all
// are matched with errors.Is; the message already says what to do).
var (
	// ErrInvalidURL: a server URL cannot be parsed or is not a NATS URL.
	ErrInvalidURL = errors.New("invalid server URL")
	// ErrUnknownContext: the named NATS CLI context does not exist.
	ErrUnknownContext = errors.New("unknown NATS context")
	// ErrUnreachable: no server accepted a TCP connection.
	ErrUnreachable = errors.New("no server is listening there")
	// ErrAuthorization: a server answered but rejected the credentials.
	ErrAuthorization = errors.New("authorization failed")
	// ErrCredentials: a credentials, nkey or TLS file cannot be used.
	ErrCredentials = errors.New("cannot use credentials")
)

const (
	// dialTimeout bounds one TCP connect attempt per server URL, so an
	// unroutable address fails in seconds rather than the OS's minutes.
	dialTimeout = 2 * time.Second
	// handshakeTimeout bounds the NATS handshake after the TCP connect
	// (the nats.go default); it is shortened to fit ctx.
	handshakeTimeout = 2 * time.Second

	// reconnectWait and the jitters spread reconnects of many processes
	// after a server restart, so the demo's dozen clients do not hit the
	// restarted server in the same millisecond.
	reconnectWait      = 500 * time.Millisecond
	reconnectJitter    = 500 * time.Millisecond
	reconnectJitterTLS = 1 * time.Second
)

// Connect connects to the servers o describes, named name (shown by the
// server in connz and by `nats server report connections`). extra options are
// applied last and win over everything.
//
// The initial connect is not retried: an unreachable server fails within a
// few seconds, and never later than ctx's deadline. Once connected, the
// connection reconnects forever with a jittered wait. Failures are one line
// saying what to do, matched by the Err* values. The caller owns the
// connection and must Close or Drain it.
func Connect(ctx context.Context, o Options, name string, extra ...nats.Option) (*nats.Conn, error) {
	o = o.withEnv()
	nctx, err := o.natsContext()
	if err != nil {
		return nil, err
	}
	servers := nctx.ServerURL()
	if err := validateServers(servers); err != nil {
		return nil, err
	}
	if err := checkFiles(nctx); err != nil {
		return nil, err
	}
	where := redactServers(servers)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}

	dialer := &initialDialer{Dialer: net.Dialer{Timeout: dialTimeout}}
	dialer.bind(ctx)
	defer dialer.unbind() // reconnects must outlive ctx

	timeout := handshakeTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(deadline), time.Millisecond))
	}
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(timeout),
	}
	nopts, err := nctx.NATSOptions(append(base, extra...)...)
	if err != nil {
		return nil, &failure{msg: fmt.Sprintf("connect to %s: %s: %v", where, ErrCredentials, err), kind: ErrCredentials, cause: err}
	}
	// The dialer goes first so that a context's SOCKS proxy dialer, which
	// NATSOptions adds, replaces it.
	nopts = append([]nats.Option{nats.SetCustomDialer(dialer)}, nopts...)
	if err := tryOptions(nopts); err != nil {
		return nil, &failure{msg: fmt.Sprintf("connect to %s: %s: %v", where, ErrCredentials, err), kind: ErrCredentials, cause: err}
	}

	nc, err := nats.Connect(servers, nopts...)
	if err != nil {
		return nil, explain(ctx, o, where, err)
	}
	return nc, nil
}

// DialTimeout bounds how long Dial waits for the first connection.
const DialTimeout = 10 * time.Second

// Dial connects as a command does: Connect, bounded by DialTimeout as well
// as ctx, with nats.go's own printing of asynchronous errors (permission
// violations, slow consumers) turned off. A command reports the errors
// that matter as one clear line, and the dashboard shows the connection's
// last error on its screen; raw lines on stderr would do neither.
func Dial(ctx context.Context, o Options, name string, extra ...nats.Option) (*nats.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	return Connect(ctx, o, name, append([]nats.Option{QuietErrors}, extra...)...)
}

// QuietErrors is an asynchronous error handler that prints nothing, for
// connections whose errors their owner reports.
var QuietErrors = nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})

// tryOptions applies opts to scratch options, which is where nats.go reads
// CA and client certificate files: an unreadable or unparsable one then
// fails as a credentials problem, before any dial, instead of as an
// anonymous connect error.
func tryOptions(opts []nats.Option) error {
	scratch := nats.GetDefaultOptions()
	for _, opt := range opts {
		if err := opt(&scratch); err != nil {
			return err
		}
	}
	return nil
}

// natsContext builds the natscontext.Context to connect with: the named CLI
// context if there is one, with every explicitly set option laid over it.
// natscontext does the credential handling, so a --creds or --nkey means
// exactly what it means to the `nats` tool.
func (o Options) natsContext() (*natscontext.Context, error) {
	overrides := []natscontext.Option{
		natscontext.WithServerURL(o.Servers),
		natscontext.WithCreds(o.Creds),
		natscontext.WithNKey(o.NKey),
		natscontext.WithUser(o.User),
		natscontext.WithPassword(o.Password),
		natscontext.WithCertificate(o.TLSCert),
		natscontext.WithKey(o.TLSKey),
		natscontext.WithCA(o.TLSCA),
		natscontext.WithInboxPrefix(o.InboxPrefix),
	}
	if o.Context == "" {
		// load=false: the selected CLI context is deliberately not used.
		return natscontext.New("", false, overrides...)
	}
	nctx, err := natscontext.New(o.Context, true, overrides...)
	switch {
	case errors.Is(err, natscontext.ErrNotFound), errors.Is(err, natscontext.ErrInvalidName):
		msg := fmt.Sprintf("%s %q", ErrUnknownContext, o.Context)
		if known := natscontext.KnownContexts(); len(known) > 0 {
			msg += " (known: " + strings.Join(known, ", ") + ")"
		} else {
			msg += " (no contexts found; create one with `nats context add`)"
		}
		return nil, &failure{msg: msg, kind: ErrUnknownContext, cause: err}
	case err != nil:
		return nil, fmt.Errorf("load NATS context %q: %w", o.Context, err)
	}
	return nctx, nil
}

// natsSchemes are the URL schemes nats.go dials.
var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// validateServers checks each comma-separated URL the way nats.go will read
// it (a bare host:port means nats://host:port), so a typo fails with the URL
// named instead of as a dial error.
func validateServers(servers string) error {
	for raw := range strings.SplitSeq(servers, ",") {
		raw = strings.TrimSpace(raw)
		if err := validateURL(raw); err != nil {
			return &failure{msg: fmt.Sprintf("%s %q: %s", ErrInvalidURL, redactRaw(raw), err), kind: ErrInvalidURL, cause: err}
		}
	}
	return nil
}

func validateURL(raw string) error {
	if raw == "" {
		return errors.New("empty entry in the server list")
	}
	full := raw
	if !strings.Contains(raw, "://") {
		full = "nats://" + raw
	}
	u, err := url.Parse(full)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL, password included
		}
		return err
	}
	if !natsSchemes[u.Scheme] {
		return fmt.Errorf("scheme %q is not a NATS scheme (use nats://, tls://, ws:// or wss://)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is out of range 1-65535", p)
		}
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}

// checkFiles fails early, naming the flag, when a credentials or TLS file
// does not exist; nats.go would report it later and less clearly.
func checkFiles(nctx *natscontext.Context) error {
	files := []struct{ what, path string }{
		{"--creds", nctx.Creds()},
		{"--nkey", nctx.NKey()},
		{"--tlscert", nctx.Certificate()},
		{"--tlskey", nctx.Key()},
		{"--tlsca", nctx.CA()},
	}
	for _, f := range files {
		// Only plain paths are checked; natscontext resolves URIs such as
		// op:// or env:// itself.
		if f.path == "" || (strings.Contains(f.path, "://") && !strings.HasPrefix(f.path, "file://")) {
			continue
		}
		path := strings.TrimPrefix(f.path, "file://")
		if _, err := os.Stat(path); err != nil {
			return &failure{msg: fmt.Sprintf("%s: %s file %s: %v", ErrCredentials, f.what, path, unwrapPathError(err)), kind: ErrCredentials, cause: err}
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var perr *os.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}

// explain turns a nats.Connect error into one line that says what to do.
func explain(ctx context.Context, o Options, where string, err error) error {
	fail := func(kind error, format string, args ...any) error {
		return &failure{msg: fmt.Sprintf("connect to %s: ", where) + fmt.Sprintf(format, args...), kind: kind, cause: err}
	}
	var (
		tlsRecord tls.RecordHeaderError
		netErr    net.Error
	)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connect to %s: gave up: %w", where, ctx.Err())
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return fail(ErrAuthorization, "%s: check --user/--password or --creds", ErrAuthorization)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, nats.ErrNoServers):
		hint := "is NATS running? set --server or NATS_URL"
		if o.Servers == "" && o.Context == "" {
			if sel := natscontext.SelectedContext(); sel != "" {
				hint += fmt.Sprintf(", or --context %s to use the NATS CLI's selected context", sel)
			}
		}
		return fail(ErrUnreachable, "%s (%s)", ErrUnreachable, hint)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fail(ErrCredentials, "the server requires TLS: use a tls:// URL or set --tlsca")
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fail(ErrCredentials, "the server does not offer TLS: drop --tlscert/--tlskey/--tlsca or use a nats:// URL")
	case errors.As(err, &tlsRecord), strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "x509: "):
		// crypto/tls and crypto/x509 errors are not all typed; their
		// messages carry these package prefixes.
		return fail(ErrCredentials, "TLS handshake failed (%v): check --tlscert, --tlskey and --tlsca", err)
	case errors.Is(err, nats.ErrTimeout), errors.As(err, &netErr) && netErr.Timeout():
		return fail(ErrUnreachable, "no answer within %s (is the address right, and is it a NATS server?)", dialTimeout)
	}
	return fail(nil, "%v", err)
}

// failure is an error whose message is written for a person (one line, what
// to do) while errors.Is still finds both its kind and the underlying cause.
type failure struct {
	msg   string
	kind  error
	cause error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() []error {
	var errs []error
	for _, e := range []error{f.kind, f.cause} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}

// redactServers hides passwords embedded in server URLs before they appear
// in an error message.
func redactServers(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		parts[i] = redactRaw(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// redactRaw hides the password of a URL, parseable or not.
func redactRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw
	}
	out := user + ":xxxxx" + rest[at:]
	if ok {
		out = scheme + "://" + out
	}
	return out
}

// initialDialer dials bounded by the context of the Connect call in
// progress, and unbounded (but for its Timeout) afterwards: nats.go keeps
// using the same dialer for reconnects, which must not die with a startup
// context.
type initialDialer struct {
	net.Dialer
	ctx atomic.Pointer[context.Context]
}

func (d *initialDialer) bind(ctx context.Context) { d.ctx.Store(&ctx) }

// unbind ends the bound: later dials (reconnects) have only the Timeout.
func (d *initialDialer) unbind() { d.ctx.Store(nil) }

// Dial implements nats.CustomDialer.
func (d *initialDialer) Dial(network, address string) (net.Conn, error) {
	ctx := context.Background()
	if p := d.ctx.Load(); p != nil {
		ctx = *p
	}
	return d.DialContext(ctx, network, address)
}
