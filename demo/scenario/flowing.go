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
	// Stream is the stream whose leader was watched (the one the node led,
	// or the orders stream); LeaderAfter is the time until it had a leader
	// other than Node, 0 with Elected false when it had none in time. The
	// difference to FlowingAfter is the services' part of the stall; the
	// election is the servers' (raft's election timeout is 4 to 9 s).
	Stream      string
	LeaderAfter time.Duration
	Elected     bool
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
// with base outcomes stored before; stream is the stream whose new leader
// it times.
func (o *observer) watchFlow(ctx context.Context, node, stream string, stopped time.Time, base uint64) *flowWatch {
	ctx, cancel := context.WithTimeout(ctx, flowWithin)
	w := &flowWatch{cancel: cancel, done: make(chan struct{}), loss: NodeLoss{Node: node, Stream: stream}}
	go func() {
		defer close(w.done)
		for wait.For(ctx, flowPoll) == nil {
			// A read fails while the stream has no leader: that is the
			// stall being measured, not an error.
			if w.poll(ctx, o, stopped, base) {
				return
			}
		}
	}()
	return w
}

// poll reads the outcomes and the leader once and reports whether both
// have been seen.
func (w *flowWatch) poll(ctx context.Context, o *observer, stopped time.Time, base uint64) bool {
	w.mu.Lock()
	loss := w.loss
	w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if !loss.Flowing {
		if n, err := o.outcomes(rctx); err == nil && n > base {
			loss.FlowingAfter, loss.Flowing = time.Since(stopped), true
		}
	}
	if !loss.Elected {
		if r, err := o.readLeader(rctx, loss.Stream); err == nil && r.text != "no leader" && r.text != loss.Node {
			loss.LeaderAfter, loss.Elected = time.Since(stopped), true
		}
	}
	w.mu.Lock()
	w.loss = loss
	w.mu.Unlock()
	return loss.Flowing && loss.Elected
}

// finish ends the watch and returns what it measured.
func (w *flowWatch) finish() NodeLoss {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.loss
}
