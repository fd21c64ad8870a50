package tui

import (
	"strings"
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// The golden views have every service up; these rows are the others.
func TestTheServicesTableShowsServicesThatAreDownOrCrashed(t *testing.T) {
	snap := fixtureSnapshot()
	snap.Services[0].Instances = nil // orders: not reporting, its commands waiting
	snap.Services[1].Instances, snap.Services[1].Command = nil, nil
	snap.Services[2].Instances = append(snap.Services[2].Instances, feed.Instance{ID: "f6a7b8c9", State: contract.StateCrashed})
	tests := []struct {
		name  string
		width int
		row   string
	}{
		{"a service not reporting says how many of its commands wait", 80, "orders       0 not reporting · 0 commands waiting\n"},
		{"a service not reporting without a command consumer says only that", 80, "payment      0 not reporting\n"},
		{"a crashed instance is counted out of the instances up", 80, "inventory   1✗     20     11 ████████ 32/32  1,234 —\n"},
		{"a wide terminal states a crash in words", 160, "inventory   1✗     20     11 ████████████████ 32/32  1,234       64/64      0     0.4      0 crashed            —\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, tt.width, 48, snap, nil)
			if v := a.View(); !strings.Contains(v, tt.row) {
				t.Errorf("the overview has no row %q:\n%s", tt.row, v)
			}
		})
	}
}
