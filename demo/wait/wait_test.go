package wait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/wait"
)

func TestFor(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"a wait that runs out", context.Background(), time.Millisecond, nil},
		{"no wait", context.Background(), 0, nil},
		{"an ended context, even for no wait", ended, 0, context.Canceled},
		// An hour would fail the test by its deadline if the context
		// did not cut it short.
		{"an ended context cuts a long wait", ended, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := wait.For(tt.ctx, tt.d); !errors.Is(err, tt.want) {
				t.Errorf("For(%v) = %v, want %v", tt.d, err, tt.want)
			}
		})
	}

	t.Run("a context ending mid-wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := wait.For(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("For = %v, want the deadline", err)
		}
	})
}
