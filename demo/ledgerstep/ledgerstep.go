// Package ledgerstep handles a saga step that takes an amount from a balance
// and gives it back on compensation: payment's charge and refund, and
// inventory's reserve and release. The two services differ only in their
// buckets, their dependency and their words, which Config names.
package ledgerstep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/breaker"
	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/ledger"
	"github.com/sagascope/sagascope/demo/sim"
	"github.com/sagascope/sagascope/demo/worker"
)

// Types names the messages of one ledger step.
type Types struct {
	Apply, Revert                   string // commands
	Applied, Rejected, Failed       string // replies to Apply
	Reverted, RevertFailed          string // replies to Revert
	KeyOf                           func(contract.Order) string
	AmountOf                        func(contract.Order) int64
	Insufficient, Unknown, Disabled string // rejection reasons
}

// Config configures a Handler.
type Config struct {
	Types  Types
	Ledger *ledger.Ledger
	// Guard runs fn behind the step's dependency: the payment gateway
	// through its breaker, or a connection of the inventory database.
	Guard     func(ctx context.Context, fn func(context.Context) error) error
	JetStream jetstream.JetStream
	Counters  *worker.Counters
	Now       func() time.Time
}

// Handler handles one ledger step's commands.
type Handler struct{ cfg Config }

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// Handle is the worker.Handler of the step's command consumer.
func (h *Handler) Handle(ctx context.Context, d worker.Delivery) error {
	switch d.Env.Type {
	case h.cfg.Types.Apply:
		return h.apply(ctx, d)
	case h.cfg.Types.Revert:
		return h.revert(ctx, d)
	}
	return worker.Permanent(fmt.Errorf("%s is not a command of this service", d.Env.Type))
}

// GiveUp reports the step failed after its last delivery failed
// transiently.
func (h *Handler) GiveUp(ctx context.Context, d worker.Delivery, cause error) error {
	t := h.cfg.Types
	switch d.Env.Type {
	case t.Apply:
		return h.refuse(ctx, d, t.Failed, "gave up: "+cause.Error())
	case t.Revert:
		return h.reply(ctx, d, t.RevertFailed, "gave up: "+cause.Error())
	}
	return nil
}

func (h *Handler) apply(ctx context.Context, d worker.Delivery) error {
	t, o := h.cfg.Types, d.Env.Order
	var outcome ledger.Outcome
	err := h.cfg.Guard(ctx, func(ctx context.Context) error {
		var err error
		outcome, err = h.cfg.Ledger.Apply(ctx, o.ID, t.KeyOf(o), t.AmountOf(o))
		return err
	})
	var rejected *sim.RejectedError
	switch {
	case err == nil:
		if outcome == ledger.Repeated {
			h.cfg.Counters.Duplicates.Add(1)
		}
		return h.reply(ctx, d, t.Applied, "")
	case errors.As(err, &rejected):
		return h.refuse(ctx, d, t.Rejected, rejected.Reason)
	case errors.Is(err, ledger.ErrInsufficient):
		return h.refuse(ctx, d, t.Rejected, t.Insufficient)
	case errors.Is(err, ledger.ErrUnknownKey):
		return h.refuse(ctx, d, t.Rejected, t.Unknown)
	case errors.Is(err, ledger.ErrCancelled):
		h.cfg.Counters.Duplicates.Add(1)
		return h.reply(ctx, d, t.Rejected, "order already cancelled")
	case errors.Is(err, breaker.ErrOpen):
		// Fail fast: the breaker exists so sagas compensate at once
		// instead of queueing behind a dependency that is down.
		return h.refuse(ctx, d, t.Failed, t.Disabled)
	}
	return err
}

// refuse voids the order's entry, so a duplicate of the command cannot
// apply it later, and replies typ. If a concurrent delivery applied it
// first, that outcome is replied instead.
func (h *Handler) refuse(ctx context.Context, d worker.Delivery, typ, reason string) error {
	t, o := h.cfg.Types, d.Env.Order
	existing, err := h.cfg.Ledger.Void(ctx, o.ID, t.KeyOf(o), t.AmountOf(o))
	if err != nil {
		return err
	}
	if existing != nil && existing.Status == contract.EntryApplied {
		return h.reply(ctx, d, t.Applied, "")
	}
	return h.reply(ctx, d, typ, reason)
}

func (h *Handler) revert(ctx context.Context, d worker.Delivery) error {
	t, o := h.cfg.Types, d.Env.Order
	var outcome ledger.Outcome
	err := h.cfg.Guard(ctx, func(ctx context.Context) error {
		var err error
		outcome, err = h.cfg.Ledger.Revert(ctx, o.ID, t.KeyOf(o), t.AmountOf(o))
		return err
	})
	if err != nil {
		// A compensation is never refused: every failure is retried, and
		// after the last delivery GiveUp reports it failed.
		return fmt.Errorf("%s %s: %w", t.Revert, o.ID, err)
	}
	if outcome == ledger.Repeated {
		h.cfg.Counters.Duplicates.Add(1)
	}
	return h.reply(ctx, d, t.Reverted, "")
}

func (h *Handler) reply(ctx context.Context, d worker.Delivery, typ, reason string) error {
	env := contract.NewEnvelope(typ, d.Env.Order, &d.Env, 0, h.cfg.Now())
	env.Reason = reason
	return worker.Publish(ctx, h.cfg.JetStream, env)
}
