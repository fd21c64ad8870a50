// Package cli holds what every sagascope command shares on its command
// line: the one usage error that means "the command line was wrong" (exit
// 2, nothing was run), and flag parsing that reports a bad flag in one line
// instead of the whole flag list.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ErrUsage is matched (with errors.Is) by every error that means the
// command line was wrong. The error's text is the one line to print; it
// does not start with "usage".
var ErrUsage = errors.New("usage")

// usageError is a wrong command line: msg is the line to print; cause, if
// any, is the error it was made from.
type usageError struct {
	msg   string
	cause error
}

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }
func (e *usageError) Unwrap() error        { return e.cause }

// Usagef returns a usage error with the formatted line; a %w in format
// keeps that error in the chain.
func Usagef(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &usageError{msg: err.Error(), cause: errors.Unwrap(err)}
}

// Parse parses a command's flags; positional arguments are refused. A bad
// flag is one line naming the command's -h; -h prints the flag list to
// stderr and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return err
		}
		return Usagef("%v (see '%s -h')", err, CommandLine(fs))
	}
	if fs.NArg() > 0 {
		return Usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// CommandLine is how fs's command is typed: "sagascope" for the default
// command (a flag set named "sagascope"), else "sagascope NAME".
func CommandLine(fs *flag.FlagSet) string {
	if fs.Name() == "sagascope" {
		return "sagascope"
	}
	return "sagascope " + fs.Name()
}

// Split separates the arguments fs knows (own: its flags and their
// values, wherever they stand) from the rest (other: a subcommand's words
// and flags), so `sagascope fault set payment latency --latency 1s
// --server X` finds --server after the subcommand's own flags.
func Split(fs *flag.FlagSet, args []string) (own, other []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || name == "" {
			other = append(other, a)
			continue
		}
		key, _, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(key)
		if f == nil {
			other = append(other, a)
			continue
		}
		own = append(own, a)
		if hasValue || isBool(f) {
			continue
		}
		if i+1 >= len(args) {
			return own, other, Usagef("flag -%s needs a value", key)
		}
		i++
		own = append(own, args[i])
	}
	return own, other, nil
}

// isBool reports a flag that takes no value, as the flag package decides.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
