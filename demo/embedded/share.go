package embedded

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// ErrBadListen wraps every reason Share.Apply refuses its flags.
var ErrBadListen = errors.New("invalid listen settings")

// Environment variables the password flags fall back on. Passwords given
// on the command line show in `ps`; these do not.
const (
	OperatorPasswordEnv = "SAGASCOPE_OPERATOR_PASSWORD"
	ObserverPasswordEnv = "SAGASCOPE_OBSERVER_PASSWORD"
)

// Share holds the flags that open the embedded server to other machines:
// where it listens, the role passwords and TLS. The zero value listens on
// loopback, open, in plain TCP, as before sharing existed.
type Share struct {
	// Listen is host:port, host or :port. A host other than loopback (":port"
	// means every interface) turns authentication on.
	Listen string
	// OperatorPassword and ObserverPassword turn authentication on even on
	// loopback; empty ones are generated when it is on.
	OperatorPassword, ObserverPassword string
	// TLSCert and TLSKey serve TLS (both or neither).
	TLSCert, TLSKey string
}

// Register defines --listen, --operator-password, --observer-password,
// --tlscert and --tlskey on fs, bound to sh. The passwords fall back on
// their environment variables at Apply time, not as flag defaults, because
// -help prints defaults.
func (sh *Share) Register(fs *flag.FlagSet) {
	fs.StringVar(&sh.Listen, "listen", sh.Listen, "serve NATS clients on host:port; an address other than loopback (0.0.0.0:4222, or :4222) shares the session with other machines and requires the operator and observer logins (default 127.0.0.1 and --port)")
	fs.StringVar(&sh.OperatorPassword, "operator-password", sh.OperatorPassword, "password of the operator user, who may inject faults, change the load and run scenarios; setting it requires logins even on loopback (env "+OperatorPasswordEnv+"; default: generated and printed once)")
	fs.StringVar(&sh.ObserverPassword, "observer-password", sh.ObserverPassword, "password of the read-only observer user, for attendees' dashboards (env "+ObserverPasswordEnv+"; default: generated and printed once)")
	fs.StringVar(&sh.TLSCert, "tlscert", sh.TLSCert, "PEM certificate (chain) file: serve clients over TLS only (with --tlskey)")
	fs.StringVar(&sh.TLSKey, "tlskey", sh.TLSKey, "PEM private key file of --tlscert")
}

// Apply checks the flags and sets o's Host, Port, Auth and TLS files from
// them. A port in --listen replaces o.Port, which must then be 0 (a second
// port flag would be ambiguous); "host:0" picks a free port. Errors wrap
// ErrBadListen and name the flag.
func (sh Share) Apply(o *Options) error {
	if sh.OperatorPassword == "" {
		sh.OperatorPassword = os.Getenv(OperatorPasswordEnv)
	}
	if sh.ObserverPassword == "" {
		sh.ObserverPassword = os.Getenv(ObserverPasswordEnv)
	}
	if sh.Listen != "" {
		host, port, err := parseListen(sh.Listen)
		if err != nil {
			return fmt.Errorf("%w: --listen %q: %w", ErrBadListen, sh.Listen, err)
		}
		if port != 0 {
			if o.Port != 0 {
				return fmt.Errorf("%w: --listen %q has a port and --port says %d: give one", ErrBadListen, sh.Listen, o.Port)
			}
			o.Port = port
		}
		o.Host = host
	}
	if (sh.TLSCert == "") != (sh.TLSKey == "") {
		return fmt.Errorf("%w: --tlscert and --tlskey go together", ErrBadListen)
	}
	o.TLSCert, o.TLSKey = sh.TLSCert, sh.TLSKey
	host := o.Host
	if host == "" {
		host = defaultHost
	}
	if !isLoopback(host) || sh.OperatorPassword != "" || sh.ObserverPassword != "" {
		o.Auth = &Auth{OperatorPassword: sh.OperatorPassword, ObserverPassword: sh.ObserverPassword}
	}
	return nil
}

// parseListen reads host:port, host or :port. An empty host means every
// interface, as net.Listen reads it. Port 0 is returned as -1 (any free
// port, Options.Port's spelling); no port as 0.
func parseListen(s string) (host string, port int, err error) {
	h, p, splitErr := net.SplitHostPort(s)
	if splitErr != nil {
		// No port: a bare host, or an IPv6 address with or without brackets.
		switch {
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			h = s[1 : len(s)-1]
		case strings.Count(s, ":") != 1 && !strings.ContainsAny(s, "[]"):
			h = s
		default:
			return "", 0, errors.New("want host:port, host or :port")
		}
		p = ""
	}
	if h == "" {
		h = "0.0.0.0"
	}
	if strings.ContainsAny(h, " /") {
		return "", 0, fmt.Errorf("%q is not a host name or address", h)
	}
	if p == "" {
		return h, 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not in 0..65535", p)
	}
	if n == 0 {
		n = -1
	}
	return h, n, nil
}
