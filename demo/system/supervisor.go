package system

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/service"
)

// ErrNotSupervising is wrapped by Start and Stop once the Supervisor's Run
// is shutting down or has returned.
var ErrNotSupervising = errors.New("the supervisor is not running")

// Supervisor runs a system's instances one service at a time, so that one
// service can be stopped and started again while the others keep running,
// as a deploy of one service would. Otherwise it behaves as RunInstances:
// every service runs until Run's context ends or one of them fails. Run
// is called once; Start and Stop wait for it to begin. Its methods are
// safe for concurrent use.
type Supervisor struct {
	cfg Config
	// started is closed once Run has started the services.
	started chan struct{}

	mu    sync.Mutex
	ended bool
	// ctx is Run's context, nil when Run is not running; fail ends it
	// when a service fails on its own.
	ctx      context.Context
	fail     context.CancelCauseFunc
	services map[contract.Service]*serviceRun
	// running counts every service goroutine, also one Stop gave up
	// waiting for: Run returns only once all have ended.
	running sync.WaitGroup
}

// serviceRun is one service's instances, running in a goroutine that
// Run waits for (or Stop, which takes it out of the map first).
type serviceRun struct {
	instances []*service.Instance
	stop      context.CancelFunc
	done      chan error
}

// NewSupervisor returns a supervisor of the services cfg asks for (all
// when cfg.Services is empty). cfg.Connect must be set; Prepare must have
// created the resources.
func NewSupervisor(cfg Config) *Supervisor {
	if len(cfg.Services) == 0 {
		cfg.Services = contract.Services
	}
	return &Supervisor{cfg: cfg, started: make(chan struct{}), services: map[contract.Service]*serviceRun{}}
}

// Run starts every service and runs them until ctx ends or one fails; then
// it stops the rest gracefully and returns once every instance is down,
// with the errors they ended with.
func (s *Supervisor) Run(ctx context.Context) error {
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	s.mu.Lock()
	if s.ctx != nil || s.ended {
		s.mu.Unlock()
		return errors.New("supervisor: Run was called already")
	}
	s.ctx, s.fail = ctx, fail
	for _, svc := range s.cfg.Services {
		s.startLocked(svc)
	}
	close(s.started)
	s.mu.Unlock()

	<-ctx.Done()
	s.mu.Lock()
	runs := s.services
	s.services = map[contract.Service]*serviceRun{}
	s.ctx, s.ended = nil, true
	s.mu.Unlock()
	for _, run := range runs {
		run.stop() // all at once: they drain in parallel, as processes would
	}
	var errs []error
	for _, svc := range contract.Services {
		if run, ok := runs[svc]; ok {
			if err := <-run.done; err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", svc, err))
			}
		}
	}
	s.running.Wait()
	return errors.Join(errs...)
}

// Start starts svc again after Stop. It returns once its instances run;
// they report running on the status feed shortly after.
func (s *Supervisor) Start(ctx context.Context, svc contract.Service) error {
	if err := s.begun(ctx); err != nil {
		return fmt.Errorf("start %s: %w", svc, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ctx == nil:
		return fmt.Errorf("start %s: %w", svc, ErrNotSupervising)
	case s.services[svc] != nil:
		return fmt.Errorf("start %s: it is running", svc)
	}
	s.startLocked(svc)
	return nil
}

// begun waits until Run has started the services, or ctx ends.
func (s *Supervisor) begun(ctx context.Context) error {
	select {
	case <-s.started:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the supervisor to start: %w", ctx.Err())
	}
}

func (s *Supervisor) startLocked(svc contract.Service) {
	cfg := s.cfg
	cfg.Services = []contract.Service{svc}
	ctx, stop := context.WithCancel(s.ctx)
	run := &serviceRun{instances: Instances(cfg), stop: stop, done: make(chan error, 1)}
	fail := s.fail
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		err := RunInstances(ctx, run.instances)
		if err != nil && ctx.Err() == nil {
			// A service that fails by itself stops the system, as with
			// RunInstances.
			fail(fmt.Errorf("%s: %w", svc, err))
		}
		run.done <- err
	}()
	s.services[svc] = run
}

// Ready reports whether Run has started and every instance of every
// running service is connected and consuming.
func (s *Supervisor) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return false
	}
	for _, run := range s.services {
		for _, in := range run.instances {
			if !in.Ready() {
				return false
			}
		}
	}
	return true
}

// Stop stops every instance of svc gracefully (they finish and ack what
// they hold) and returns once they are down, or when ctx ends first (the
// instances still stop, and Run waits for them).
func (s *Supervisor) Stop(ctx context.Context, svc contract.Service) error {
	if err := s.begun(ctx); err != nil {
		return fmt.Errorf("stop %s: %w", svc, err)
	}
	s.mu.Lock()
	if s.ctx == nil {
		s.mu.Unlock()
		return fmt.Errorf("stop %s: %w", svc, ErrNotSupervising)
	}
	run, ok := s.services[svc]
	delete(s.services, svc)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop %s: it is not running", svc)
	}
	run.stop()
	select {
	case err := <-run.done:
		if err != nil {
			return fmt.Errorf("stop %s: %w", svc, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", svc, ctx.Err())
	}
}

// Launch creates or updates cfg's streams, buckets and consumers, waiting
// with back-off while JetStream is not up yet (until ctx ends), and runs
// its services under a Supervisor, and the load generator beside them
// when cfg asks for one, until ctx ends or stop is called. stop ends the
// generator, then the services gracefully, and returns once every one is
// down, with what they ended with; a service that stopped by itself is
// reported there too. stop may be called more than once.
func Launch(ctx context.Context, cfg Config) (sup *Supervisor, stop func() error, err error) {
	if err := prepareWhenReady(ctx, cfg); err != nil {
		return nil, nil, err
	}
	var gen *loadgen.Generator
	if cfg.Load != nil && (len(cfg.Services) == 0 || slices.Contains(cfg.Services, contract.Orders)) {
		gen = loadgen.New(*cfg.Load)
		cfg.Orders.Load = gen.Status
	}
	sup = NewSupervisor(cfg)
	svcCtx, stopServices := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sup.Run(svcCtx) }()
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	if gen == nil {
		loadDone <- nil
	} else {
		client := loadgen.Client{Connect: cfg.Connect, Telemetry: cfg.Telemetry, Instance: InstanceID(), Version: cfg.Version}
		go func() { loadDone <- gen.RunClient(loadCtx, client) }()
	}
	return sup, sync.OnceValue(func() error {
		stopLoad() // no new orders while the services drain
		loadErr := <-loadDone
		stopServices()
		return errors.Join(loadErr, <-done)
	}), nil
}
