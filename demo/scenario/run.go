package scenario

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/wait"
)

// Defaults of Options and the runner's own bounds.
const (
	DefaultPoll = 250 * time.Millisecond
	// progressEvery is how often a waiting expectation reports a reading.
	progressEvery = time.Second
	// readTimeout bounds one reading or one control request.
	readTimeout = 15 * time.Second
	// requestTimeout bounds a reading that is one JetStream API request. A
	// request sent as its connection's server dies is never answered; with
	// readTimeout the leader expectation after a node stop waited 15 s on
	// one lost request while the stream had a new leader after 200 ms.
	// Expectations read again at their next poll.
	requestTimeout = 2 * time.Second
	// readyWithin bounds how long the services may take to report running
	// at the start, after a restart, or after a start.
	readyWithin = 30 * time.Second
	// minWait keeps a scaled wait long enough for a status or two to
	// arrive: the instances publish twice a second.
	minWait = time.Second
)

// Options tune Run. The zero value runs a scenario as written.
type Options struct {
	// Scale multiplies waits and during spans (0 means 1): below 1 for a
	// quick test run, above 1 for a soak. A scaled wait is at least a
	// second.
	Scale float64
	// Patience multiplies within deadlines, the settle bound and the
	// runner's own waits (0 means 1): a loaded machine is slower to show
	// what a scenario expects, and patience lets it without removing the
	// deadline.
	Patience float64
	// Poll is how often an expectation samples its metric (0: DefaultPoll).
	Poll time.Duration
	// OnEvent, when set, receives every event in order, on the runner's
	// goroutine: it must return quickly (hand the event to a channel or a
	// tea.Program's Send).
	OnEvent func(Event)
	// Now is the clock of event times (nil: time.Now). Deadlines always use
	// the wall clock, since they wait for a real system.
	Now func() time.Time
	// Step stops the run at each phase boundary (before each phase's
	// steps, and before the final part) until the instructor moves on
	// with a contract.ScenarioNextSubject request. The wait counts against
	// no deadline: an expectation's deadline starts when its step does.
	Step bool
}

