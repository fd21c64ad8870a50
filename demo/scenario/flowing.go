package scenario

import (
	"context"
	"sync"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/wait"
)

// Bounds of a NodeLoss measurement.
const (
	// flowPoll is how often the orders stream's outcome count is read after
	// a node stops: the figure is exact to this much.
	flowPoll = 200 * time.Millisecond
	// flowWithin bounds the watch: sagas not flowing a minute after a node
	// loss is a failure the scenario's own expectations report.
	flowWithin = time.Minute
)

// NodeLoss is how long sagas stopped flowing after stop_node: from the
// stop to the first saga outcome the orders stream stored after it. The
// count is the stream's, the same the sagas_completed metric reads, so
// an outcome published but never stored (its leader died) does not count.
type NodeLoss struct {
	// Node is the server stopped.
	Node string
	// FlowingAfter is the time until an outcome was stored again; 0 with
	// Flowing false when none was within a minute or the run ended first.
	FlowingAfter time.Duration
	Flowing      bool
}

// flowWatch measures one NodeLoss from a goroutine it owns; finish ends
// the goroutine and waits for it.
type flowWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	loss   NodeLoss
}

// outcomes is how many saga outcomes the orders stream holds.
func (o *observer) outcomes(ctx context.Context) (uint64, error) {
	counts, err := o.subjectCounts(ctx, contract.StreamName(contract.Orders), contract.EventSubjects(contract.Orders))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// watchFlow starts measuring the node loss of node, stopped at stopped
// with base outcomes stored before.
func (o *observer) watchFlow(ctx context.Context, node string, stopped time.Time, base uint64) *flowWatch {
	ctx, cancel := context.WithTimeout(ctx, flowWithin)
	w := &flowWatch{cancel: cancel, done: make(chan struct{}), loss: NodeLoss{Node: node}}
	go func() {
		defer close(w.done)
		for wait.For(ctx, flowPoll) == nil {
			// A read fails while the stream has no leader: that is the
			// stall being measured, not an error.
			rctx, rcancel := context.WithTimeout(ctx, readTimeout)
			n, err := o.outcomes(rctx)
			rcancel()
			if err == nil && n > base {
				w.mu.Lock()
				w.loss.FlowingAfter, w.loss.Flowing = time.Since(stopped), true
				w.mu.Unlock()
				return
			}
		}
	}()
	return w
}

// finish ends the watch and returns what it measured.
func (w *flowWatch) finish() NodeLoss {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.loss
}
