package command_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/internal/golden"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/demo/scenario/command"
)

// noLab is a LabStarter for a command that must start no system: calling
// it fails the test.
func noLab(t *testing.T) scenario.LabStarter {
	return func(context.Context, scenario.System) (scenario.Lab, error) {
		t.Error("the command started a system")
		return nil, errors.New("no system in this test")
	}
}

// `sagascope scenario list` names every shipped scenario and what it
// teaches.
func TestListShowsEveryShippedScenario(t *testing.T) {
	var b bytes.Buffer
	if err := command.Run(context.Background(), []string{"list"}, &b, noLab(t)); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "list.golden", b.String())
}

// A wrong command line is a usage error that says what to do, and runs
// nothing.
func TestRunCommandRefusesWrongCommandLines(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "give list or run"},
		{"an unknown command", []string{"play"}, `unknown command "play"`},
		{"run without a name", []string{"run"}, "name a scenario, or give --all or --file"},
		{"an unknown scenario", []string{"run", "meteor-strike"}, `no scenario "meteor-strike" (there are slow-database, `},
		{"a name and --all", []string{"run", "slow-database", "--all"}, "name one scenario"},
		{"two names", []string{"run", "slow-database", "gateway-down"}, "name one scenario"},
		{"an unknown flag", []string{"run", "--colour", "slow-database"}, "flag provided but not defined: -colour"},
		{"a scale of zero", []string{"run", "slow-database", "--scale", "0"}, "--scale 0 is not in"},
		{"both duration and scale", []string{"run", "--all", "--duration", "10m", "--scale", "2"}, "not both"},
		{"a file that does not exist", []string{"run", "--file", "/nonexistent/s.yaml"}, "no such file"},
		{"list with an argument", []string{"list", "extra"}, `unexpected argument "extra"`},
		{"next with an argument", []string{"next", "extra"}, `scenario next: unexpected argument "extra"`},
		{"reveal with an unknown flag", []string{"reveal", "--colour"}, "scenario reveal: flag provided but not defined: -colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := command.Run(context.Background(), tt.args, &out, noLab(t))
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want a usage error containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q; a refused command line runs nothing", out.String())
			}
		})
	}
}
