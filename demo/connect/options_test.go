package connect

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestRegisterTakesDefaultsFromTheEnvironment(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env:4222")
	t.Setenv("NATS_CREDS", "/env/user.creds")
	t.Setenv("NATS_PASSWORD", "env-secret")

	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.Register(fs)
	if err := fs.Parse([]string{"--user", "alice"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "server comes from NATS_URL", got: o.Servers, want: "nats://env:4222"},
		{name: "creds comes from NATS_CREDS", got: o.Creds, want: "/env/user.creds"},
		{name: "a flag on the command line wins", got: o.User, want: "alice"},
		{name: "the password is not a flag default", got: o.Password, want: ""},
		{name: "the password still comes from NATS_PASSWORD at connect time", got: o.withEnv().Password, want: "env-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}

	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, s := range settings {
		if fs.Lookup(s.flag) == nil {
			t.Errorf("flag --%s not registered", s.flag)
		}
		if s.env != "" && !strings.Contains(help.String(), "(env "+s.env+")") {
			t.Errorf("help does not name %s", s.env)
		}
	}
	if strings.Contains(help.String(), "env-secret") {
		t.Errorf("help shows the password:\n%s", help.String())
	}
}

func TestTheSelectedCLIContextIsNotUsedSilently(t *testing.T) {
	for _, env := range []string{"NATS_URL", "NATS_CONTEXT"} {
		t.Setenv(env, "")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	ctxDir := filepath.Join(dir, "nats", "context")
	if err := os.MkdirAll(ctxDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "prod.json"), []byte(`{"url":"nats://prod.example:4222"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nats", "context.txt"), []byte("prod"), 0o600); err != nil {
		t.Fatal(err)
	}

	o := Options{}.withEnv()
	nctx, err := o.natsContext()
	if err != nil {
		t.Fatal(err)
	}
	if got := nctx.ServerURL(); got != nats.DefaultURL {
		t.Fatalf("with no --server or --context the URL is %q, want the default %q", got, nats.DefaultURL)
	}

	// When the default then fails, the error points at the context rather
	// than leaving the user to wonder why `nats` works and this does not.
	err = explain(t.Context(), o, nats.DefaultURL, nats.ErrNoServers)
	if want := "--context prod"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not suggest %q", err, want)
	}
}
