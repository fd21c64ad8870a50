package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// ErrNoRunWaiting reports a next or reveal request no run answered: no run
// waits for the instructor (next) or has a question open (reveal).
var ErrNoRunWaiting = errors.New("no scenario run is waiting for this")

// runControlTimeout bounds a next or reveal request: the runner answers
// from its subscription at once, and a request nobody answers (no run
// waits) should say so quickly.
const runControlTimeout = 2 * time.Second

// ScenarioNext moves the run (by id; "" for whichever waits) on from the
// phase boundary it waits at in step mode. The reply names the run and the
// phase it waited at.
func (c *Client) ScenarioNext(ctx context.Context, run string) (contract.RunControlReply, error) {
	return c.runControl(ctx, "move the scenario run on", contract.ScenarioNextSubject, run)
}

// ScenarioReveal reveals the answer of the question open in the run (""
// for whichever has one).
func (c *Client) ScenarioReveal(ctx context.Context, run string) (contract.RunControlReply, error) {
	return c.runControl(ctx, "reveal the answer", contract.ScenarioRevealSubject, run)
}

func (c *Client) runControl(ctx context.Context, op, subject, run string) (contract.RunControlReply, error) {
	ctx, cancel := context.WithTimeout(ctx, runControlTimeout)
	defer cancel()
	var rep contract.RunControlReply
	err := c.request(ctx, op, subject, contract.RunControlRequest{V: contract.Version, Run: run}, &rep)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNoResponders):
		return rep, fmt.Errorf("%s: %w", op, ErrNoRunWaiting)
	case err != nil:
		return rep, err
	case rep.Error != "":
		return rep, fmt.Errorf("%s: %s", op, rep.Error)
	}
	return rep, nil
}

// Answer sends an attendee's answer to a run's question (a core publish:
// the runner counts it or drops it, and says nothing back).
func (c *Client) Answer(ctx context.Context, a contract.Answer) error {
	a.V = contract.Version
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("answer: encode: %w", err)
	}
	before := c.nc.LastError()
	if err := c.nc.Publish(contract.ScenarioAnswerSubject, data); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := c.refused(before, contract.ScenarioAnswerSubject, ""); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	return nil
}
