package breaker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
)

// failsafe-go's breaker reads the wall clock through an internal interface
// it does not let callers replace, so the tests that depend on time run in a
// testing/synctest bubble, where time is fake and exact.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	errDown     = errors.New("dependency down")
	errDeclined = errors.New("card declined")
)

// demoConfig is the configuration the services use, but with a business
// error the breaker must not count.
func demoConfig() Config {
	return Config{
		Name:  "gateway",
		Delay: 5 * time.Second,
		IsFailure: func(err error) bool {
			return !errors.Is(err, errDeclined) && !errors.Is(err, context.Canceled)
		},
	}
}

// runAll runs calls returning errs in order through b.
func runAll(t *testing.T, b *Breaker, errs ...error) {
	t.Helper()
	for _, want := range errs {
		if got := b.Run(t.Context(), func(context.Context) error { return want }); got != want {
			t.Fatalf("Run returned %v, want the call's own error %v", got, want)
		}
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

func TestBreakerOpensOnFailuresOnly(t *testing.T) {
	tests := []struct {
		name     string
		results  []error
		wantOpen bool
	}{
		{"five failures in a row open it", repeat(errDown, 5), true},
		{"four failures leave it closed", repeat(errDown, 4), false},
		{"five failures among the last ten calls open it",
			[]error{nil, errDown, nil, errDown, nil, errDown, nil, errDown, nil, errDown}, true},
		{"failures pushed out of the window by successes do not count",
			append(append(repeat(errDown, 4), repeat(nil, 10)...), errDown), false},
		{"business rejections never open it", repeat(errDeclined, 50), false},
		{"calls the caller canceled never open it", repeat(context.Canceled, 50), false},
		{"a deadline that expired on a slow dependency counts as a failure", repeat(context.DeadlineExceeded, 5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(demoConfig())
			runAll(t, b, tt.results...)

			called := false
			err := b.Run(t.Context(), func(context.Context) error { called = true; return nil })
			st := b.Status()
			if tt.wantOpen {
				if !errors.Is(err, ErrOpen) || called || st.State != contract.BreakerOpen || st.Rejected != 1 {
					t.Fatalf("next call: err %v, called %v, status %+v; want ErrOpen without calling, open, 1 rejected", err, called, st)
				}
				return
			}
			if err != nil || !called || st.State != contract.BreakerClosed || st.Rejected != 0 {
				t.Fatalf("next call: err %v, called %v, status %+v; want it made while closed", err, called, st)
			}
		})
	}
}

func TestBreakerProbesAfterDelay(t *testing.T) {
	tests := []struct {
		name   string
		probes []error
		want   contract.BreakerState
	}{
		{"one successful probe leaves it half-open", []error{nil}, contract.BreakerHalfOpen},
		{"two successful probes close it", []error{nil, nil}, contract.BreakerClosed},
		{"a failed probe opens it again", []error{errDown}, contract.BreakerOpen},
		{"a declined card is a successful probe", []error{errDeclined, nil}, contract.BreakerClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(demoConfig())
				b.Open()
				time.Sleep(5*time.Second - time.Millisecond)
				if err := b.Run(t.Context(), func(context.Context) error { return nil }); !errors.Is(err, ErrOpen) {
					t.Fatalf("call just before Delay: %v, want ErrOpen", err)
				}
				time.Sleep(time.Millisecond)
				runAll(t, b, tt.probes...)
				if st := b.Status(); st.State != tt.want {
					t.Fatalf("state after probes %v is %s, want %s", tt.probes, st.State, tt.want)
				}
			})
		})
	}
}

func TestBreakerHalfOpenLetsOnlySuccessThresholdProbesIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(demoConfig())
		b.Open()
		time.Sleep(5 * time.Second)

		release := make(chan struct{})
		var wg sync.WaitGroup
		for range DefaultSuccessThreshold {
			wg.Go(func() {
				_ = b.Run(t.Context(), func(context.Context) error { <-release; return nil })
			})
		}
		synctest.Wait() // both probes are in flight
		called := false
		err := b.Run(t.Context(), func(context.Context) error { called = true; return nil })
		if !errors.Is(err, ErrOpen) || called {
			t.Fatalf("third concurrent probe: err %v, called %v; want ErrOpen without calling", err, called)
		}
		close(release)
		wg.Wait()
		if st := b.Status(); st.State != contract.BreakerClosed || st.Rejected != 1 {
			t.Fatalf("after the probes succeeded: %+v, want closed with 1 rejected", st)
		}
	})
}

