// Command sagascope runs a saga system on NATS JetStream and watches it.
//
// With no command it starts an embedded NATS server with JetStream, the demo
// services and the load generator. Other commands run the services against
// an existing server, drive the fault-injection control plane, and check the
// system's invariants. main only parses flags, builds the parts, runs them
// and turns errors into one line and an exit code.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/bench"
	"github.com/sagascope/sagascope/demo/check"
	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/scenario/command"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/logging"
	"github.com/sagascope/sagascope/tui"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/sanitize"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitAborted = 130
)

const usage = `sagascope: watch a saga system on NATS JetStream live

Usage:
  sagascope [flags]                 embedded NATS server + demo services + load, in the dashboard
  sagascope --cluster 3 [flags]     the same on three embedded servers clustered, R3 streams and buckets
  sagascope demo [flags]            run the demo services against an existing NATS server
  sagascope tui [flags]             open the dashboard on any NATS server or cluster
  sagascope status [--json] [--for D]  print one snapshot of what the dashboard shows
  sagascope fault <set|clear|list|reset|kinds> ...   inject and clear faults
  sagascope load [--rate N] [--burst N]               show or change the load
  sagascope check [flags]           verify the saga invariants (exit 1 on a violation)
  sagascope scenario <list|run NAME|run --all|run --file F> [--scale X|--duration D] [--server ...] [--record FILE]
                                    scripted fault stories, checked as they run
  sagascope bench [flags]           saga throughput and latency against a raw JetStream relay
  sagascope record [flags] FILE     write what the dashboard sees to FILE (--duration D, or until Ctrl-C);
                                    --record FILE on the default command and tui does it beside the dashboard
  sagascope replay FILE             the dashboard on a recording, no server: p plays/pauses, f speed, , . < > [ ] seek
  sagascope replay --info FILE      what a recording holds: header, length, notable events
  sagascope version

Run 'sagascope <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := interruptible(stderr)
	defer stop()
	var err error
	switch cmd {
	case "", "run":
		err = runEmbedded(ctx, args, stdout, stderr)
	case "demo":
		err = runDemo(ctx, args, stdout, stderr)
	case "fault", "load":
		err = runControl(ctx, cmd, args, stdout, stderr)
	case "check":
		err = runCheck(ctx, args, stdout, stderr)
	case "tui":
		err = runTUI(ctx, args, stdout, stderr)
	case "status":
		err = runStatus(ctx, args, stdout, stderr)
	case "scenario":
		err = runScenario(ctx, args, stdout)
	case "bench":
		err = runBench(ctx, args, stdout, stderr)
	case "record":
		err = runRecord(ctx, args, stdout, stderr)
	case "replay":
		err = runReplay(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sagascope", version)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		err = cli.Usagef("unknown command %q (see 'sagascope help')", cmd)
	}
	return exitCode(err, stderr)
}

// errViolated marks a check that found violations (already printed).
var errViolated = errors.New("invariants violated")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errViolated):
		return exitFailed
	case errors.Is(err, cli.ErrUsage):
		fmt.Fprintln(stderr, "sagascope:", err)
		return exitUsage
	}
	fmt.Fprintln(stderr, "sagascope:", err)
	return exitFailed
}

// requestTimeout bounds a command's requests once it is connected.
const requestTimeout = 10 * time.Second

// runScenario is the scenario command, with --record on run.
func runScenario(ctx context.Context, args []string, stdout io.Writer) error {
	args, start, done, err := scenarioRecording(args, startLab)
	if err != nil {
		return err
	}
	return errors.Join(command.Run(ctx, args, stdout, start), done())
}

// startLab starts the fresh system a scenario run owns, its services'
// logs discarded (the run prints what matters).
func startLab(ctx context.Context, sys scenario.System) (scenario.Lab, error) {
	lab, err := system.StartLab(ctx, system.LabOptions{System: sys, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err // not a nil *Lab in a non-nil interface
	}
	return lab, nil
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM
// (graceful shutdown); a second one exits at once.
func interruptible(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "sagascope: shutting down (finishing in-flight work; press Ctrl-C again to quit at once)")
		cancel()
		<-sigs
		os.Exit(exitAborted)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// demoFlags are the flags shared by the embedded default and `demo`.
type demoFlags struct {
	services   string
	instances  int
	workers    int
	replicas   int
	load       float64
	noLoad     bool
	logLevel   string
	logFormat  string
	traceRatio float64
	http       string
	recordTTL  time.Duration
}

func (d *demoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.services, "services", "", "services to run, comma-separated (default all: orders,payment,inventory,shipping)")
	fs.IntVar(&d.instances, "instances", 1, "instances of each service; they share durable consumers and split the work")
	fs.IntVar(&d.workers, "workers", 32, "workers per consumer in each instance (the bounded pool)")
	fs.IntVar(&d.replicas, "replicas", 1, "stream and bucket replicas (3 on a cluster)")
	fs.Float64Var(&d.load, "load", 20, "orders per second placed by the load generator (changeable at runtime with 'sagascope load')")
	fs.BoolVar(&d.noLoad, "no-load", false, "do not run the load generator in this process")
	fs.StringVar(&d.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	fs.StringVar(&d.logFormat, "log-format", "text", "log format: text or json")
	fs.Float64Var(&d.traceRatio, "trace-ratio", 1, "share of sagas traced, 0..1 (0 turns tracing off)")
	fs.StringVar(&d.http, "http", "", "serve Prometheus /metrics, /livez and /readyz on this address, e.g. :9464")
	fs.DurationVar(&d.recordTTL, "record-ttl", topology.DefaultRecordTTL, "how long a saga's records live after their last write, 0 for ever (ended sagas are counted in saga_checkpoint first)")
}

// config checks the flags and builds the system's configuration; logs go
// to logOut.
func (d *demoFlags) config(logOut io.Writer) (system.Config, error) {
	svcs, err := contract.ParseServices(d.services)
	if err != nil {
		return system.Config{}, cli.Usagef("--services: %v", err)
	}
	switch {
	case d.instances < 1 || d.instances > 64:
		return system.Config{}, cli.Usagef("--instances %d is not in 1..64", d.instances)
	case d.workers < 1 || d.workers > 4096:
		return system.Config{}, cli.Usagef("--workers %d is not in 1..4096", d.workers)
	case d.replicas != 1 && d.replicas != 3 && d.replicas != 5:
		return system.Config{}, cli.Usagef("--replicas %d: use 1, 3 or 5", d.replicas)
	case d.load < 0 || d.load > contract.MaxRate:
		return system.Config{}, cli.Usagef("--load %v is not in 0..%d", d.load, contract.MaxRate)
	case d.traceRatio < 0 || d.traceRatio > 1:
		return system.Config{}, cli.Usagef("--trace-ratio %v is not in 0..1", d.traceRatio)
	case d.recordTTL != 0 && d.recordTTL < topology.DuplicateWindow:
		return system.Config{}, cli.Usagef("--record-ttl %s: use 0 (for ever) or at least %s, the duplicate window, or a repeated message could be applied twice", d.recordTTL, topology.DuplicateWindow)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(d.logLevel)); err != nil {
		return system.Config{}, cli.Usagef("--log-level %q: want debug, info, warn or error", d.logLevel)
	}
	format, err := logging.ParseFormat(d.logFormat)
	if err != nil {
		return system.Config{}, cli.Usagef("--log-format: %v", err)
	}
	log, err := logging.New(logOut, logging.Options{Format: format, Level: level})
	if err != nil {
		return system.Config{}, fmt.Errorf("logging: %w", err)
	}
	cfg := system.Config{
		Services: svcs, Instances: d.instances, Workers: d.workers, Version: version, Log: log,
	}
	cfg.Topology.Replicas = d.replicas
	cfg.Topology.RecordTTL = d.recordTTL
	if d.recordTTL == 0 {
		cfg.Topology.RecordTTL = -1 // for ever
	}
	if !d.noLoad {
		cfg.Load = &loadgen.Config{Rate: d.load, Log: cfg.Log}
	}
	system.DefaultDependencies(&cfg)
	return cfg, nil
}

// telemetry is the telemetry configuration the flags ask for.
func (d *demoFlags) telemetry(log *slog.Logger) telemetry.Config {
	return telemetry.Config{TraceRatio: d.traceRatio, HTTP: d.http, Log: log}
}

func runEmbedded(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sagascope", flag.ContinueOnError)
	var d demoFlags
	d.register(fs)
	dataDir := fs.String("data", "", "JetStream data directory (default: a per-user cache directory)")
	fresh := fs.Bool("fresh", false, "wipe the data directory first")
	port := fs.Int("port", 0, "client port (default 4222, or a free port when 4222 is taken)")
	var share embedded.Share
	share.Register(fs)
	name := nameFlag(fs)
	noTUI := fs.Bool("no-tui", false, "print one status line a second instead of opening the dashboard (the default when stdout is not a terminal)")
	history := historyFlag(fs)
	recordTo := recordFlag(fs)
	nodes := fs.Int("cluster", 0, "run 3 (or 5) embedded servers as one JetStream cluster in this process, with R3 streams and buckets: the Servers screen (0) and the node-loss scenario work on it")
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := recordTo.check(); err != nil {
		return err
	}
	keep, err := history()
	if err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return cli.Usagef("--port %d is not a port", *port)
	}
	if *nodes != 0 {
		if err := clusterFlags(fs, *nodes, &d); err != nil {
			return err
		}
	}
	withTUI := !*noTUI && isTerminal(stdout)
	if recordTo.path != "" && !withTUI {
		return cli.Usagef("--record writes what the dashboard sees: without it, run 'sagascope record --server URL FILE' beside")
	}
	// Check the flags before starting anything; the real logger comes once
	// the data directory (where the dashboard's log file lives) is known.
	if _, err := d.config(io.Discard); err != nil {
		return err
	}
	if *nodes != 0 {
		return runCluster(ctx, clusterRun{nodes: *nodes, dir: *dataDir, fresh: *fresh, withTUI: withTUI, d: d}, stdout, stderr)
	}
	srvOpts := embedded.Options{Port: *port, DataDir: *dataDir, Fresh: *fresh}
	if err := share.Apply(&srvOpts); err != nil {
		return cli.Usagef("%v", err)
	}
	srv, err := embedded.Start(srvOpts)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	// Who may attach, with generated passwords: printed once, before the
	// dashboard takes the screen (it is on the terminal's scrollback).
	srv.PrintAccess(stdout)
	logOut, closeLog, err := logTo(withTUI, srv.DataDir(), stdout, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	cfg, err := d.config(logOut)
	if err != nil {
		return err
	}
	if !withTUI {
		fmt.Fprintf(stdout, "sagascope: embedded NATS server with JetStream on %s (data in %s)\n", srv.ClientURL(), srv.DataDir())
		login := ""
		if roles, ok := srv.Roles(); ok {
			login = " " + embedded.LoginFlags(roles.Operator)
		}
		fmt.Fprintf(stdout, "sagascope: try 'sagascope fault set payment dependency_down --server %s%s' in another terminal\n", srv.ClientURL(), login)
	}
	run := runner{cfg: cfg, tel: d.telemetry(cfg.Log), conn: connect.Options{Servers: srv.ClientURL()}, extra: srv.ClientOptions(), stdout: stdout, server: srv}
	run.system, _ = srv.SystemClientOptions()
	if withTUI {
		run.dashboard = &tui.Options{Title: "embedded demo on " + srv.ClientURL(), History: keep, Name: *name}
	}
	rec, stopRecording, err := recordTo.start(srv.ClientURL(), "embedded demo")
	if err != nil {
		return err
	}
	if rec != nil {
		run.dashboard.Record = rec
	}
	return errors.Join(run.run(ctx), stopRecording())
}

// logTo is where the demo's logs go: stderr, or with the dashboard, which
// owns the terminal, a file in dir (warnings also reach the dashboard over
// NATS). close closes the file and says where it is.
func logTo(withTUI bool, dir string, stdout, stderr io.Writer) (w io.Writer, close func(), err error) {
	if !withTUI {
		return stderr, func() {}, nil
	}
	path := filepath.Join(dir, "sagascope.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w", err)
	}
	return f, func() {
		_ = f.Close()
		fmt.Fprintf(stdout, "sagascope: logs are in %s\n", path)
	}, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var d demoFlags
	d.register(fs)
	var opts connect.Options
	opts.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := d.config(stderr)
	if err != nil {
		return err
	}
	run := runner{cfg: cfg, tel: d.telemetry(cfg.Log), conn: opts, stdout: stdout}
	return run.run(ctx)
}

// runner runs the demo services until ctx ends (or the dashboard quits),
// watched by the dashboard or by a status line a second.
type runner struct {
	cfg  system.Config
	tel  telemetry.Config
	conn connect.Options
	// extra are connection options of the process's own clients, such as
	// the embedded server's internal login.
	extra []nats.Option
	// system, when set, are the options of a login to the embedded
	// server's system account, through which the dashboard reads the
	// servers' CPU and memory.
	system []nats.Option
	stdout io.Writer
	// dashboard, when set, opens the dashboard on the terminal; quitting
	// it stops the services.
	dashboard *tui.Options
	// server or cluster is the embedded server (or cluster) the services
	// use, when this process runs it: the dashboard's scenarios may
	// restart it, or stop and start its nodes.
	server  *embedded.Server
	cluster *embedded.Cluster
}

func (r runner) run(ctx context.Context) error {
	cfg := r.cfg
	cfg.Connect = func(ctx context.Context, name string) (*nats.Conn, error) {
		return connect.Connect(ctx, r.conn, name, r.extra...)
	}
	// Fail fast with one clear line when the server is unreachable.
	nc, err := connect.Dial(ctx, r.conn, "sagascope status", r.extra...)
	if err != nil {
		return err
	}
	defer nc.Close()
	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()
	sys, err := system.Start(svcCtx, system.Options{Services: cfg, Telemetry: &r.tel, Server: r.server, Cluster: r.cluster})
	if err != nil {
		if ctx.Err() != nil { // interrupted while waiting for JetStream
			fmt.Fprintln(r.stdout, "sagascope: stopped cleanly before JetStream was ready")
			return nil
		}
		return err
	}
	if addr := sys.Telemetry().Addr(); addr != "" && r.dashboard == nil {
		fmt.Fprintf(r.stdout, "sagascope: metrics on http://%s%s, probes /livez and /readyz\n", addr, telemetry.MetricsPath)
	}

	var watchErr error
	if r.dashboard != nil {
		dash := *r.dashboard
		// The dashboard's scenarios may stop and start the services, and
		// restart the server when this process runs it.
		dash.Scenarios = sys
		if r.system != nil {
			// Without it the Servers screen still shows what stream
			// cluster info says; so a failure here is not the run's.
			if sysNC, err := connect.Connect(ctx, r.conn, "sagascope dashboard (system account)", r.system...); err == nil {
				defer sysNC.Close()
				dash.System = sysNC
			}
		}
		watchErr = tui.Run(svcCtx, nc, dash)
	} else {
		watchErr = system.StatusLine(svcCtx, nc, r.stdout, time.Second)
	}
	if errors.Is(watchErr, context.Canceled) {
		watchErr = nil
	}
	err = errors.Join(sys.Close(), watchErr) // the dashboard quit, or ctx ended
	if err == nil {
		fmt.Fprintln(r.stdout, "sagascope: stopped cleanly")
	}
	return err
}

// isTerminal reports whether w is a terminal (not a pipe, a file or
// /dev/null, which is a character device too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

func runTUI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	var opts connect.Options
	opts.Register(fs)
	var sys connect.System
	sys.Register(fs)
	readOnly := fs.Bool("read-only", false, "watch only: send no fault or load requests")
	refresh := fs.Duration("refresh", time.Second, "how often streams and consumers are polled")
	name := nameFlag(fs)
	history := historyFlag(fs)
	recordTo := recordFlag(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := recordTo.check(); err != nil {
		return err
	}
	keep, err := history()
	if err != nil {
		return err
	}
	if *refresh < 100*time.Millisecond {
		return cli.Usagef("--refresh %v is below 100ms", *refresh)
	}
	if !isTerminal(stdout) {
		return cli.Usagef("tui: stdout is not a terminal (use 'sagascope status --json' for scripts)")
	}
	nc, sysNC, err := dialWatcher(ctx, opts, sys, "sagascope tui")
	if err != nil {
		return err
	}
	defer nc.Close()
	// Ask the server whether this login may change anything; when the
	// question cannot be answered, the control client still reports each
	// refused request.
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ro, err := control.ReadOnly(cctx, nc)
	dash := tui.Options{Title: nc.ConnectedUrlRedacted(), RefreshEvery: *refresh, ReadOnly: *readOnly || (err == nil && ro), System: sysNC, Name: *name, History: keep}
	if !dash.ReadOnly {
		// Scenarios drive an attached system through the control API only;
		// the ones that stop processes are marked as needing the embedded
		// demo.
		dash.Scenarios = scenario.Attached{Dial: func(ctx context.Context, name string) (*nats.Conn, error) {
			return connect.Dial(ctx, opts, name)
		}}
	}
	rec, stopRecording, err := recordTo.start(nc.ConnectedUrlRedacted(), "")
	if err != nil {
		return err
	}
	dash.Record = rec
	return errors.Join(tui.Run(ctx, nc, dash), stopRecording())
}

// historyFlag registers --history on fs; the function it returns, called
// after parsing, checks it and gives tui.Options.History (negative for
// none).
func historyFlag(fs *flag.FlagSet) func() (time.Duration, error) {
	d := fs.Duration("history", 15*time.Minute, "how far back the dashboard can rewind (p pauses, ',' and '.' step); 0 keeps no history")
	return func() (time.Duration, error) {
		switch {
		case *d < 0:
			return 0, cli.Usagef("--history %v is negative", *d)
		case *d == 0:
			return -1, nil
		}
		return *d, nil
	}
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var opts connect.Options
	opts.Register(fs)
	var sys connect.System
	sys.Register(fs)
	asJSON := fs.Bool("json", false, "print the snapshot as JSON")
	watch := fs.Duration("for", 0, "watch this long before printing, so the diagnoses whose condition must hold for a window (10s for a consumer's, 30s for API errors) can be found")
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	if *watch < 0 {
		return cli.Usagef("status: --for %s: the time to watch cannot be negative", *watch)
	}
	nc, sysNC, err := dialWatcher(ctx, opts, sys, "sagascope status")
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, *watch+requestTimeout)
	defer cancel()
	snap, err := tui.Snapshot(cctx, nc, sysNC, *watch)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(snap)
	}
	printStatus(stdout, snap)
	return nil
}

// dialWatcher connects as a command that watches does, and, when a
// system-account login is given, a second connection with it, closed with
// the first (nil otherwise): the dashboard then reads streams and consumers
// from the servers' monitoring instead of the JetStream API.
func dialWatcher(ctx context.Context, opts connect.Options, sys connect.System, name string) (nc, sysNC *nats.Conn, err error) {
	nc, err = connect.Dial(ctx, opts, name)
	if err != nil || !sys.Set() {
		return nc, nil, err
	}
	sysNC, err = connect.Dial(ctx, sys.Options(opts), name+" (system account)")
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("system account: %w", err)
	}
	nc.SetClosedHandler(func(*nats.Conn) { sysNC.Close() })
	return nc, sysNC, nil
}

// printStatus prints the snapshot's headline figures for a person, then
// the diagnoses, worst first.
func printStatus(w io.Writer, s feed.Snapshot) {
	fmt.Fprintf(w, "streams %d, consumers %d (read %s)\n", len(s.Streams), len(s.Consumers), gatheredBy(s.Gathering))
	if len(s.Servers) > 0 {
		fmt.Fprintln(w, "servers:", serversLine(s.Servers))
	}
	if s.Reporting {
		t := s.Sagas
		fmt.Fprintf(w, "sagas: %d placed, %d completed, %d cancelled, %d parked, %d in flight\n",
			t.Placed, t.Completed, t.Cancelled, t.Parked, t.InFlight)
		for _, svc := range s.Services {
			fmt.Fprintf(w, "%-10s %d instance(s), %d/%d workers busy, %d queued\n",
				svc.Name, len(svc.Instances), svc.Pool.Busy, svc.Pool.Capacity, svc.Pool.Queued)
		}
		for _, f := range s.Faults {
			fmt.Fprintf(w, "fault: %s %s\n", f.Service, f.Kind)
		}
	} else {
		fmt.Fprintln(w, "no sagascope services report on this server")
	}
	if len(s.Diagnoses) == 0 {
		fmt.Fprintln(w, "diagnoses: none (a rule reports a condition held for its window: watch longer with --for 15s)")
		return
	}
	fmt.Fprintf(w, "diagnoses: %d\n", len(s.Diagnoses))
	for _, d := range s.Diagnoses {
		// Names and reasons are the server's and the clients' text.
		fmt.Fprintf(w, "%s %s: %s\n    %s (for %s; screen %s)\n", d.Severity, d.Rule, sanitize.Line(d.Finding, 0),
			sanitize.Line(d.Evidence, 0), s.Time.Sub(d.Since).Round(time.Second), d.Screen)
	}
}

// serversLine names the servers, each offline one and the meta leader
// marked; the names are the servers' own text, drawn clean.
func serversLine(servers []feed.Server) string {
	parts := make([]string, len(servers))
	for i, sv := range servers {
		parts[i] = sanitize.Line(sv.Name, 64)
		switch {
		case sv.Offline:
			parts[i] += " OFFLINE"
		case sv.MetaLeader:
			parts[i] += " (meta leader)"
		}
	}
	return strings.Join(parts, ", ")
}

// gatheredBy says how the streams and consumers were read, and what of
// them is not there yet.
func gatheredBy(g feed.Gathering) string {
	by := "through the system account's monitoring"
	if g.Path == feed.PathAPI {
		by = fmt.Sprintf("through the JetStream API, %d requests", g.Requests)
	}
	if g.Unlisted > 0 {
		by += fmt.Sprintf("; the consumers of %d streams are not listed yet", g.Unlisted)
	}
	return by
}

func runControl(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	// Connection flags may appear anywhere; the rest goes to the command.
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var opts connect.Options
	opts.Register(fs)
	own, other, err := cli.Split(fs, args)
	if err != nil {
		return err
	}
	if err := cli.Parse(fs, own, stderr); err != nil {
		return err
	}
	// The client reports permission violations itself, as one clear line.
	nc, err := connect.Dial(ctx, opts, "sagascope "+cmd)
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c := control.NewClient(nc)
	if cmd == "fault" {
		return control.RunFaultCommand(cctx, c, other, stdout)
	}
	return control.RunLoadCommand(cctx, c, other, stdout)
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o bench.Options
	o.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Dashboard = watchDashboard
	_, err := bench.Run(ctx, o, stdout)
	return err
}

// watchDashboard is the dashboard's data side for the bench: its feed with
// the default options, every snapshot a frame.
func watchDashboard(ctx context.Context, nc *nats.Conn, frame func(completedRate float64)) error {
	f, err := feed.New(nc, feed.Options{})
	if err != nil {
		return fmt.Errorf("dashboard feed: %w", err)
	}
	return f.Run(ctx, func(s feed.Snapshot) { frame(s.Sagas.CompletedRate) })
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var opts connect.Options
	opts.Register(fs)
	grace := fs.Duration("grace", check.DefaultGrace, "how long past its deadline an in-flight saga may be before it counts as stuck")
	settle := fs.Duration("settle", check.DefaultSettle, "how long to re-check conservation while sagas are in flight")
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	nc, err := connect.Dial(ctx, opts, "sagascope check")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	report, err := check.Run(ctx, js, check.Options{Grace: *grace, Settle: *settle})
	if err != nil {
		return err
	}
	report.Print(stdout)
	if !report.OK() {
		return errViolated
	}
	return nil
}

// nameFlag registers --name, shared by the dashboards' commands: who
// answers a scenario's questions, the OS user's name by default.
func nameFlag(fs *flag.FlagSet) *string {
	return fs.String("name", attendeeName(), "who your answers to a scenario's questions come from")
}

// attendeeName is the OS user's name, the default of --name.
func attendeeName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
