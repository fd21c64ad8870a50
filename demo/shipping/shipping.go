// Package shipping is the shipping service: it books a shipment with a
// simulated carrier guarded by a circuit breaker, and cancels it on
// compensation.
package shipping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/breaker"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/demo/worker"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Config tunes the simulated carrier and its breaker.
type Config struct {
	CarrierLatency, CarrierJitter time.Duration
	Breaker                       breaker.Config
}

// Service is the shipping service.
type Service struct{ cfg Config }

// New returns the shipping service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Name implements service.Service.
func (*Service) Name() contract.Service { return contract.Shipping }

// Bind implements service.Service.
func (s *Service) Bind(ctx context.Context, env service.Env) (service.Binding, error) {
	kv, err := env.JS.KeyValue(ctx, contract.ShipmentBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.ShipmentBucket, err)
	}
	bcfg := s.cfg.Breaker
	bcfg.Name = "carrier"
	bcfg.IsFailure = sim.IsFailure
	carrier := sim.NewDependency(sim.DependencyConfig{
		Name: "carrier", Latency: s.cfg.CarrierLatency, Jitter: s.cfg.CarrierJitter,
		RejectReason: sim.ReasonNoCarrier, Faults: env.Faults,
	})
	h := &handler{
		shipments: kv, env: env, breaker: breaker.New(bcfg),
		carrier: carrier, callCarrier: sagaspan.Wrap("carrier", carrier.Call),
	}
	return service.Binding{
		Routes:   map[string]service.Route{contract.CommandConsumer(contract.Shipping): {Handle: h.handle, GiveUp: h.giveUp}},
		Breakers: func() []contract.BreakerStatus { return []contract.BreakerStatus{h.breaker.Status()} },
	}, nil
}

type handler struct {
	shipments   jetstream.KeyValue
	carrier     *sim.Dependency
	callCarrier func(context.Context) error // carrier.Call in a client span
	breaker     *breaker.Breaker
	env         service.Env
}

func (h *handler) handle(ctx context.Context, d worker.Delivery) error {
	switch d.Env.Type {
	case contract.ScheduleShipment:
		return h.schedule(ctx, d)
	case contract.CancelShipment:
		return h.cancel(ctx, d)
	}
	return worker.Permanent(fmt.Errorf("%s is not a command of shipping", d.Env.Type))
}

func (h *handler) giveUp(ctx context.Context, d worker.Delivery, cause error) error {
	switch d.Env.Type {
	case contract.ScheduleShipment:
		return h.refuse(ctx, d, "gave up: "+cause.Error())
	}
	// Cancelling only writes our own bucket; there is no failure event for
	// it, so the orchestrator's sweeper re-sends and eventually parks it.
	return nil
}

func (h *handler) schedule(ctx context.Context, d worker.Delivery) error {
	o := d.Env.Order
	existing, _, err := h.get(ctx, o.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		h.env.Counters.Duplicates.Add(1)
		return h.replay(ctx, d, *existing)
	}
	err = h.breaker.Run(ctx, h.callCarrier)
	var rejected *sim.RejectedError
	switch {
	case errors.As(err, &rejected):
		return h.refuse(ctx, d, rejected.Reason)
	case errors.Is(err, breaker.ErrOpen):
		return h.refuse(ctx, d, "carrier unavailable (circuit open)")
	case err != nil:
		return err
	}
	s := contract.Shipment{Order: o.ID, Status: contract.ShipmentBooked, Carrier: "simulated", Tracking: "TRK-" + o.ID, Created: h.env.Now().UTC()}
	if _, err := h.shipments.Create(ctx, o.ID, mustJSON(s)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("book shipment for %s: %w", o.ID, err)
		}
		// A concurrent delivery or a cancellation got there first.
		existing, _, err := h.get(ctx, o.ID)
		if err != nil || existing == nil {
			return fmt.Errorf("read shipment of %s after conflict: %w", o.ID, err)
		}
		return h.replay(ctx, d, *existing)
	}
	return h.reply(ctx, d, contract.ShipmentScheduled, "")
}

// refuse leaves a cancelled tombstone so a duplicate of the schedule command
// cannot book later, and reports the step failed.
func (h *handler) refuse(ctx context.Context, d worker.Delivery, reason string) error {
	o := d.Env.Order
	s := contract.Shipment{Order: o.ID, Status: contract.ShipmentVoided, Created: h.env.Now().UTC()}
	if _, err := h.shipments.Create(ctx, o.ID, mustJSON(s)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("void shipment of %s: %w", o.ID, err)
		}
		existing, _, err := h.get(ctx, o.ID)
		if err != nil || existing == nil {
			return fmt.Errorf("read shipment of %s after conflict: %w", o.ID, err)
		}
		return h.replay(ctx, d, *existing)
	}
	return h.reply(ctx, d, contract.ShipmentFailed, reason)
}

func (h *handler) replay(ctx context.Context, d worker.Delivery, s contract.Shipment) error {
	if s.Status == contract.ShipmentBooked {
		return h.reply(ctx, d, contract.ShipmentScheduled, "")
	}
	return h.reply(ctx, d, contract.ShipmentFailed, "order already cancelled")
}

func (h *handler) cancel(ctx context.Context, d worker.Delivery) error {
	o := d.Env.Order
	for range 50 {
		existing, rev, err := h.get(ctx, o.ID)
		if err != nil {
			return err
		}
		if existing != nil && existing.Status == contract.ShipmentVoided {
			h.env.Counters.Duplicates.Add(1)
			return h.reply(ctx, d, contract.ShipmentCancelled, "")
		}
		s := contract.Shipment{Order: o.ID, Status: contract.ShipmentVoided, Created: h.env.Now().UTC()}
		if existing != nil {
			_, err = h.shipments.Update(ctx, o.ID, mustJSON(s), rev)
		} else {
			_, err = h.shipments.Create(ctx, o.ID, mustJSON(s))
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cancel shipment of %s: %w", o.ID, err)
		}
		return h.reply(ctx, d, contract.ShipmentCancelled, "")
	}
	return fmt.Errorf("cancel shipment of %s: too many conflicting writes", o.ID)
}

func (h *handler) get(ctx context.Context, order string) (*contract.Shipment, uint64, error) {
	e, err := h.shipments.Get(ctx, order)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read shipment of %s: %w", order, err)
	}
	var s contract.Shipment
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("decode shipment of %s: %w", order, err)
	}
	return &s, e.Revision(), nil
}

func (h *handler) reply(ctx context.Context, d worker.Delivery, typ, reason string) error {
	env := contract.NewEnvelope(typ, d.Env.Order, &d.Env, 0, h.env.Now())
	env.Reason = reason
	return worker.Publish(ctx, h.env.JS, env)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("shipping: marshal " + err.Error())
	}
	return b
}
