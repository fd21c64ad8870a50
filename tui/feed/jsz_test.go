package feed_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// accountsConfig is an application account APP with JetStream and a
// system account SYS, a user each.
const accountsConfig = `
accounts {
  APP { jetstream: enabled, users: [{user: app, password: app}] }
  SYS { users: [{user: sys, password: sys}] }
}
system_account: SYS
`

// logins are the client URLs of one server, by user.
type logins struct{ app, sys string }

// startServer starts a nats-server from conf (accountsConfig added) on
// loopback, storing into a temporary directory, and shuts it down when
// the test ends.
func startAccountsServer(t *testing.T, conf string) (*server.Server, logins) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "nats.conf")
	conf = fmt.Sprintf("jetstream { store_dir: %q }\n", filepath.Join(dir, "js")) + conf + accountsConfig
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	addr := strings.TrimPrefix(srv.ClientURL(), "nats://")
	return srv, logins{app: "nats://app:app@" + addr, sys: "nats://sys:sys@" + addr}
}

// systemServer is one server with the two accounts.
func systemServer(t *testing.T) logins {
	t.Helper()
	_, l := startAccountsServer(t, "server_name: jsz\nlisten: 127.0.0.1:-1\n")
	return l
}

// appStreams makes n streams ("A000"...) of five messages with three
// durables each: "a" has 3 delivered and 2 of them acked (and a
// threshold), "b" has 2 delivered, one of them nak'ed and (mostly)
// redelivered, "c" has nothing delivered.
func appStreams(t *testing.T, js jetstream.JetStream, n, replicas int) {
	t.Helper()
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("A%03d", i)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"app." + name}, Replicas: replicas})
			if err != nil {
				return err
			}
			for range 5 {
				if _, err := js.Publish(ctx, "app."+name, []byte("x")); err != nil {
					return err
				}
			}
			cons := map[string]jetstream.Consumer{}
			for _, c := range []string{"a", "b", "c"} {
				cfg := jetstream.ConsumerConfig{Durable: c, AckPolicy: jetstream.AckExplicitPolicy, Replicas: replicas}
				if c == "a" {
					cfg.Metadata = map[string]string{feed.MetaUnprocessedWarn: "1"}
				}
				if cons[c], err = s.CreateConsumer(ctx, cfg); err != nil {
					return err
				}
			}
			a, err := cons["a"].Fetch(3)
			if err != nil {
				return err
			}
			acks := 0
			for m := range a.Messages() {
				if acks < 2 {
					if err := m.DoubleAck(ctx); err != nil {
						return err
					}
				}
				acks++
			}
			b, err := cons["b"].Fetch(2)
			if err != nil {
				return err
			}
			naked := false
			for m := range b.Messages() {
				if !naked {
					if err := m.Nak(); err != nil {
						return err
					}
					naked = true
				}
			}
			again, err := cons["b"].Fetch(1)
			if err != nil {
				return err
			}
			for range again.Messages() {
			}
			if acks != 3 {
				return fmt.Errorf("%s/a: %d delivered, want 3", name, acks)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("make %d streams: %v", n, err)
	}
}

// consumerRow is what of a Consumer both paths must agree on: everything
// but rates, times and trends.
type consumerRow struct {
	Stream, Name, Filter      string
	Pull                      bool
	Pending, StreamMessages   uint64
	AckPending, MaxAckPending int
	Redelivered, Waiting      int
	Paused                    bool
	Thresholds                feed.Thresholds
	Level                     feed.Level
	Why                       string
}

func rows(s feed.Snapshot) []consumerRow {
	out := make([]consumerRow, len(s.Consumers))
	for i, c := range s.Consumers {
		out[i] = consumerRow{c.Stream, c.Name, c.Filter, c.Pull, c.Pending, c.StreamMessages, c.AckPending, c.MaxAckPending,
			c.Redelivered, c.Waiting, c.Paused, c.Thresholds, c.Level, c.Why}
	}
	return out
}

