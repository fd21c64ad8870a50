package sagaspan

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Span names are "<operation> <subject>", as the messaging conventions ask.
// A process publishes and consumes on few subjects (the demo's commands,
// events and dead letters), so each name is built the first time its
// subject is seen and kept, instead of on every message.
var (
	processNames = &spanNames{op: "process"}
	publishNames = &spanNames{op: "publish"}
)

// maxSpanNames bounds each cache, so a caller using a subject per message
// costs a string per span instead of unbounded memory.
const maxSpanNames = 256

// spanNames caches the span names of one operation. Reads take no lock:
// the map is replaced, never changed, when a subject is added.
type spanNames struct {
	op    string
	names atomic.Pointer[map[string]string]
	mu    sync.Mutex // serializes adding
}

// of returns op+" "+subject.
func (n *spanNames) of(subject string) string {
	if m := n.names.Load(); m != nil {
		if name, ok := (*m)[subject]; ok {
			return name
		}
	}
	name := n.op + " " + subject
	n.mu.Lock()
	defer n.mu.Unlock()
	m := map[string]string{}
	if old := n.names.Load(); old != nil {
		if len(*old) >= maxSpanNames {
			return name
		}
		m = maps.Clone(*old)
	}
	m[subject] = name
	n.names.Store(&m)
	return name
}
