// Package command is the `sagascope scenario` command: list the shipped
// scenarios, or run one, a file or all of them, on a fresh lab system or
// on an attached one, printing each phase, action and expectation.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/scenario"
)

// ErrFailed wraps the error Run returns when a scenario ran and an
// expectation or an action failed (exit 1); the details were printed.
var ErrFailed = errors.New("scenario failed")

// Usage is the help of `sagascope scenario`.
const Usage = `Usage:
  sagascope scenario list                 the shipped scenarios and what each teaches
  sagascope scenario run NAME [flags]     run one (or --all, or --file FILE)
  sagascope scenario next [--server ...]  move a run in --step mode on to its next phase
  sagascope scenario reveal [--server ...]   reveal the answer of the question open

Without --server the run starts its own NATS server (or cluster) and demo
services in a temporary directory, so it can also kill and restart them;
with --server it drives an existing demo through the control API only, and
steps that need to own the processes fail as not available there.

Run flags:
`

// Run runs `sagascope scenario ARGS...`: list, or run one scenario,
// a file, or all of them, printing each phase, action and expectation to
// stdout. It returns an error matching cli.ErrUsage for a wrong command line
// and one wrapping ErrFailed when a scenario did not pass.
//
// A run without --server runs on a fresh Lab that startLab starts.
func Run(ctx context.Context, args []string, stdout io.Writer, startLab scenario.LabStarter) error {
	if len(args) == 0 {
		return cli.Usagef("scenario: give list or run (see 'sagascope scenario help')")
	}
	switch args[0] {
	case "list":
		if len(args) > 1 {
			return cli.Usagef("scenario list: unexpected argument %q", args[1])
		}
		return list(stdout)
	case "run":
		return runCommand(ctx, args[1:], stdout, startLab)
	case "next", "reveal":
		return runControl(ctx, args[0], args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, Usage)
		runFlags(&runConfig{}).PrintDefaults()
		return nil
	}
	return cli.Usagef("scenario: unknown command %q (want list or run)", args[0])
}

func list(w io.Writer) error {
	all, err := scenario.Builtin()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTEACHES\tWHAT HAPPENS")
	for _, sc := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", sc.Name, sc.Teaches, sc.Title)
	}
	return tw.Flush()
}

// runConfig is what `scenario run` was asked.
type runConfig struct {
	file     string
	all      bool
	scale    float64
	duration time.Duration
	patience float64
	conn     connect.Options
	attach   bool
	startLab scenario.LabStarter
	workshop workshopFlags
}

func runFlags(c *runConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("scenario run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.file, "file", "", "run the scenario in this YAML file")
	fs.BoolVar(&c.all, "all", false, "run every shipped scenario, in order")
	fs.Float64Var(&c.scale, "scale", 1, "multiply every wait and hold: below 1 is quicker, above 1 a longer soak")
	fs.DurationVar(&c.duration, "duration", 0, "stretch the waits so the run lasts about this long (a soak, e.g. 10m)")
	fs.Float64Var(&c.patience, "patience", 1, "multiply every deadline, for a slow or busy machine")
	c.conn.Register(fs)
	c.workshop.register(fs)
	return fs
}

func runCommand(ctx context.Context, args []string, stdout io.Writer, startLab scenario.LabStarter) error {
	c := runConfig{startLab: startLab}
	fs := runFlags(&c)
	// The name may come before or after the flags.
	var names []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return cli.Usagef("scenario run: %v", err)
		}
		args = fs.Args()
		if len(args) > 0 {
			names = append(names, args[0])
			args = args[1:]
		}
	}
	fs.Visit(func(f *flag.Flag) { c.attach = c.attach || f.Name == "server" || f.Name == "context" })
	scenarios, err := c.pick(names)
	if err != nil {
		return err
	}
	switch {
	case c.scale <= 0 || c.scale > 1000:
		return cli.Usagef("--scale %v is not in (0, 1000]", c.scale)
	case c.patience < 1 || c.patience > 100:
		return cli.Usagef("--patience %v is not in 1..100", c.patience)
	case c.duration < 0:
		return cli.Usagef("--duration %v is negative", c.duration)
	case c.duration > 0 && c.scale != 1:
		return cli.Usagef("give --duration or --scale, not both")
	}
	if c.duration > 0 {
		c.scale = scaleFor(scenarios, c.duration)
		fmt.Fprintf(stdout, "sagascope: waits stretched x%.1f to last about %s\n", c.scale, c.duration)
	}
	defer c.workshop.report(stdout)
	failed := 0
	for _, sc := range scenarios {
		ok, err := c.runOne(ctx, sc, stdout)
		if err != nil {
			return err
		}
		if !ok {
			failed++
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintln(stdout)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d scenarios did not pass", ErrFailed, failed, len(scenarios))
	}
	fmt.Fprintf(stdout, "sagascope: %d of %d scenarios passed\n", len(scenarios), len(scenarios))
	return nil
}

