// Package inventory is the inventory service: it reserves stock in a
// simulated database with a fixed pool of connections, and releases it on
// compensation. A slow database saturates the pool, which is how
// backpressure shows.
package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/ledgerstep"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Config sizes the simulated database.
type Config struct {
	Conns        int
	QueryLatency time.Duration
}

// Service is the inventory service.
type Service struct{ cfg Config }

// New returns the inventory service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Name implements service.Service.
func (*Service) Name() contract.Service { return contract.Inventory }

// Types are inventory's messages as a ledger step.
var Types = ledgerstep.Types{
	Apply: contract.ReserveStock, Revert: contract.ReleaseStock,
	Applied: contract.StockReserved, Rejected: contract.StockRejected, Failed: contract.ReserveFailed,
	Reverted: contract.StockReleased, RevertFailed: contract.ReleaseFailed,
	KeyOf:        func(o contract.Order) string { return o.SKU },
	AmountOf:     func(o contract.Order) int64 { return o.Qty },
	Insufficient: sim.ReasonOutOfStock, Unknown: "unknown sku",
	Disabled: "inventory database unavailable",
}

// Bind implements service.Service.
func (s *Service) Bind(ctx context.Context, env service.Env) (service.Binding, error) {
	stock, err := env.JS.KeyValue(ctx, contract.StockBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.StockBucket, err)
	}
	reservations, err := env.JS.KeyValue(ctx, contract.ReservationBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.ReservationBucket, err)
	}
	db := sim.NewDatabase(sim.DatabaseConfig{
		Name: "inventory-db", Conns: s.cfg.Conns, QueryLatency: s.cfg.QueryLatency,
		RejectReason: sim.ReasonOutOfStock, Faults: env.Faults,
	})
	h := ledgerstep.New(ledgerstep.Config{
		Types: Types, Ledger: ledger.New(stock, reservations, env.Now), Guard: sagaspan.WrapGuard("inventory-db", db.Query),
		JetStream: env.JS, Counters: env.Counters, Now: env.Now,
	})
	return service.Binding{
		Routes: map[string]service.Route{contract.CommandConsumer(contract.Inventory): {Handle: h.Handle, GiveUp: h.GiveUp}},
	}, nil
}