// rowDiff says how the rows of the API path (a) and the system path (s)
// differ, the first few differences.
func rowDiff(a, s []consumerRow) string {
	if len(a) != len(s) {
		return fmt.Sprintf("%d rows by the api, %d by the system account", len(a), len(s))
	}
	var out []string
	for i := range a {
		if a[i] != s[i] && len(out) < 3 {
			out = append(out, fmt.Sprintf("api %+v, system %+v", a[i], s[i]))
		}
	}
	return strings.Join(out, "; ")
}

func streamNames(s feed.Snapshot) []string {
	out := make([]string, len(s.Streams))
	for i, st := range s.Streams {
		out[i] = st.Name
	}
	return out
}

// With system account credentials the feed reads the same streams and
// consumers from the servers' JetStream report as from the API, in about
// one request a refresh instead of one per stream.
func TestTheSystemAccountPathAndTheAPIPathShowTheSameConsumers(t *testing.T) {
	l := systemServer(t)
	appStreams(t, natstest.JetStream(t, natstest.Connect(t, l.app)), 40, 1)

	_, viaAPI := attach(t, natstest.Connect(t, l.app), feed.Options{APIBudget: -1})
	_, viaSys := attach(t, natstest.Connect(t, l.app), feed.Options{System: natstest.Connect(t, l.sys)})
	systemtest.WaitFor(t, systemtest.Quickly, "both paths to show the same 40 streams and 120 consumers", func() error {
		a, s := viaAPI(), viaSys()
		switch {
		case len(a.Streams) != 40 || len(a.Consumers) != 120:
			return fmt.Errorf("api path: %d streams, %d consumers", len(a.Streams), len(a.Consumers))
		case !slices.Equal(streamNames(a), streamNames(s)):
			return fmt.Errorf("streams: api %v, system %v", streamNames(a), streamNames(s))
		case !slices.Equal(rows(a), rows(s)):
			return fmt.Errorf("consumers differ: %s", rowDiff(rows(a), rows(s)))
		}
		return nil
	})
	a, s := viaAPI(), viaSys()
	if c := findConsumer(s, "A007", "a"); c == nil || c.Pending != 2 || c.AckPending != 1 || c.Level != feed.LevelWarn {
		t.Errorf("A007/a on the system path: %+v; want 2 pending, 1 ack pending, warn (unprocessed over 1)", c)
	}
	// A nak races the next fetch, so which b redelivered is chance; that
	// both paths agree on each is checked above.
	redelivered := 0
	for _, c := range s.Consumers {
		redelivered += c.Redelivered
	}
	if redelivered == 0 {
		t.Errorf("no consumer on the system path shows a redelivery; want most of the 40 b's")
	}
	if a.Gathering.Path != feed.PathAPI || s.Gathering.Path != feed.PathSystem {
		t.Errorf("paths: %q and %q, want %q and %q", a.Gathering.Path, s.Gathering.Path, feed.PathAPI, feed.PathSystem)
	}
	if len(s.Problems) != 0 {
		t.Errorf("system path problems: %+v", s.Problems)
	}

	// About one request a poll: polls are RefreshEvery (200ms) apart.
	first, start := viaSys().Gathering.Requests, time.Now()
	time.Sleep(2 * time.Second)
	made, polls := viaSys().Gathering.Requests-first, time.Since(start)/(200*time.Millisecond)
	if made == 0 || made > uint64(polls)+2 {
		t.Errorf("the system path made %d requests in %d polls; want about one a poll", made, polls)
	}
}

// A stream created while attached shows on the system path at its next
// refreshes, and a deleted one goes within a few.
func TestOnTheSystemPathAStreamCreatedOrDeletedShowsWithinSeconds(t *testing.T) {
	l := systemServer(t)
	js := natstest.JetStream(t, natstest.Connect(t, l.app))
	appStreams(t, js, 3, 1)
	_, snap := attach(t, natstest.Connect(t, l.app), feed.Options{System: natstest.Connect(t, l.sys)})
	systemtest.WaitFor(t, systemtest.Quickly, "the 3 streams", func() error {
		if s := snap(); len(s.Streams) != 3 || len(s.Consumers) != 9 {
			return fmt.Errorf("%d streams, %d consumers (%+v)", len(s.Streams), len(s.Consumers), s.Problems)
		}
		return nil
	})
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late"}}); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, 5*time.Second, "LATE to show", func() error {
		if names := streamNames(snap()); !slices.Contains(names, "LATE") {
			return fmt.Errorf("streams %v", names)
		}
		return nil
	})
	if err := js.DeleteStream(t.Context(), "A001"); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, 5*time.Second, "A001 and its consumers to go", func() error {
		s := snap()
		if names := streamNames(s); slices.Contains(names, "A001") || findConsumer(s, "A001", "a") != nil {
			return fmt.Errorf("streams %v", names)
		}
		return nil
	})
}

