package scenario

import (
	"context"
	"time"

	"github.com/sagascope/sagascope/demo/wait"
)

// expect checks one expectation: once, until it holds (Within), or at
// every sample (During).
func (r *run) expect(ctx context.Context, phase string, step int, e Expectation) Check {
	c := Check{Expectation: e, Phase: phase}
	start := time.Now()
	var base float64
	if e.Delta {
		got, err := r.read(ctx, e)
		if err != nil {
			c.Err, c.Observed = err, "unreadable at the start"
			return c
		}
		base = got.value
	}
	lastProgress := start
	progress := func() {
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			p := c
			r.emit(Event{Kind: Progress, Step: step, What: "expect " + e.String(), Check: &p})
		}
	}
	switch {
	case e.Within > 0:
		deadline := start.Add(r.opt.patient(e.Within))
		for {
			r.sample(ctx, e, base, &c)
			c.After = time.Since(start)
			if c.Pass || time.Now().After(deadline) || wait.For(ctx, r.opt.Poll) != nil {
				return c
			}
			progress()
		}
	case e.During > 0:
		end := start.Add(r.opt.scaled(e.During))
		read := false
		for {
			r.sample(ctx, e, base, &c)
			c.After = time.Since(start)
			if c.Err == nil {
				read = true
				if !c.Pass {
					return c // broken once is broken
				}
			}
			if time.Now().After(end) || wait.For(ctx, r.opt.Poll) != nil {
				// A span in which the metric could never be read proves
				// nothing.
				c.Pass = read && c.Pass
				return c
			}
			progress()
		}
	default:
		r.sample(ctx, e, base, &c)
		c.After = time.Since(start)
		return c
	}
}

// sample reads e's metric once into c.
func (r *run) sample(ctx context.Context, e Expectation, base float64, c *Check) {
	got, err := r.read(ctx, e)
	if err != nil {
		c.Err, c.Pass = err, false
		if c.Observed == "" {
			c.Observed = "unreadable"
		}
		return
	}
	c.Err = nil
	m, _ := metricInfo(e.Metric)
	switch m.kind {
	case numeric:
		v := got.value - base
		c.Pass = e.judgeNumber(v, got.limit)
		c.Observed = formatNumber(v)
		if got.text != "" {
			c.Observed = got.text
		}
		if e.AtLimit {
			c.Observed += " of a limit of " + formatNumber(got.limit)
		}
	case state:
		c.Pass, c.Observed = got.text == e.Is, got.text
	default:
		c.Pass, c.Observed = got.pass, got.text
	}
}

func (r *run) read(ctx context.Context, e Expectation) (reading, error) {
	timeout := readTimeout
	switch e.Metric {
	case "lag", "ack_pending", "redelivered", "leader",
		"sagas_placed", "sagas_completed", "sagas_cancelled", "sagas_parked", "sagas_in_flight":
		timeout = requestTimeout
	}
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return r.obs.read(c, e)
}
