package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sagascope/sagascope/demo/cli"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui"
	"github.com/sagascope/sagascope/tui/recording"
)

// scenarioRecording takes `--record FILE` out of a `scenario run` command
// line (the scenario command, a demo package, cannot link the dashboard's
// feeds) and, when it was there, wraps start so that every lab the run
// starts is recorded into FILE while it runs, one after another. done
// closes the file once the run is over.
func scenarioRecording(args []string, start scenario.LabStarter) (rest []string, wrapped scenario.LabStarter, done func() error, err error) {
	path, rest, err := takeRecordFlag(args)
	if err != nil || path == "" {
		return rest, start, func() error { return nil }, err
	}
	if len(rest) == 0 || rest[0] != "run" {
		return nil, nil, nil, cli.Usagef("scenario: --record goes with run")
	}
	for _, a := range rest {
		if name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-"); strings.HasPrefix(a, "-") && (name == "server" || name == "context") {
			return nil, nil, nil, cli.Usagef("scenario run --record records the lab a run starts; to record an attached system, run 'sagascope record --server URL FILE' beside it")
		}
	}
	w, err := recording.Create(path, recordingMeta("", "scenario "+strings.Join(rest[1:], " ")), recording.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	wrapped = func(ctx context.Context, sys scenario.System) (scenario.Lab, error) {
		lab, err := start(ctx, sys)
		if err != nil {
			return nil, err
		}
		nc, err := lab.Connect(ctx, "sagascope scenario recorder")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("record the lab: %w", err), lab.Close())
		}
		rctx, cancel := context.WithCancel(ctx)
		stopped := make(chan error, 1)
		go func() { stopped <- tui.Record(rctx, nc, w, tui.RecordOptions{}) }()
		return &recordedLab{Lab: lab, stop: func() error {
			cancel()
			err := <-stopped
			nc.Close()
			return err
		}}, nil
	}
	return rest, wrapped, w.Close, nil
}

// recordedLab is a lab whose recording stops, its last chunk written,
// before the lab closes.
type recordedLab struct {
	scenario.Lab
	stop func() error
}

// Close stops the recording, then the lab.
func (l *recordedLab) Close() error { return errors.Join(l.stop(), l.Lab.Close()) }

// takeRecordFlag removes --record FILE (or --record=FILE) from args.
func takeRecordFlag(args []string) (path string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--record" || a == "-record":
			if i+1 >= len(args) {
				return "", nil, cli.Usagef("flag -record needs a value")
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--record=") || strings.HasPrefix(a, "-record="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}