// dial connects to the attached system as every command does.
func (c runConfig) dial(ctx context.Context, name string) (*nats.Conn, error) {
	return connect.Dial(ctx, c.conn, name)
}

// pick picks the scenarios the command line names.
func (c runConfig) pick(names []string) ([]*scenario.Scenario, error) {
	picked := 0
	for _, set := range []bool{len(names) > 0, c.all, c.file != ""} {
		if set {
			picked++
		}
	}
	switch {
	case picked == 0:
		return nil, cli.Usagef("scenario run: name a scenario, or give --all or --file (see 'sagascope scenario list')")
	case picked > 1 || len(names) > 1:
		return nil, cli.Usagef("scenario run: name one scenario, or give --all, or --file")
	case c.all:
		return scenario.Builtin()
	case c.file != "":
		sc, err := scenario.Load(c.file)
		if err != nil {
			return nil, cli.Usagef("%w", err)
		}
		return []*scenario.Scenario{sc}, nil
	}
	sc, err := scenario.Lookup(names[0])
	if err != nil {
		return nil, err
	}
	return []*scenario.Scenario{sc}, nil
}

// scaleFor is the scale that makes the scenarios' waits and holds add up
// to about d, never below 1.
func scaleFor(scenarios []*scenario.Scenario, d time.Duration) float64 {
	var nominal time.Duration
	for _, sc := range scenarios {
		for _, p := range sc.Phases {
			for _, s := range p.Steps {
				nominal += s.Wait
				if s.Expect != nil {
					nominal += s.Expect.During
				}
			}
		}
	}
	if nominal <= 0 {
		return 1
	}
	return max(1, float64(d)/float64(nominal))
}

// runOne runs sc on its own local system, or on the attached one, and
// prints it. It returns an error only when the run could not start. Its
// receiver is a pointer: with --report it adds the run's debrief to
// c.workshop, which a copy would lose.
func (c *runConfig) runOne(ctx context.Context, sc *scenario.Scenario, stdout io.Writer) (bool, error) {
	p := scenario.Printer{W: stdout}
	opt := c.workshop.options(scenario.Options{Scale: c.scale, Patience: c.patience, OnEvent: p.Event})
	if c.attach {
		res, err := scenario.Run(ctx, sc, scenario.Attached{Dial: c.dial}, opt)
		return res.Pass(), err
	}
	fmt.Fprintf(stdout, "sagascope: starting a fresh system for %s ...\n", sc.Name)
	lab, err := c.startLab(ctx, sc.System)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "sagascope: watch it with 'sagascope tui --server %s'\n", strings.Split(lab.URLs(), ",")[0])
	res, err := scenario.Run(ctx, sc, lab, opt)
	if cerr := lab.Close(); cerr != nil && err == nil {
		fmt.Fprintf(stdout, "   FAIL the system did not shut down cleanly: %v\n", cerr)
		return false, nil
	}
	return res.Pass(), err
}