func TestBreakerStatus(t *testing.T) {
	tests := []struct {
		name    string
		results []error
		wait    time.Duration
		refused int
		want    contract.BreakerStatus
	}{
		{
			name:    "closed reports the calls it remembers",
			results: []error{nil, nil, errDown, errDeclined},
			want:    contract.BreakerStatus{Name: "gateway", State: contract.BreakerClosed, Successes: 3, Failures: 1},
		},
		{
			name:    "open reports the time left and the calls that opened it",
			results: []error{nil, errDown, errDown, errDown, errDown, errDown},
			wait:    2 * time.Second,
			refused: 3,
			want: contract.BreakerStatus{Name: "gateway", State: contract.BreakerOpen, Remaining: 3 * time.Second,
				Successes: 1, Failures: 5, Rejected: 3},
		},
		{
			name:    "open past its delay stays open with nothing left until the next call",
			results: repeat(errDown, 5),
			wait:    time.Minute,
			want:    contract.BreakerStatus{Name: "gateway", State: contract.BreakerOpen, Failures: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(demoConfig())
				runAll(t, b, tt.results...)
				for range tt.refused {
					_ = b.Run(t.Context(), func(context.Context) error { return nil })
				}
				time.Sleep(tt.wait)
				if got := b.Status(); got != tt.want {
					t.Fatalf("Status() = %+v, want %+v", got, tt.want)
				}
			})
		})
	}
}

func TestBreakerReportsStateChanges(t *testing.T) {
	type change struct{ from, to contract.BreakerState }
	tests := []struct {
		name string
		do   func(t *testing.T, b *Breaker)
		want []change
	}{
		{
			name: "manual open and close are reported",
			do:   func(t *testing.T, b *Breaker) { b.Open(); b.Close() },
			want: []change{{contract.BreakerClosed, contract.BreakerOpen}, {contract.BreakerOpen, contract.BreakerClosed}},
		},
		{
			name: "a full cycle goes open, half-open, closed",
			do: func(t *testing.T, b *Breaker) {
				runAll(t, b, repeat(errDown, 5)...)
				time.Sleep(5 * time.Second)
				runAll(t, b, nil, nil)
			},
			want: []change{
				{contract.BreakerClosed, contract.BreakerOpen},
				{contract.BreakerOpen, contract.BreakerHalfOpen},
				{contract.BreakerHalfOpen, contract.BreakerClosed},
			},
		},
		{
			name: "opening an open breaker reports nothing",
			do:   func(t *testing.T, b *Breaker) { b.Open(); b.Open() },
			want: []change{{contract.BreakerClosed, contract.BreakerOpen}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(demoConfig())
				var got []change
				b.OnStateChange(func(from, to contract.BreakerState) {
					got = append(got, change{from, to})
					_ = b.Status() // listeners may read the status
				})
				tt.do(t, b)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("changes %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestBreakerDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{})
		runAll(t, b, repeat(errDeclined, 4)...) // any error but Canceled is a failure by default
		runAll(t, b, context.Canceled)
		if st := b.Status(); st.State != contract.BreakerClosed || st.Name != "breaker" {
			t.Fatalf("after 4 failures: %+v, want closed breaker named breaker", st)
		}
		runAll(t, b, errDeclined)
		if st := b.Status(); st.State != contract.BreakerOpen || st.Remaining != DefaultDelay {
			t.Fatalf("after 5 failures: %+v, want open for %v", st, DefaultDelay)
		}
	})
}

func TestBreakerIsSafeForConcurrentUse(t *testing.T) {
	b := New(Config{Name: "carrier", Delay: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				err := error(nil)
				if (i+j)%3 == 0 {
					err = errDown
				}
				_ = b.Run(t.Context(), func(context.Context) error { return err })
				_ = b.Status()
			}
		})
	}
	wg.Wait()
}
