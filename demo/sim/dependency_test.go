package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

func TestDependencyFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     faultSet
		reason     string
		want       error
		wantReason string
		wantStats  DependencyStats
	}{
		{"with no faults calls succeed", nil, ReasonCardDeclined, nil, "", DependencyStats{Calls: 1}},
		{"a down dependency fails every call as unavailable", faults(down()), ReasonCardDeclined,
			ErrUnavailable, "", DependencyStats{Calls: 1, Unavailable: 1}},
		{"the error fault at probability 1 fails as unavailable", faults(erroring(1)), "",
			ErrUnavailable, "", DependencyStats{Calls: 1, Unavailable: 1}},
		{"the error fault at probability 0 never fails", faults(erroring(0)), "",
			nil, "", DependencyStats{Calls: 1}},
		{"the reject fault at probability 1 rejects with the reason", faults(rejecting(1)), ReasonCardDeclined,
			ErrRejected, ReasonCardDeclined, DependencyStats{Calls: 1, Rejected: 1}},
		{"the reject fault at probability 0 never rejects", faults(rejecting(0)), ReasonNoCarrier,
			nil, "", DependencyStats{Calls: 1}},
		{"the reject fault is ignored without a reject reason", faults(rejecting(1)), "",
			nil, "", DependencyStats{Calls: 1}},
		{"a down dependency cannot reject", faults(down(), rejecting(1)), ReasonNoCarrier,
			ErrUnavailable, "", DependencyStats{Calls: 1, Unavailable: 1}},
		{"faults of other kinds change nothing", faults(contract.Fault{Kind: contract.FaultPoison, Probability: 1}), ReasonNoCarrier,
			nil, "", DependencyStats{Calls: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs Faults
			if tt.faults != nil {
				fs = tt.faults
			}
			d := NewDependency(DependencyConfig{Name: "gateway", RejectReason: tt.reason, Faults: fs, Rand: always(0.5)})
			err := d.Call(t.Context())
			checkErr(t, err, tt.want)
			var re *RejectedError
			if tt.wantReason != "" && (!errors.As(err, &re) || re.Reason != tt.wantReason) {
				t.Fatalf("error %v, want a *RejectedError with reason %q", err, tt.wantReason)
			}
			if got := d.Stats(); got != tt.wantStats {
				t.Fatalf("Stats() = %+v, want %+v", got, tt.wantStats)
			}
		})
	}
}

func TestDependencyLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name            string
		latency, jitter time.Duration
		faults          faultSet
		rand            float64
		want            time.Duration
		wantErr         error
	}{
		{"a call takes its latency", 100 * ms, 0, nil, 0.5, 100 * ms, nil},
		{"jitter shortens a call at the low end", 100 * ms, 40 * ms, nil, 0, 60 * ms, nil},
		{"jitter lengthens a call at the high end", 100 * ms, 40 * ms, nil, 0.75, 120 * ms, nil},
		{"jitter never makes a call take less than nothing", 10 * ms, 40 * ms, nil, 0, 0, nil},
		{"the latency fault adds its latency and a share of its jitter", 100 * ms, 0,
			faults(contract.Fault{Kind: contract.FaultLatency, Latency: 200 * ms, Jitter: 100 * ms}), 0.5, 350 * ms, nil},
		{"a down dependency still costs the round trip", 100 * ms, 0, faults(down()), 0.5, 100 * ms, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fs Faults
				if tt.faults != nil {
					fs = tt.faults
				}
				d := NewDependency(DependencyConfig{Name: "carrier", Latency: tt.latency, Jitter: tt.jitter, Faults: fs, Rand: always(tt.rand)})
				start := time.Now()
				checkErr(t, d.Call(t.Context()), tt.wantErr)
				if got := time.Since(start); got != tt.want {
					t.Fatalf("call took %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestDependencyCallEndsWithItsContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		want    error
		wantDur time.Duration
	}{
		{"a deadline cuts a slow call short", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 50*time.Millisecond)
		}, context.DeadlineExceeded, 50 * time.Millisecond},
		{"a canceled context fails the call at once", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx, cancel
		}, context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := NewDependency(DependencyConfig{Name: "gateway", Latency: time.Second, Faults: faults(down())})
				ctx, cancel := tt.ctx(t.Context())
				defer cancel()
				start := time.Now()
				err := d.Call(ctx)
				if !errors.Is(err, tt.want) || errors.Is(err, ErrUnavailable) {
					t.Fatalf("Call = %v, want %v and not a fault", err, tt.want)
				}
				if got := time.Since(start); got != tt.wantDur {
					t.Fatalf("call took %v, want %v", got, tt.wantDur)
				}
			})
		})
	}
}

func TestDependencyFaultRates(t *testing.T) {
	const calls = 10_000
	tests := []struct {
		name   string
		faults faultSet
		target error
		share  float64
	}{
		{"the error fault fails about its probability of calls", faults(erroring(0.3)), ErrUnavailable, 0.3},
		{"the reject fault rejects about its probability of calls", faults(rejecting(0.2)), ErrRejected, 0.2},
		{"rejections come only from the calls that did not error", faults(erroring(0.5), rejecting(0.5)), ErrRejected, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fixed seed keeps the test deterministic; calls are sequential,
			// so the unsynchronised source is safe here.
			src := rand.New(rand.NewPCG(1, 2))
			d := NewDependency(DependencyConfig{Name: "gateway", RejectReason: ReasonCardDeclined, Faults: tt.faults, Rand: src.Float64})
			hits := 0
			for range calls {
				if errors.Is(d.Call(t.Context()), tt.target) {
					hits++
				}
			}
			if got := float64(hits) / calls; got < tt.share-0.02 || got > tt.share+0.02 {
				t.Fatalf("%d of %d calls (%.3f) matched %v, want %.2f±0.02", hits, calls, got, tt.target, tt.share)
			}
		})
	}
}
