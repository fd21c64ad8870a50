package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/topology"
)

// tallyEvery is how often the live tally is sent while answers come.
const tallyEvery = 500 * time.Millisecond

// room is what a run shares with the people watching it: it publishes the
// run's events (contract.ScenarioRunStream), counts the answers to its
// questions, and takes the instructor's next and reveal requests. It owns
// its subscriptions and its tally goroutine; close ends them.
type room struct {
	r   *run
	nc  *nats.Conn
	ans *collector

	// next is signalled by a next request while the run waits.
	next chan struct{}

	subs []*nats.Subscription
	stop chan struct{}
	wg   sync.WaitGroup
}

// openRoom subscribes to answers and control requests and makes sure the
// run stream exists. A system where this login may not create it still
// gets the events live.
func openRoom(ctx context.Context, r *run, nc *nats.Conn, js jetstream.JetStream) (*room, error) {
	rm := &room{r: r, nc: nc, ans: newCollector(r.id, r.sc, time.Now), next: make(chan struct{}, 1), stop: make(chan struct{})}
	if _, err := js.Stream(ctx, contract.ScenarioRunStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, _ = js.CreateStream(ctx, topology.RunStream(1))
	}
	for _, s := range []struct {
		subject string
		handle  nats.MsgHandler
	}{
		{contract.ScenarioAnswerSubject, func(m *nats.Msg) { rm.ans.take(m.Data) }},
		{contract.ScenarioNextSubject, rm.onNext},
		{contract.ScenarioRevealSubject, rm.onReveal},
	} {
		sub, err := nc.Subscribe(s.subject, s.handle)
		if err != nil {
			rm.close()
			return nil, fmt.Errorf("follow %s: %w", s.subject, err)
		}
		_ = sub.SetPendingLimits(1024, 1<<20) // excess answers are dropped
		rm.subs = append(rm.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		rm.close()
		return nil, fmt.Errorf("follow the room's answers: %w", err)
	}
	rm.wg.Add(1)
	go rm.tallies()
	return rm, nil
}

// close ends the subscriptions and the tally goroutine and stops taking
// answers.
func (rm *room) close() {
	for _, s := range rm.subs {
		_ = s.Unsubscribe()
	}
	select {
	case <-rm.stop:
	default:
		close(rm.stop)
	}
	rm.wg.Wait()
	rm.ans.close()
}

// tallies sends the open question's count when it changed.
func (rm *room) tallies() {
	defer rm.wg.Done()
	t := time.NewTicker(tallyEvery)
	defer t.Stop()
	for {
		select {
		case <-rm.stop:
			return
		case <-t.C:
			if tally, ok := rm.ans.takeChanged(); ok {
				rm.r.emit(Event{Kind: TallyChanged, Phase: tally.Phase, Tally: &tally})
			}
		}
	}
}

// publish sends e, the seq-th event of the run: the live tally to the
// instructors only, everything else into the run stream. A core publish
// never blocks the story, and a server restart only loses the events sent
// while it is down.
func (rm *room) publish(e Event, seq uint64) {
	data, err := json.Marshal(e.Wire(seq))
	if err != nil {
		return
	}
	subject := contract.ScenarioEventSubject
	switch e.Kind {
	case ScenarioStarted:
		subject = contract.ScenarioStartSubject
	case TallyChanged:
		subject = contract.ScenarioTallySubject
	}
	_ = rm.nc.Publish(subject, data)
}

// drainNext forgets a next request not waited for.
func (rm *room) drainNext() {
	select {
	case <-rm.next:
	default:
	}
}

// awaitNext waits for a next request, or for ctx to end.
func (rm *room) awaitNext(ctx context.Context) error {
	select {
	case <-rm.next:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forMe decodes a control request and says whether it is for this run.
func (rm *room) forMe(m *nats.Msg) bool {
	var req contract.RunControlRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || len(m.Data) > contract.MaxAnswerSize {
		rm.reply(m, contract.RunControlReply{Error: "a run control request is JSON: {\"v\":1,\"run\":\"<id or empty>\"}"})
		return false
	}
	// A request for another run is that run's to answer.
	return req.Run == "" || req.Run == rm.r.id
}

func (rm *room) onNext(m *nats.Msg) {
	if !rm.forMe(m) {
		return
	}
	phase, waiting := rm.r.waitingAt()
	if !waiting {
		// Several runs may share a system: only the one waiting answers
		// a request that names none.
		return
	}
	select {
	case rm.next <- struct{}{}:
	default:
	}
	rm.reply(m, contract.RunControlReply{Run: rm.r.id, Phase: phase})
}

func (rm *room) onReveal(m *nats.Msg) {
	if !rm.forMe(m) {
		return
	}
	phase := rm.ans.openQuestion()
	if phase < 0 {
		rm.reply(m, contract.RunControlReply{Run: rm.r.id, Phase: -1, Error: "no question is open"})
		return
	}
	rm.ans.close()
	tally := rm.ans.tally(phase)
	rm.r.emit(Event{Kind: Revealed, Phase: phase, Tally: &tally})
	rm.reply(m, contract.RunControlReply{Run: rm.r.id, Phase: phase})
}

func (rm *room) reply(m *nats.Msg, rep contract.RunControlReply) {
	if m.Reply == "" {
		return
	}
	rep.V = contract.Version
	data, _ := json.Marshal(rep)
	_ = m.Respond(data)
}
