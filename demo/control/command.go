package control

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/contract"
)

// FaultUsage is the help text of `sagascope fault`.
const FaultUsage = `sagascope fault set <service> <kind> [--probability P] [--latency D] [--jitter D]
                    [--multiplier M] [--restart-after D] [--duration D] [--json]
sagascope fault clear <service> <kind>
sagascope fault list [--json]
sagascope fault reset
sagascope fault kinds
`

// RunFaultCommand implements `sagascope fault <set|clear|list|reset|kinds>`
// (args exclude "fault"), printing human-readable results to out, or JSON
// (a contract.FaultReply) for set and list with --json. Flags may come before
// or after the positional arguments. A wrong command line returns an error
// matching cli.ErrUsage; "help" prints FaultUsage.
func RunFaultCommand(ctx context.Context, c *Client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return cli.Usagef("sagascope fault <set|clear|list|reset|kinds>: say what to do")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "set":
		return runFaultSet(ctx, c, args, out)
	case "clear":
		return runFaultClear(ctx, c, args, out)
	case "list":
		return runFaultList(ctx, c, args, out)
	case "reset":
		if _, err := parseArgs(flag.NewFlagSet("fault reset", flag.ContinueOnError), args, 0); err != nil {
			return err
		}
		if err := c.Reset(ctx); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, "cleared every fault")
		return err
	case "kinds":
		if _, err := parseArgs(flag.NewFlagSet("fault kinds", flag.ContinueOnError), args, 0); err != nil {
			return err
		}
		return printKinds(out)
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(out, FaultUsage)
		return err
	}
	return cli.Usagef("unknown command fault %q: want set, clear, list, reset or kinds", cmd)
}

func runFaultSet(ctx context.Context, c *Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fault set", flag.ContinueOnError)
	probability := fs.Float64("probability", 0, "share of calls or messages affected, 0..1 (default 1)")
	latency := fs.Duration("latency", 0, "added latency")
	jitter := fs.Duration("jitter", 0, "random extra latency up to this")
	multiplier := fs.Float64("multiplier", 0, "load rate multiplier (default 10)")
	restart := fs.Duration("restart-after", 0, "how long a crashed service stays down (default 2s)")
	duration := fs.Duration("duration", 0, "revert by itself after this (default: until cleared)")
	asJSON := fs.Bool("json", false, "print the faults in force as JSON")
	pos, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	svc, kind, info, err := serviceKind("fault set", pos)
	if err != nil {
		return err
	}
	// A parameter the kind ignores is almost always a mistake worth
	// pointing out, not something to drop silently.
	uses := map[string]bool{
		"probability": info.Probability, "latency": info.Latency, "jitter": info.Latency,
		"multiplier": info.Multiplier, "restart-after": info.Restart,
		"duration": true, "json": true,
	}
	var unused []string
	fs.Visit(func(f *flag.Flag) {
		if !uses[f.Name] {
			unused = append(unused, "--"+f.Name)
		}
	})
	if len(unused) > 0 {
		return cli.Usagef("fault set: %s does not use %s (see sagascope fault kinds)", kind, strings.Join(unused, ", "))
	}
	f := contract.Fault{
		Service: svc, Kind: kind, Probability: *probability, Latency: *latency, Jitter: *jitter,
		Multiplier: *multiplier, RestartAfter: *restart, Duration: *duration,
	}
	check := f // the service fills defaults; send what the user typed
	if err := check.Validate(); err != nil {
		return cli.Usagef("fault set: %v", err)
	}
	faults, err := c.SetFault(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, faults)
	}
	what := fmt.Sprintf("set %s %s", svc, kind)
	if f.Duration > 0 {
		what += " for " + f.Duration.String()
	}
	if _, err := fmt.Fprintln(out, what); err != nil {
		return err
	}
	return printFaults(out, faults, time.Now())
}

