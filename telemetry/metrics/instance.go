package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attribute keys of the demo's own instruments.
const (
	ServiceKey  = attribute.Key("service")
	InstanceKey = attribute.Key("instance")
	OutcomeKey  = attribute.Key("outcome")
	StepKey     = attribute.Key("step")
	ResultKey   = attribute.Key("result")
	BreakerKey  = attribute.Key("breaker")
	StateKey    = attribute.Key("state")
	KindKey     = attribute.Key("kind")
)

// Error types of a handled message (the error.type attribute of
// messaging.process.duration); "" is success.
const (
	ErrTransient = "transient" // retried later
	ErrPermanent = "permanent" // refused for good, dead-lettered
	ErrGaveUp    = "gave_up"   // the last delivery failed too
	ErrMalformed = "malformed" // did not decode
)

// Source is what an instance reports about itself, read on every scrape.
type Source struct {
	// Status is the instance's status (pool, counters, breakers).
	Status func() Status
	// BreakerStates lists every state a breaker can be in: each breaker
	// has a 0/1 series per state, 1 for the state it is in.
	BreakerStates []string
	// Injected counts the faults that fired, by kind; nil: none.
	Injected func() map[string]uint64
}

// Status is an instance's state as its metrics show it.
type Status struct {
	// Capacity, Busy and Queued describe the worker pool: Queued are
	// messages pulled from the server and waiting for a worker.
	Capacity, Busy, Queued int
	// Counts of handled messages since the instance started.
	Processed, Failed, Retried, DeadLettered, Duplicates uint64

	Breakers []Breaker
}

// Breaker is one circuit breaker: its state (one of
// Source.BreakerStates) and how many calls it refused.
type Breaker struct {
	Name, State string
	Rejected    uint64
}

// Instance records one service instance's metrics. A nil *Instance records
// nothing. It is safe for concurrent use.
type Instance struct {
	m       *Metrics
	service attribute.KeyValue
	reg     metric.Registration
	// options caches the attribute sets of recordings, so recording does
	// not build a set per message.
	options sync.Map // optionKey -> metric.MeasurementOption
}

type optionKey struct{ a, b, c string }

// Instance starts recording for one instance of svc: it observes src on
// every scrape until Close.
func (m *Metrics) Instance(svc, instance string, src Source) (*Instance, error) {
	in := &Instance{m: m, service: ServiceKey.String(svc)}
	if src.Status == nil {
		return in, nil
	}
	who := []attribute.KeyValue{in.service, InstanceKey.String(instance)}
	whoOpt := metric.WithAttributes(who...)
	with := func(extra ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributes(append(append([]attribute.KeyValue{}, who...), extra...)...)
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := src.Status()
		o.ObserveInt64(m.capacity, int64(st.Capacity), whoOpt)
		o.ObserveInt64(m.busy, int64(st.Busy), whoOpt)
		o.ObserveInt64(m.queued, int64(st.Queued), whoOpt)
		o.ObserveInt64(m.processed, int64(st.Processed), whoOpt)
		o.ObserveInt64(m.failed, int64(st.Failed), whoOpt)
		o.ObserveInt64(m.retried, int64(st.Retried), whoOpt)
		o.ObserveInt64(m.deadLettered, int64(st.DeadLettered), whoOpt)
		o.ObserveInt64(m.duplicates, int64(st.Duplicates), whoOpt)
		for _, b := range st.Breakers {
			for _, s := range src.BreakerStates {
				v := int64(0)
				if b.State == s {
					v = 1
				}
				o.ObserveInt64(m.breakerState, v, with(BreakerKey.String(b.Name), StateKey.String(s)))
			}
			o.ObserveInt64(m.breakerRejected, int64(b.Rejected), with(BreakerKey.String(b.Name)))
		}
		if src.Injected != nil {
			for kind, n := range src.Injected() {
				o.ObserveInt64(m.injected, int64(n), with(KindKey.String(kind)))
			}
		}
		return nil
	}, m.capacity, m.busy, m.queued, m.processed, m.failed, m.retried, m.deadLettered, m.duplicates,
		m.breakerState, m.breakerRejected, m.injected)
	if err != nil {
		return nil, fmt.Errorf("observe %s %s: %w", svc, instance, err)
	}
	in.reg = reg
	return in, nil
}

// Close stops observing the instance.
func (in *Instance) Close() error {
	if in == nil || in.reg == nil {
		return nil
	}
	if err := in.reg.Unregister(); err != nil {
		return fmt.Errorf("stop observing: %w", err)
	}
	return nil
}

func (in *Instance) option(k optionKey, attrs func() []attribute.KeyValue) metric.MeasurementOption {
	if o, ok := in.options.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(append(attrs(), in.service)...))
	in.options.Store(k, o)
	return o
}

// Handled records that a message on subject, delivered by consumer, took
// took to handle; errType is "" on success or one of the Err* types.
func (in *Instance) Handled(ctx context.Context, consumer, subject, errType string, took time.Duration) {
	if in == nil {
		return
	}
	opt := in.option(optionKey{consumer, subject, errType}, func() []attribute.KeyValue {
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.consumer.group.name", consumer),
		}
		if errType != "" {
			attrs = append(attrs, attribute.String("error.type", errType))
		}
		return attrs
	})
	in.m.handling.Record(ctx, took.Seconds(), opt)
}

// SagaEnded records a saga reaching its final status, took after its
// order was placed.
func (in *Instance) SagaEnded(ctx context.Context, status string, took time.Duration) {
	if in == nil {
		return
	}
	opt := in.option(optionKey{"saga", status, ""}, func() []attribute.KeyValue {
		return []attribute.KeyValue{OutcomeKey.String(status)}
	})
	in.m.sagas.Add(ctx, 1, opt)
	in.m.sagaDuration.Record(ctx, took.Seconds(), opt)
}

// StepAnswered records the answer to a step's command or compensation,
// which left the step in state, took after it was sent.
func (in *Instance) StepAnswered(ctx context.Context, step, state string, took time.Duration) {
	if in == nil {
		return
	}
	opt := in.option(optionKey{"step", step, state}, func() []attribute.KeyValue {
		return []attribute.KeyValue{StepKey.String(step), ResultKey.String(state)}
	})
	in.m.stepDuration.Record(ctx, took.Seconds(), opt)
}
