// Package connect is how every sagascope command reaches a NATS server or
// cluster: the same flags, environment variables and NATS CLI contexts the
// `nats` tool understands, and one clear line when the connection fails.
package connect

import (
	"flag"
	"os"
)

// Options says where and how to connect. Every field but InboxPrefix falls
// back to its environment variable when empty; the variable names are the
// NATS CLI's, so a shell already set up for `nats` works unchanged. The zero
// value (and no environment) connects to nats://127.0.0.1:4222 without
// credentials.
type Options struct {
	// Servers is a comma-separated list of server URLs (nats://, tls://,
	// ws://, wss://, or bare host:port). Env NATS_URL.
	Servers string
	// Context names a NATS CLI context (as made by `nats context add`) to
	// take the servers and credentials from; fields set here override the
	// context's. Env NATS_CONTEXT. The context the NATS CLI has selected is
	// never used unless named here: a demo must not silently run against
	// whatever cluster the developer last pointed `nats` at.
	Context string
	// Creds is a credentials (.creds) file. Env NATS_CREDS.
	Creds string
	// NKey is an nkey seed file. Env NATS_NKEY.
	NKey string
	// User and Password authenticate with a user name. Env NATS_USER,
	// NATS_PASSWORD.
	User, Password string
	// TLSCert and TLSKey are a client certificate and its key; TLSCA is the
	// CA bundle that verifies the server. Env NATS_CERT, NATS_KEY, NATS_CA.
	TLSCert, TLSKey, TLSCA string
	// InboxPrefix replaces nats.go's _INBOX as the prefix of the reply
	// subjects the connection subscribes to (requests, JetStream API
	// calls), as the NATS CLI's --inbox-prefix and a context's
	// inbox_prefix do. A server that gives each user its own prefix (a
	// shared session, see demo/embedded) refuses the default one. No
	// environment variable: the NATS CLI reads none for it.
	InboxPrefix string

	// noEnv leaves empty fields empty: the options of another login than
	// the environment's (System.Options).
	noEnv bool
}

// setting ties one Options field to its flag and environment variable, so
// Register and the environment fallback cannot drift apart.
type setting struct {
	// env is "" for a setting without an environment variable.
	flag, env, usage string
	field            func(*Options) *string
	// secret settings never show their environment value as the flag
	// default, which -help would print.
	secret bool
}

var settings = []setting{
	{flag: "server", env: "NATS_URL", usage: "NATS server URLs, comma separated", field: func(o *Options) *string { return &o.Servers }},
	{flag: "context", env: "NATS_CONTEXT", usage: "NATS CLI context to connect with", field: func(o *Options) *string { return &o.Context }},
	{flag: "creds", env: "NATS_CREDS", usage: "user credentials file", field: func(o *Options) *string { return &o.Creds }},
	{flag: "nkey", env: "NATS_NKEY", usage: "nkey seed file", field: func(o *Options) *string { return &o.NKey }},
	{flag: "user", env: "NATS_USER", usage: "user name", field: func(o *Options) *string { return &o.User }},
	{flag: "password", env: "NATS_PASSWORD", usage: "password", field: func(o *Options) *string { return &o.Password }, secret: true},
	{flag: "tlscert", env: "NATS_CERT", usage: "TLS client certificate file", field: func(o *Options) *string { return &o.TLSCert }},
	{flag: "tlskey", env: "NATS_KEY", usage: "TLS client key file", field: func(o *Options) *string { return &o.TLSKey }},
	{flag: "tlsca", env: "NATS_CA", usage: "TLS CA file to verify the server", field: func(o *Options) *string { return &o.TLSCA }},
	{flag: "inbox-prefix", usage: "prefix of reply subjects instead of _INBOX (a shared session gives each user its own)", field: func(o *Options) *string { return &o.InboxPrefix }},
}

// Register defines the connection flags (--server, --context, --creds,
// --nkey, --user, --password, --tlscert, --tlskey, --tlsca, --inbox-prefix)
// on fs, bound to o. Each flag's default is its environment variable's
// value, and its usage names the variable. The password is the exception: its value is read from
// NATS_PASSWORD at Connect time rather than becoming the default, because
// -help prints defaults.
func (o *Options) Register(fs *flag.FlagSet) {
	for _, s := range settings {
		p := s.field(o)
		def, usage := *p, s.usage
		if s.env != "" {
			if v := os.Getenv(s.env); v != "" && !s.secret {
				def = v
			}
			usage += " (env " + s.env + ")"
		}
		fs.StringVar(p, s.flag, def, usage)
	}
}

// withEnv returns o with every empty field filled from its environment
// variable.
func (o Options) withEnv() Options {
	if o.noEnv {
		return o
	}
	for _, s := range settings {
		if p := s.field(&o); *p == "" && s.env != "" {
			*p = os.Getenv(s.env)
		}
	}
	return o
}
