package scenario

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/sagascope/sagascope/demo/cli"
)

// The shipped scenarios, one file each, numbered in the order a newcomer
// should run them.
//
//go:embed scenarios/*.yaml
var builtinFiles embed.FS

// Builtin returns the shipped scenarios in order. They are parsed on every
// call, so callers may change what they get.
func Builtin() ([]*Scenario, error) {
	names, err := fs.Glob(builtinFiles, "scenarios/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list the shipped scenarios: %w", err)
	}
	slices.Sort(names)
	out := make([]*Scenario, 0, len(names))
	for _, name := range names {
		data, err := builtinFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read shipped scenario %s: %w", name, err)
		}
		sc, err := Parse(path.Base(name), data)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// BuiltinFile returns the text of a shipped scenario file, e.g.
// "01-slow-database.yaml", as a starting point for a user's own.
func BuiltinFile(name string) ([]byte, error) {
	data, err := builtinFiles.ReadFile(path.Join("scenarios", name))
	if err != nil {
		return nil, fmt.Errorf("shipped scenario file %s: %w", name, err)
	}
	return data, nil
}

// Lookup returns the shipped scenario called name.
func Lookup(name string) (*Scenario, error) {
	all, err := Builtin()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, sc := range all {
		if sc.Name == name {
			return sc, nil
		}
		names = append(names, sc.Name)
	}
	return nil, cli.Usagef("no scenario %q (there are %s; or load a file with --file)", name, strings.Join(names, ", "))
}

// Load parses a user's scenario file.
func Load(file string) (*Scenario, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("scenario file: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("scenario %s: %d bytes, more than the %d a scenario may have", file, st.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("scenario file: %w", err)
	}
	return Parse(file, data)
}