// A "system" connection outside the system account gets no answer: the
// feed says so in one line and shows nothing it did not read.
func TestASystemConnectionOutsideTheSystemAccountIsAProblemNotAPanic(t *testing.T) {
	l := systemServer(t)
	appStreams(t, natstest.JetStream(t, natstest.Connect(t, l.app)), 2, 1)
	_, snap := attach(t, natstest.Connect(t, l.app), feed.Options{System: natstest.Connect(t, l.app)})
	systemtest.WaitFor(t, systemtest.Quickly, "a streams problem", func() error {
		for _, p := range snap().Problems {
			if p.Source == feed.SourceStreams && strings.Contains(p.Error, "system account") {
				return nil
			}
		}
		return fmt.Errorf("problems %+v", snap().Problems)
	})
	if s := snap(); len(s.Streams) != 0 || !s.Polled.IsZero() || s.Gathering.Path != feed.PathSystem {
		t.Errorf("streams %v, polled %v, path %q; want none, never, %q", streamNames(s), s.Polled, s.Gathering.Path, feed.PathSystem)
	}
}

// Naming an account the servers do not know is a problem that says so.
func TestOnTheSystemPathAnUnknownAccountIsAProblem(t *testing.T) {
	l := systemServer(t)
	_, snap := attach(t, natstest.Connect(t, l.app), feed.Options{System: natstest.Connect(t, l.sys), Account: "NOPE"})
	systemtest.WaitFor(t, systemtest.Quickly, "an account problem", func() error {
		for _, p := range snap().Problems {
			if p.Source == feed.SourceStreams && strings.Contains(p.Error, `"NOPE"`) {
				return nil
			}
		}
		return fmt.Errorf("problems %+v", snap().Problems)
	})
}

// In a cluster of three with R3 streams, every server reports its replica
// of every stream, and the feed shows each once, with each consumer's
// numbers as its leader has them (a follower says 0 pending), so as the
// API shows them.
func TestOnTheSystemPathAClusterReportsEachStreamOnce(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var l logins
	for i, p := range ports {
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:-1\ncluster { name: C, listen: 127.0.0.1:%d, routes: [%s] }\n", i, p, strings.Join(routes, ", "))
		_, li := startAccountsServer(t, conf)
		if i == 0 {
			l = li
		}
	}
	js := natstest.JetStream(t, natstest.Connect(t, l.app))
	systemtest.WaitFor(t, systemtest.Quickly, "JetStream in the cluster", func() error {
		_, err := js.AccountInfo(t.Context())
		return err
	})
	appStreams(t, js, 6, 3)
	_, viaAPI := attach(t, natstest.Connect(t, l.app), feed.Options{APIBudget: -1})
	_, snap := attach(t, natstest.Connect(t, l.app), feed.Options{System: natstest.Connect(t, l.sys)})
	systemtest.WaitFor(t, systemtest.Quickly, "6 streams, 18 consumers, as the API shows them", func() error {
		s := snap()
		switch {
		case len(s.Streams) != 6 || len(s.Consumers) != 18 || len(s.Problems) != 0:
			return fmt.Errorf("%v, %d consumers, problems %+v", streamNames(s), len(s.Consumers), s.Problems)
		case !slices.Equal(rows(viaAPI()), rows(s)):
			return fmt.Errorf("consumers differ: %s", rowDiff(rows(viaAPI()), rows(s)))
		}
		return nil
	})
	for _, st := range snap().Streams {
		if st.Replicas != 3 {
			t.Errorf("%s: %d replicas, want 3", st.Name, st.Replicas)
		}
	}
}

// freePorts finds n free loopback ports (routes must be known up front).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
		defer func() { _ = ln.Close() }()
	}
	return out
}
