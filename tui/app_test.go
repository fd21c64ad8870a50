package tui

import (
	"slices"
	"strings"
	"testing"
)

// The Sagas screen asks for a saga's trace by message; the app hands it to
// the screen that shows traces.
func TestSagasOpenTheTrace(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want openTraceMsg
	}{
		{"t opens the trace of the selected saga", []string{"5", "t"}, openTraceMsg{SagaID: "ord-012400"}},
		{"t follows the cursor", []string{"5", "down", "down", "t"}, openTraceMsg{SagaID: "ord-012398"}},
		{"enter on an open saga opens its trace", []string{"5", "down", "enter", "enter"}, openTraceMsg{SagaID: "ord-012399"}},
		{"t in the inspector opens the inspected saga's trace", []string{"5", "down", "enter", "t"}, openTraceMsg{SagaID: "ord-012399"}},
		{"a filter narrows what t opens", []string{"5", "/", "r", "e", "f", "u", "n", "d", "enter", "t"}, openTraceMsg{SagaID: "ord-012393"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, 80, 24, fixtureSnapshot(), &fakeControl{})
			cmds := press(a, tt.keys...)
			last := cmds[len(cmds)-1]
			if last == nil {
				t.Fatal("the last key asked for nothing")
			}
			if got, ok := last().(openTraceMsg); !ok || got != tt.want {
				t.Errorf("the last key asked for %#v, want %#v", last(), tt.want)
			}
		})
	}
}

func TestOpeningATraceWithoutATraceScreenSaysSo(t *testing.T) {
	a := testApp(t, 80, 24, fixtureSnapshot(), &fakeControl{})
	// A build without the Traces screen.
	a.screens = slices.DeleteFunc(a.screens, func(s screen) bool { _, ok := s.(traceViewer); return ok })
	sagas := slices.IndexFunc(a.screens, func(s screen) bool { return s.Title() == "Sagas" })
	a.switchTo(sagas)
	a.Update(openTraceMsg{SagaID: "ord-012400"})
	if v := a.View(); !strings.Contains(v, "this dashboard has no trace view: saga ord-012400") {
		t.Errorf("the status line should say there is no trace view:\n%s", v)
	}
	if a.active != sagas {
		t.Errorf("the Sagas screen should stay on view, screen %d is", a.active+1)
	}
}
