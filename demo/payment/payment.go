// Package payment is the payment service: it charges a customer's account
// through a simulated payment gateway guarded by a circuit breaker, and
// refunds on compensation.
package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/sagascope/sagascope/demo/breaker"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/ledgerstep"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Config tunes the simulated gateway and its breaker.
type Config struct {
	GatewayLatency, GatewayJitter time.Duration
	Breaker                       breaker.Config
}

// Service is the payment service.
type Service struct{ cfg Config }

// New returns the payment service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Name implements service.Service.
func (*Service) Name() contract.Service { return contract.Payment }

// Types are payment's messages as a ledger step.
var Types = ledgerstep.Types{
	Apply: contract.ChargePayment, Revert: contract.RefundPayment,
	Applied: contract.PaymentCharged, Rejected: contract.PaymentDeclined, Failed: contract.PaymentFailed,
	Reverted: contract.PaymentRefunded, RevertFailed: contract.RefundFailed,
	KeyOf:        func(o contract.Order) string { return o.Customer },
	AmountOf:     func(o contract.Order) int64 { return o.Amount },
	Insufficient: "insufficient funds", Unknown: "unknown customer",
	Disabled: "payment gateway unavailable (circuit open)",
}

// Bind implements service.Service.
func (s *Service) Bind(ctx context.Context, env service.Env) (service.Binding, error) {
	accounts, err := env.JS.KeyValue(ctx, contract.AccountBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.AccountBucket, err)
	}
	charges, err := env.JS.KeyValue(ctx, contract.ChargeBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.ChargeBucket, err)
	}
	gateway := sim.NewDependency(sim.DependencyConfig{
		Name: "gateway", Latency: s.cfg.GatewayLatency, Jitter: s.cfg.GatewayJitter,
		RejectReason: sim.ReasonCardDeclined, Faults: env.Faults,
	})
	bcfg := s.cfg.Breaker
	bcfg.Name = "gateway"
	bcfg.IsFailure = sim.IsFailure
	br := breaker.New(bcfg)
	call := sagaspan.Wrap("gateway", gateway.Call)
	h := ledgerstep.New(ledgerstep.Config{
		Types: Types, Ledger: ledger.New(accounts, charges, env.Now),
		Guard: func(ctx context.Context, fn func(context.Context) error) error {
			if err := br.Run(ctx, call); err != nil {
				return err
			}
			return fn(ctx)
		},
		JetStream: env.JS, Counters: env.Counters, Now: env.Now,
	})
	return service.Binding{
		Routes:   map[string]service.Route{contract.CommandConsumer(contract.Payment): {Handle: h.Handle, GiveUp: h.GiveUp}},
		Breakers: func() []contract.BreakerStatus { return []contract.BreakerStatus{br.Status()} },
	}, nil
}
