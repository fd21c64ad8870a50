package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/sagascope/sagascope/demo/contract"
)

// maxRunEvent bounds one run event the follower decodes: a start event
// carries its scenario, at most a scenario file's 256 KiB and some.
const maxRunEvent = 512 << 10

// FollowRuns sends the events of the newest scenario run on the system,
// each once and in order: first the ones stored since its start event
// (contract.ScenarioRunStream), so a dashboard that attaches during a run
// catches up, then the live ones, read from a subscription (an observer may
// subscribe to them) rather than by polling. A newer run's start replaces
// the run followed. It returns when ctx ends. send is called from this
// goroutine only.
func FollowRuns(ctx context.Context, nc *nats.Conn, send func(contract.RunEvent)) error {
	live := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(contract.ScenarioRunSubjects, live)
	if err != nil {
		return fmt.Errorf("follow scenario runs: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	f := runFollower{send: send}
	if js, err := jetstream.New(nc); err == nil {
		f.catchUp(ctx, js)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-live:
			f.take(m.Data)
		}
	}
}

// runFollower passes on the events of the newest run, dropping the ones
// it passed already (the stored ones come again live while it catches up).
type runFollower struct {
	send func(contract.RunEvent)
	run  string
	seq  uint64
}

func (f *runFollower) take(data []byte) {
	if len(data) > maxRunEvent {
		return
	}
	var e contract.RunEvent
	if json.Unmarshal(data, &e) != nil || e.V != contract.Version || e.Run == "" {
		return
	}
	switch {
	case e.Kind == contract.RunStarted && e.Run != f.run:
		f.run, f.seq = e.Run, e.Seq
	case e.Run == f.run && e.Seq > f.seq:
		f.seq = e.Seq
	default:
		return
	}
	f.send(e)
}

// catchUp passes on the stored events of the newest run. A system without
// the stream, or where it cannot be read, is followed live only.
func (f *runFollower) catchUp(ctx context.Context, js jetstream.JetStream) {
	s, err := js.Stream(ctx, contract.ScenarioRunStream)
	if err != nil {
		return
	}
	start, err := s.GetLastMsgForSubject(ctx, contract.ScenarioStartSubject)
	if err != nil {
		return
	}
	next := start.Sequence
	for {
		msgs, err := jetstreamext.GetBatch(ctx, js, contract.ScenarioRunStream, 256, jetstreamext.GetBatchSeq(next))
		if err != nil {
			return
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) || err != nil {
				break
			}
			n++
			next = m.Sequence + 1
			f.take(m.Data)
		}
		if n == 0 || ctx.Err() != nil {
			return
		}
	}
}

// FollowTallies sends the live tallies of the questions of every run on
// the system (contract.ScenarioTallySubject), for an instructor's
// dashboard: a run started headless (`sagascope scenario run --step`)
// counts its room's answers where no dashboard of its own shows them. Only
// a login that may read the control subjects may call it; an observer's
// subscription is refused by the server. The caller keeps the tallies of
// the run it follows and drops the others. It returns when ctx ends; send
// is called from this goroutine only.
func FollowTallies(ctx context.Context, nc *nats.Conn, send func(contract.RunEvent)) error {
	live := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(contract.ScenarioTallySubject, live)
	if err != nil {
		return fmt.Errorf("follow scenario tallies: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-live:
			if e, ok := decodeTally(m.Data); ok {
				send(e)
			}
		}
	}
}

// decodeTally is the tally event data carries, if it is one.
func decodeTally(data []byte) (contract.RunEvent, bool) {
	// A tally is a few counts: anything near a run event's bound is not.
	if len(data) > contract.MaxAnswerSize*8 {
		return contract.RunEvent{}, false
	}
	var e contract.RunEvent
	if json.Unmarshal(data, &e) != nil || e.V != contract.Version || e.Run == "" || e.Kind != contract.RunTally || e.Tally == nil {
		return contract.RunEvent{}, false
	}
	return e, true
}
