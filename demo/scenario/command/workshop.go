package command

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/connect"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/scenario"
)

// workshopFlags are the run flags for a room: step mode and the debrief
// report.
type workshopFlags struct {
	step   bool
	file   string
	briefs []*scenario.Debrief
}

func (w *workshopFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&w.step, "step", false, "stop at each phase boundary until the instructor moves on ('sagascope scenario next', or n on the dashboard's Scenarios screen)")
	fs.StringVar(&w.file, "report", "", "write the debrief (expectations and their observed values, the timeline, the predictions) to this Markdown file")
}

// options adds step mode and, with --report, a debrief of each run to opt.
func (w *workshopFlags) options(opt scenario.Options) scenario.Options {
	opt.Step = w.step
	if w.file == "" {
		return opt
	}
	d := &scenario.Debrief{}
	w.briefs = append(w.briefs, d)
	print := opt.OnEvent
	opt.OnEvent = func(e scenario.Event) { print(e); d.Event(e) }
	return opt
}

// report writes the debriefs of the runs, one after the other.
func (w *workshopFlags) report(stdout io.Writer) {
	if w.file == "" || len(w.briefs) == 0 {
		return
	}
	var b bytes.Buffer
	for i, d := range w.briefs {
		if i > 0 {
			b.WriteString("\n")
		}
		if err := d.WriteMarkdown(&b); err != nil {
			fmt.Fprintf(stdout, "sagascope: %v\n", err)
		}
	}
	if err := os.WriteFile(w.file, b.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stdout, "sagascope: write the report: %v\n", err)
		return
	}
	fmt.Fprintf(stdout, "sagascope: debrief written to %s\n", w.file)
}

// runControl runs `scenario next` and `scenario reveal`: the instructor's
// requests to a run going on the system the flags reach.
func runControl(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scenario "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var conn connect.Options
	conn.Register(fs)
	run := fs.String("run", "", "the run's id (default: whichever run is waiting)")
	if err := fs.Parse(args); err != nil {
		return cli.Usagef("scenario %s: %v", cmd, err)
	}
	if fs.NArg() > 0 {
		return cli.Usagef("scenario %s: unexpected argument %q", cmd, fs.Arg(0))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := connect.Dial(cctx, conn, "sagascope scenario "+cmd)
	if err != nil {
		return err
	}
	defer nc.Close()
	c := control.NewClient(nc)
	if cmd == "next" {
		rep, err := c.ScenarioNext(cctx, *run)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sagascope: run %s moves on\n", rep.Run)
		return nil
	}
	rep, err := c.ScenarioReveal(cctx, *run)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sagascope: run %s revealed the answer of phase %d's question\n", rep.Run, rep.Phase+1)
	return nil
}
