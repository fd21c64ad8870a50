package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/sagascope/sagascope/demo/cli"
)

func TestAUsageErrorIsItsLineAndKeepsWhatItWraps(t *testing.T) {
	err := cli.Usagef("scenario run: %w", fs.ErrNotExist)
	if !errors.Is(err, cli.ErrUsage) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v: want it to match ErrUsage and fs.ErrNotExist", err)
	}
	if got, want := err.Error(), "scenario run: file does not exist"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if errors.Is(errors.New("usage"), cli.ErrUsage) {
		t.Fatal("an error that only reads like one matched ErrUsage")
	}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.String("server", "", "")
	fs.Bool("json", false, "")
	return fs
}

func TestParseReportsABadFlagInOneLineNamingHelp(t *testing.T) {
	tests := []struct {
		name, cmd string
		args      []string
		want      string
	}{
		{"an unknown flag", "status", []string{"--bogus"}, "flag provided but not defined: -bogus (see 'sagascope status -h')"},
		{"an unknown flag of the default command", "sagascope", []string{"--bogus"}, "(see 'sagascope -h')"},
		{"a positional argument", "status", []string{"extra"}, `status: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := cli.Parse(newFlags(tt.cmd), tt.args, &stderr)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v; want one usage line containing %q", err, tt.want)
			}
			if stderr.Len() > 0 {
				t.Fatalf("printed %q; a bad flag prints nothing but the returned line", stderr.String())
			}
		})
	}
}

func TestParseHelpPrintsTheFlagList(t *testing.T) {
	var stderr bytes.Buffer
	err := cli.Parse(newFlags("status"), []string{"-h"}, &stderr)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-server") {
		t.Fatalf("err = %v, printed %q; want ErrHelp and the flag list", err, stderr.String())
	}
}

func TestSplitTakesItsFlagsFromAnywhere(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		own, other []string
	}{
		{"after the subcommand's words", []string{"set", "payment", "latency", "--latency", "1s", "--server", "nats://x"},
			[]string{"--server", "nats://x"}, []string{"set", "payment", "latency", "--latency", "1s"}},
		{"with an equals sign", []string{"--server=nats://x", "list"}, []string{"--server=nats://x"}, []string{"list"}},
		{"a bool flag takes no value", []string{"--json", "list"}, []string{"--json"}, []string{"list"}},
		{"a lone dash is a word", []string{"-", "list"}, nil, []string{"-", "list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own, other, err := cli.Split(newFlags("fault"), tt.args)
			if err != nil || !slices.Equal(own, tt.own) || !slices.Equal(other, tt.other) {
				t.Fatalf("Split = %q, %q, %v; want %q, %q", own, other, err, tt.own, tt.other)
			}
		})
	}
	if _, _, err := cli.Split(newFlags("fault"), []string{"list", "--server"}); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("a flag without its value: err = %v, want a usage error", err)
	}
}