func runFaultClear(ctx context.Context, c *Client, args []string, out io.Writer) error {
	pos, err := parseArgs(flag.NewFlagSet("fault clear", flag.ContinueOnError), args, 2)
	if err != nil {
		return err
	}
	svc, kind, _, err := serviceKind("fault clear", pos)
	if err != nil {
		return err
	}
	faults, err := c.ClearFault(ctx, svc, kind)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "cleared %s %s\n", svc, kind); err != nil {
		return err
	}
	return printFaults(out, faults, time.Now())
}

func runFaultList(ctx context.Context, c *Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fault list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the faults in force as JSON")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	faults, err := c.Faults(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, faults)
	}
	return printFaults(out, faults, time.Now())
}

// serviceKind reads the <service> <kind> positionals of set and clear.
func serviceKind(cmd string, pos []string) (contract.Service, contract.FaultKind, contract.FaultKindInfo, error) {
	if len(pos) != 2 {
		return "", "", contract.FaultKindInfo{}, cli.Usagef("%s needs <service> <kind>, e.g. sagascope %s payment dependency_down", cmd, cmd)
	}
	svc, kind := contract.Service(pos[0]), contract.FaultKind(pos[1])
	if !svc.Valid() {
		return "", "", contract.FaultKindInfo{}, cli.Usagef("%s: %v", cmd, &contract.UnknownServiceError{Name: pos[0]})
	}
	info, ok := contract.KindInfo(kind)
	if !ok {
		return "", "", contract.FaultKindInfo{}, cli.Usagef("%s: unknown fault kind %q (see sagascope fault kinds)", cmd, pos[1])
	}
	if info.Services != nil && !slices.Contains(info.Services, svc) {
		return "", "", contract.FaultKindInfo{}, cli.Usagef("%s: fault %s does not apply to %s, only to %s", cmd, kind, svc, joinServices(info.Services))
	}
	return svc, kind, info, nil
}

// parseArgs parses flags wherever they appear among args and returns the
// positional arguments, of which there must be at most max. Everything
// after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string, max int) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are returned, in one line, to main
	var pos, tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for len(args) > 0 {
		if a := args[0]; len(a) < 2 || a[0] != '-' {
			pos, args = append(pos, a), args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, cli.Usagef("%s takes %s", fs.Name(), flagNames(fs))
			}
			return nil, cli.Usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
	}
	pos = append(pos, tail...)
	if len(pos) > max {
		return nil, cli.Usagef("%s: unexpected argument %q", fs.Name(), pos[max])
	}
	return pos, nil
}

func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	if len(names) == 0 {
		return "no flags"
	}
	return strings.Join(names, " ")
}

// printFaults prints faults as a table, with the time each has left at now.
func printFaults(out io.Writer, faults []contract.Fault, now time.Time) error {
	if len(faults) == 0 {
		_, err := fmt.Fprintln(out, "no faults in force")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tKIND\tPARAMETERS\tREMAINING")
	for _, f := range faults {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Service, f.Kind, parameters(f), remaining(f, now))
	}
	return tw.Flush()
}

// parameters describes the parameters f's kind uses.
func parameters(f contract.Fault) string {
	info, _ := contract.KindInfo(f.Kind)
	var p []string
	if info.Probability {
		p = append(p, "probability="+strconv.FormatFloat(f.Probability, 'g', -1, 64))
	}
	if info.Latency {
		p = append(p, "latency="+f.Latency.String())
		if f.Jitter > 0 {
			p = append(p, "jitter="+f.Jitter.String())
		}
	}
	if info.Multiplier {
		p = append(p, "multiplier="+strconv.FormatFloat(f.Multiplier, 'g', -1, 64))
	}
	if info.Restart {
		p = append(p, "restart-after="+f.RestartAfter.String())
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, " ")
}

func remaining(f contract.Fault, now time.Time) string {
	if f.Expires.IsZero() {
		return "until cleared"
	}
	left := f.Expires.Sub(now).Round(time.Second)
	if left < time.Second {
		return "<1s"
	}
	return left.String()
}