func (o Options) withDefaults() Options {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.Patience <= 0 {
		o.Patience = 1
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.OnEvent == nil {
		o.OnEvent = func(Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// scaled is a wait or a during span under Options.Scale.
func (o Options) scaled(d time.Duration) time.Duration {
	return max(minWait, time.Duration(float64(d)*o.Scale))
}

// patient is a deadline under Options.Patience.
func (o Options) patient(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.Patience)
}

// run is the state of one Run.
type run struct {
	sc     *Scenario
	target Target
	opt    Options
	ctl    *control.Client
	js     jetstream.JetStream
	obs    *observer
	result Result
	phase  int
	// loadBefore is the load setting found at the start, restored at the
	// end so a run against an attached system leaves its load as it was.
	loadBefore float64
	// loadScale multiplies every load and burst the run sets (see
	// loadScale).
	loadScale float64

	// flow measures the last stop_node's NodeLoss until finishFlow.
	flow *flowWatch

	// id names the run in its events; room publishes them and takes the
	// room's answers and the instructor's requests.
	id   string
	room *room
	// mu orders the events, which come from the runner's goroutine and
	// from the room's, and guards what follows.
	mu       sync.Mutex
	seq      uint64
	finished bool
	// waiting is set while the run waits at the boundary of phase
	// waitPhase for the instructor.
	waiting   bool
	waitPhase int
}

// Run runs sc against target and returns what it found. It returns an
// error only when it could not run at all (no connection to the target);
// failed expectations and actions are in the Result. Whatever happened, it
// clears the faults it may have left and restores the load it found. It
// emits events to opt.OnEvent, always ending with ScenarioFinished.
func Run(ctx context.Context, sc *Scenario, target Target, opt Options) (Result, error) {
	opt = opt.withDefaults()
	start := time.Now()
	r := &run{sc: sc, target: target, opt: opt, phase: -1, result: Result{Scenario: sc.Name}, loadScale: 1, id: nuid.Next()}
	nc, err := target.Connect(ctx, "sagascope scenario "+sc.Name)
	if err != nil {
		return Result{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	defer nc.Close()
	if r.js, err = jetstream.New(nc); err != nil {
		return Result{}, fmt.Errorf("scenario %s: jetstream: %w", sc.Name, err)
	}
	if r.obs, err = newObserver(nc, r.js); err != nil {
		return Result{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	defer r.obs.close()
	r.ctl = control.NewClient(nc)
	if r.room, err = openRoom(ctx, r, nc, r.js); err != nil {
		return Result{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	defer r.room.close()

	r.emit(Event{Kind: ScenarioStarted})
	r.result.Err = r.story(ctx)
	r.finishFlow()
	r.cleanUp(ctx)
	r.result.Duration = time.Since(start)
	r.room.close()
	r.result.Tallies = r.room.ans.tallies()
	r.emit(Event{Kind: ScenarioFinished, Result: &r.result})
	return r.result, nil
}

// finishFlow ends the watch of the last node loss, if one runs, and
// records what it measured.
func (r *run) finishFlow() {
	if r.flow != nil {
		r.result.NodeLosses = append(r.result.NodeLosses, r.flow.finish())
		r.flow = nil
	}
}

// emit hands e to Options.OnEvent and publishes it, one event at a time;
// nothing is emitted after ScenarioFinished.
func (r *run) emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	e.Time = r.opt.Now()
	e.Scenario, e.Run, e.StepMode = r.sc, r.id, r.opt.Step
	switch e.Kind {
	case FinalStarted, ScenarioFinished, ScenarioStarted:
		e.Phase = -1
	case Waiting, Revealed, TallyChanged:
		// the phase they are about
	default:
		e.Phase = r.phase
	}
	r.finished = e.Kind == ScenarioFinished
	r.seq++
	r.opt.OnEvent(e)
	r.room.publish(e, r.seq)
}

func (r *run) setPhase(i int) {
	r.mu.Lock()
	r.phase = i
	r.mu.Unlock()
}

func (r *run) setWaiting(w bool) {
	r.mu.Lock()
	r.waiting = w
	r.mu.Unlock()
}

// waitingAt is the phase boundary the run waits at, if it does.
func (r *run) waitingAt() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitPhase, r.waiting
}

// pause waits at the boundary before phase (-1: before the final part)
// in step mode.
func (r *run) pause(ctx context.Context, phase int) error {
	if !r.opt.Step {
		return nil
	}
	r.room.drainNext() // a next sent before the run waited does not count
	r.mu.Lock()
	r.waitPhase, r.waiting = phase, true
	r.mu.Unlock()
	defer r.setWaiting(false)
	r.emit(Event{Kind: Waiting, Phase: phase})
	return r.room.awaitNext(ctx)
}

// story runs the phases and the final part; it returns the error that
// stopped it early.
func (r *run) story(ctx context.Context) error {
	if err := r.prepare(ctx); err != nil {
		return err
	}
	for i, p := range r.sc.Phases {
		r.setPhase(i)
		if p.Question != nil {
			r.room.ans.ask(i)
		}
		r.emit(Event{Kind: PhaseStarted})
		if err := r.pause(ctx, i); err != nil {
			return err
		}
		for j, s := range p.Steps {
			if err := r.step(ctx, p.Name, j, s); err != nil {
				return err
			}
		}
	}
	r.setPhase(-1)
	if err := r.pause(ctx, -1); err != nil {
		return err
	}
	return r.final(ctx)
}

// prepare waits for every service to report running, clears the faults
// and remembers the load, so each run starts from the same place.
func (r *run) prepare(ctx context.Context) error {
	if err := r.waitRunning(ctx, time.Time{}, contract.Services); err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if err := r.ctl.Reset(c); err != nil {
		return fmt.Errorf("clear the faults before starting: %w", err)
	}
	load, err := r.ctl.Load(c)
	if err != nil {
		return fmt.Errorf("read the load before starting: %w", err)
	}
	r.loadBefore = load.Rate
	r.loadScale = loadScale(r.obs.status.Latest(""), r.sc.System.workers())
	return nil
}

// loadScale is how much larger the pools of the system a run found are
// than the ones its scenario's loads were written for (System.Workers a
// consumer, one instance a service): every load and burst the run sets is
// multiplied by it, so a load that saturates a 16-worker pool in the lab
// saturates the embedded demo's 32 workers too, and a story of a full pool
// holds on any system. It is the largest ratio over the services, 1 on a
// system tuned as the scenario says, and 1 when no status says.
func loadScale(statuses []contract.Status, designed int) float64 {
	capacity, consumers := map[contract.Service]int{}, map[contract.Service]int{}
	for _, st := range statuses {
		capacity[st.Service] += st.Pool.Capacity
		consumers[st.Service] = len(st.Consumers)
	}
	scale := 0.0
	for svc, c := range capacity {
		if n := consumers[svc]; n > 0 && designed > 0 {
			scale = max(scale, float64(c)/float64(n*designed))
		}
	}
	if scale == 0 {
		return 1
	}
	return scale
}

// waitRunning waits until an instance of each service reports running in
// a status stamped after since.
func (r *run) waitRunning(ctx context.Context, since time.Time, svcs []contract.Service) error {
	deadline := time.Now().Add(r.opt.patient(readyWithin))
	for {
		var missing []contract.Service
		for _, svc := range svcs {
			if !slices.ContainsFunc(r.obs.status.Latest(svc), func(s contract.Status) bool {
				return s.State == contract.StateRunning && s.Time.After(since)
			}) {
				missing = append(missing, svc)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no running instance of %v reported within %v: is the demo running on this server?", missing, r.opt.patient(readyWithin))
		}
		if err := wait.For(ctx, r.opt.Poll); err != nil {
			return err
		}
	}
}

// step runs one step; an error stops the story.
func (r *run) step(ctx context.Context, phase string, i int, s Step) error {
	what := s.String()
	if (s.Load != nil || s.Burst != 0) && r.loadScale != 1 {
		what += fmt.Sprintf(" (×%.3g for the pools of this system)", r.loadScale)
	}
	r.emit(Event{Kind: StepStarted, Step: i, What: what})
	if s.Expect != nil {
		c := r.expect(ctx, phase, i, *s.Expect)
		r.result.Checks = append(r.result.Checks, c)
		r.emit(Event{Kind: StepDone, Step: i, What: what, Check: &c})
		return ctx.Err()
	}
	err := r.act(ctx, s)
	r.emit(Event{Kind: StepDone, Step: i, What: what, Err: err})
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	return nil
}

// act applies an action: through the control API as a user would, or
// through the target's harness.
func (r *run) act(ctx context.Context, s Step) error {
	c, cancel := context.WithTimeout(ctx, r.opt.patient(readyWithin)+readTimeout)
	defer cancel()
	switch {
	case s.Note != "":
		return nil
	case s.Wait != 0:
		return wait.For(ctx, r.opt.scaled(s.Wait))
	case s.Load != nil:
		rate := *s.Load * r.loadScale
		_, err := r.ctl.SetLoad(c, contract.LoadRequest{Rate: &rate})
		return err
	case s.Burst != 0:
		_, err := r.ctl.SetLoad(c, contract.LoadRequest{Burst: int(math.Round(float64(s.Burst) * r.loadScale))})
		return err
	case s.Fault != nil:
		return r.setFault(c, s.Fault.Contract())
	case s.Clear != nil:
		_, err := r.ctl.ClearFault(c, s.Clear.Service, s.Clear.Kind)
		return err
	case s.StopService != "":
		return r.target.StopService(c, s.StopService)
	case s.StartService != "":
		since := time.Now()
		if err := r.target.StartService(c, s.StartService); err != nil {
			return err
		}
		return r.waitRunning(c, since, []contract.Service{s.StartService})
	case s.RestartServer:
		since := time.Now()
		if err := r.target.RestartServer(c); err != nil {
			return err
		}
		return r.waitRunning(c, since, contract.Services)
	case s.StopNode != nil:
		name, led := s.StopNode.Name, contract.StreamName(contract.Orders)
		if s.StopNode.LeaderOf != "" {
			led = s.StopNode.LeaderOf
			var err error
			if name, err = r.obs.leaderOf(c, s.StopNode.LeaderOf); err != nil {
				return err
			}
		}
		// The outcomes stored before the stop are what sagas flowing again
		// must pass; unreadable, the loss goes unmeasured.
		base, baseErr := r.obs.outcomes(c)
		if err := r.target.StopNode(c, name); err != nil {
			return err
		}
		r.obs.nodeStopped(name)
		if baseErr == nil {
			r.finishFlow()
			r.flow = r.obs.watchFlow(ctx, name, led, time.Now(), base)
		}
		return nil
	case s.StartNode != nil:
		name := s.StartNode.Name
		if name == "" {
			if name = r.obs.lastStopped(); name == "" {
				return errors.New("no node was stopped")
			}
		}
		since := time.Now()
		if err := r.target.StartNode(c, name); err != nil {
			return err
		}
		return r.waitRunning(c, since, contract.Services)
	}
	return errors.New("a step with nothing to do")
}

// setFault sets f. A crash fault's answer is lost when the instance that
// serves the request is the one it crashes (it drops its connection at
// once); the fault is in force all the same, which is checked instead.
func (r *run) setFault(ctx context.Context, f contract.Fault) error {
	_, err := r.ctl.SetFault(ctx, f)
	if err == nil || f.Kind != contract.FaultCrash || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	faults, lerr := r.ctl.Faults(ctx)
	if lerr == nil && slices.ContainsFunc(faults, func(g contract.Fault) bool { return g.Service == f.Service && g.Kind == f.Kind }) {
		return nil
	}
	return errors.Join(err, lerr)
}

// final stops the load, clears the faults, waits for the system to settle
// and checks the final expectations.
func (r *run) final(ctx context.Context) error {
	r.emit(Event{Kind: FinalStarted, What: "stop the load, clear every fault, and let every saga finish"})
	c, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	zero := 0.0
	if _, err := r.ctl.SetLoad(c, contract.LoadRequest{Rate: &zero}); err != nil {
		return fmt.Errorf("stop the load: %w", err)
	}
	if err := r.ctl.Reset(c); err != nil {
		return fmt.Errorf("clear the faults: %w", err)
	}
	settled := r.settle(ctx)
	r.result.Checks = append(r.result.Checks, settled)
	r.emit(Event{Kind: StepDone, Step: -1, What: settled.Expectation.String(), Check: &settled})
	if !settled.Pass {
		return nil // the final checks would only repeat that sagas are in flight
	}
	for i, e := range r.sc.Final.Expect {
		r.emit(Event{Kind: StepStarted, Step: i, What: "expect " + e.String()})
		got := r.expect(ctx, "final", i, e)
		r.result.Checks = append(r.result.Checks, got)
		r.emit(Event{Kind: StepDone, Step: i, What: "expect " + e.String(), Check: &got})
	}
	return ctx.Err()
}

// settle waits until the generator placed its last order, every consumer
// has nothing left to deliver or to be acked, and every saga placed has
// an outcome, twice in a row (a publish in the air when the load stopped
// lands between two reads).
func (r *run) settle(ctx context.Context) Check {
	within := r.sc.Final.SettleWithin
	if within == 0 {
		within = DefaultSettleWithin
	}
	e := Expectation{Metric: "sagas_in_flight", Within: within,
		Says: "once the load stops, every consumer drains and every saga finishes within " + within.String()}
	start := time.Now()
	deadline := start.Add(r.opt.patient(within))
	c := Check{Expectation: e, Phase: "final"}
	quietReads := 0
	for {
		observed, err := r.idle(ctx)
		c.Observed, c.Err, c.After = observed, err, time.Since(start)
		if err == nil && observed == "" {
			quietReads++
		} else {
			quietReads = 0
		}
		if quietReads == 2 {
			c.Pass, c.Observed = true, "every consumer drained, every saga finished"
			return c
		}
		if time.Now().After(deadline) || wait.For(ctx, r.opt.Poll) != nil {
			return c
		}
	}
}

// idle says what is still moving, or "" when nothing is.
func (r *run) idle(ctx context.Context) (string, error) {
	c, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	for _, cons := range topology.Consumers(topology.Options{}) {
		h, err := r.js.Consumer(c, cons.Stream, cons.Config.Durable)
		if err != nil {
			return "", fmt.Errorf("consumer %s: %w", cons.Config.Durable, err)
		}
		info := h.CachedInfo() // fetched by Consumer just now
		if info.NumPending > 0 || info.NumAckPending > 0 || info.Paused {
			return fmt.Sprintf("consumer %s has %d pending, %d awaiting ack", cons.Config.Durable, info.NumPending, info.NumAckPending), nil
		}
	}
	got, err := r.obs.readSagas(c, "sagas_in_flight")
	if err != nil {
		return "", err
	}
	if got.value > 0 {
		return fmt.Sprintf("%s sagas in flight", formatNumber(got.value)), nil
	}
	return "", nil
}

// cleanUp clears the faults and restores the load the run found, even
// when the story stopped early or ctx ended.
func (r *run) cleanUp(ctx context.Context) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	err := r.ctl.Reset(c)
	if r.loadBefore > 0 || r.result.Err != nil {
		rate := r.loadBefore
		_, lerr := r.ctl.SetLoad(c, contract.LoadRequest{Rate: &rate})
		err = errors.Join(err, lerr)
	}
	if err != nil && r.result.Err == nil {
		r.result.Err = fmt.Errorf("clean up: %w", err)
	}
}
