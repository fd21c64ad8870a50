// Package wait has the one sleep the demo's packages share: one that a
// context can cut short.
package wait

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; then it returns ctx.Err(). A context that
// has already ended returns at once, whatever d is.
func For(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