func printJSON(out io.Writer, faults []contract.Fault) error {
	if faults == nil {
		faults = []contract.Fault{}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(contract.FaultReply{V: contract.Version, Faults: faults})
}

func printKinds(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSERVICES\tPARAMETERS\tSUMMARY")
	for _, k := range contract.FaultKinds {
		var p []string
		if k.Probability {
			p = append(p, "--probability")
		}
		if k.Latency {
			p = append(p, "--latency", "--jitter")
		}
		if k.Multiplier {
			p = append(p, "--multiplier")
		}
		if k.Restart {
			p = append(p, "--restart-after")
		}
		params := strings.Join(p, " ")
		if params == "" {
			params = "-"
		}
		services := "all"
		if k.Services != nil {
			services = joinServices(k.Services)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Kind, services, params, k.Summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, "Every kind also takes --duration D, after which it reverts by itself.")
	return err
}

func joinServices(ss []contract.Service) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// LoadUsage is the help text of `sagascope load`.
const LoadUsage = `sagascope load                  print the load setting
sagascope load --rate N         set the order rate (orders/s across all generators; 0 pauses)
sagascope load --burst N        place N orders at once on top of the rate
`

// RunLoadCommand implements `sagascope load [--rate N] [--burst N]` (args
// exclude "load"): without flags it prints the current setting, with them it
// changes it and prints the new one. A second line says what acts on the
// setting: the effective rate of the load generator that reports on the
// status feed within GeneratorWait, or NoGenerator. A wrong command line
// returns an error matching cli.ErrUsage.
func RunLoadCommand(ctx context.Context, c *Client, args []string, out io.Writer) error {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		_, err := io.WriteString(out, LoadUsage)
		return err
	}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	rate := fs.Float64("rate", 0, "orders per second across all generators; 0 pauses")
	burst := fs.Int("burst", 0, "orders to place at once")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	var req contract.LoadRequest
	visited := false
	fs.Visit(func(f *flag.Flag) {
		visited = true
		switch f.Name {
		case "rate":
			req.Rate = rate
		case "burst":
			req.Burst = *burst
		}
	})
	var (
		l   contract.LoadSetting
		err error
	)
	switch {
	case req.Rate != nil && (*req.Rate < 0 || *req.Rate > contract.MaxRate):
		return cli.Usagef("load: --rate %v is not in 0..%d", *req.Rate, contract.MaxRate)
	case req.Burst < 0 || req.Burst > contract.MaxBurst:
		return cli.Usagef("load: --burst %d is not in 1..%d", req.Burst, contract.MaxBurst)
	case req.Rate == nil && req.Burst == 0:
		if visited {
			return cli.Usagef("load: --burst 0 changes nothing; give --rate and/or a --burst above 0")
		}
		l, err = c.Load(ctx)
	default:
		l, err = c.SetLoad(ctx, req)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, describeLoad(l)); err != nil {
		return err
	}
	// A setting nothing acts on must say so, or `load --rate 100` on a
	// system whose orders run with --no-load reads as working.
	gen, err := c.LoadGenerator(ctx, l.Rate, GeneratorWait)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, describeGenerator(gen))
	return err
}

// describeLoad is a LoadSetting in one line.
func describeLoad(l contract.LoadSetting) string {
	parts := []string{"rate " + strconv.FormatFloat(l.Rate, 'g', -1, 64) + " orders/s"}
	if l.Rate == 0 {
		parts[0] += " (paused)"
	}
	if l.BurstID > 0 {
		parts = append(parts, fmt.Sprintf("last burst %d orders (#%d)", l.Burst, l.BurstID))
	}
	if l.Updated.IsZero() {
		parts = append(parts, "never set")
	} else {
		parts = append(parts, "set at "+l.Updated.Local().Format(time.DateTime))
	}
	return strings.Join(parts, ", ")
}
