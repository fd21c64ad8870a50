package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// faultSet is a fixed set of faults, one per kind.
type faultSet map[contract.FaultKind]contract.Fault

func (s faultSet) Active(kind contract.FaultKind) (contract.Fault, bool) {
	f, ok := s[kind]
	return f, ok
}

func faults(fs ...contract.Fault) faultSet {
	s := faultSet{}
	for _, f := range fs {
		s[f.Kind] = f
	}
	return s
}

func down() contract.Fault { return contract.Fault{Kind: contract.FaultDependencyDown} }
func erroring(p float64) contract.Fault {
	return contract.Fault{Kind: contract.FaultError, Probability: p}
}
func rejecting(p float64) contract.Fault {
	return contract.Fault{Kind: contract.FaultReject, Probability: p}
}

// always returns v: with 0.5, probability 1 always fires and 0 never does.
func always(v float64) func() float64 { return func() float64 { return v } }

// checkErr fails unless err matches want: nil, or an error wrapping it.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestRejectedErrorIsErrRejected(t *testing.T) {
	var err error = &RejectedError{Reason: ReasonOutOfStock}
	var re *RejectedError
	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) || !errors.As(err, &re) || re.Reason != "out of stock" {
		t.Fatalf("%v: want a rejection, not unavailability, with its reason", err)
	}
	if errors.Is(ErrRejected, &RejectedError{}) {
		t.Fatal("ErrRejected must not match a RejectedError target")
	}
}

func TestSleepHonorsAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, d := range []time.Duration{0, time.Hour} {
		if err := wait.For(ctx, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait.For(canceled, %v) = %v, want context.Canceled", d, err)
		}
	}
}
