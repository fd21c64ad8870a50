package connect

import "flag"

// System is how to log in to the system account, for the commands that
// read every stream and consumer of an account from the server's own
// monitoring (one request per server instead of one per stream), the way
// `nats --context sys server report jetstream` does. It takes the main
// connection's servers and TLS settings and a login of its own. The NATS_*
// environment variables are the main login's, so none of them fills it.
type System struct {
	Context, Creds, NKey, User, Password string
}

// Register defines --system-context, --system-creds, --system-nkey,
// --system-user and --system-password on fs, bound to s.
func (s *System) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.Context, "system-context", "", "NATS CLI context of a system-account user: read streams and consumers from the server's monitoring")
	fs.StringVar(&s.Creds, "system-creds", "", "credentials file of a system-account user (as --system-context)")
	fs.StringVar(&s.NKey, "system-nkey", "", "nkey seed file of a system-account user (as --system-context)")
	fs.StringVar(&s.User, "system-user", "", "system-account user name (as --system-context)")
	fs.StringVar(&s.Password, "system-password", "", "system-account user's password")
}

// Set reports whether a system-account login was given.
func (s System) Set() bool { return s != System{} }

// Options are the connection options of the system-account login: main's
// servers and TLS (unless the named context has its own), s's login, and
// no environment fallback.
func (s System) Options(main Options) Options {
	o := Options{Context: s.Context, Creds: s.Creds, NKey: s.NKey, User: s.User, Password: s.Password, noEnv: true}
	if s.Context == "" {
		main = main.withEnv()
		o.Servers, o.TLSCert, o.TLSKey, o.TLSCA = main.Servers, main.TLSCert, main.TLSKey, main.TLSCA
	}
	return o
}
