package statusfeed_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/internal/testclock"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func status(svc contract.Service, id string, at time.Time, processed uint64) contract.Status {
	return contract.Status{V: contract.Version, Service: svc, Instance: id, Time: at, State: contract.StateRunning,
		Pool: contract.PoolStatus{Capacity: 8, Busy: 2, Queued: 1}, Counters: contract.Counters{Processed: processed}}
}

func TestAFleetAddsUpTheLiveInstancesOfEachService(t *testing.T) {
	c := testclock.At(t0)
	r := statusfeed.New(statusfeed.Options{Now: c.Now})
	a := status(contract.Payment, "a", t0, 100)
	a.Breakers = []contract.BreakerStatus{{Name: "gateway", State: contract.BreakerClosed, Failures: 1}}
	a.Faults = []contract.Fault{{Service: contract.Payment, Kind: contract.FaultLatency}}
	b := status(contract.Payment, "b", t0, 50)
	b.Breakers = []contract.BreakerStatus{{Name: "gateway", State: contract.BreakerOpen, Remaining: 5 * time.Second, Failures: 4}}
	b.Faults = a.Faults
	b.Load = &contract.LoadStatus{Rate: 20, Effective: 40}
	r.Record(a)
	r.Record(b)
	c.Advance(2 * time.Second)

	f := r.Fleet()
	if len(f.Services) != len(contract.Services) || !f.Reporting {
		t.Fatalf("fleet %+v: want every service listed and reporting", f)
	}
	pay := f.Services[1]
	if pay.Name != contract.Payment || len(pay.Instances) != 2 || pay.Pool.Capacity != 16 || pay.Pool.Busy != 4 || pay.Counters.Processed != 150 {
		t.Fatalf("payment %+v: want two instances, their pools and counters summed", pay)
	}
	if len(pay.Breakers) != 1 || pay.Breakers[0].State != contract.BreakerOpen || pay.Breakers[0].Failures != 5 || pay.Breakers[0].Remaining != 3*time.Second {
		t.Fatalf("breakers %+v: want one gateway breaker, the worst state, failures summed, the countdown run on 2s", pay.Breakers)
	}
	if len(f.Faults) != 1 || len(pay.Faults) != 1 {
		t.Fatalf("faults %+v, payment's %+v: want the fault both report, once", f.Faults, pay.Faults)
	}
	if f.Load == nil || f.Load.Effective != 40 {
		t.Fatalf("load %+v: want the generator's", f.Load)
	}
}

func TestAnInstanceSilentPastTheTimeoutIsGoneButItsCountersStillCount(t *testing.T) {
	c := testclock.At(t0)
	r := statusfeed.New(statusfeed.Options{Now: c.Now, Timeout: 3 * time.Second})
	r.Record(status(contract.Shipping, "old", t0, 70))
	c.Advance(2 * time.Second)
	r.Record(status(contract.Shipping, "new", c.Now(), 5))
	c.Advance(2 * time.Second) // old is silent for 4 s, new for 2 s

	if live := r.Latest(contract.Shipping); len(live) != 1 || live[0].Instance != "new" {
		t.Fatalf("live %+v: want only the instance heard from within the timeout", live)
	}
	if n := len(r.Fleet().Services[3].Instances); n != 1 {
		t.Fatalf("the fleet shows %d shipping instances, want 1", n)
	}
	if got := r.Totals(contract.Shipping).Processed; got != 75 {
		t.Fatalf("totals %d processed, want 75: what a gone instance did still counts", got)
	}
	c.Advance(time.Minute)
	if r.Fleet().Reporting {
		t.Fatal("the fleet still reports with every instance silent")
	}
}

func TestRatesAreMeasuredOverASecondAndRestartWithTheCounters(t *testing.T) {
	c := testclock.At(t0)
	r := statusfeed.New(statusfeed.Options{Now: c.Now})
	for i, tt := range []struct {
		after     time.Duration
		processed uint64
		want      float64
	}{
		{0, 100, 0},
		{500 * time.Millisecond, 150, 0},   // under a second: no rate yet
		{500 * time.Millisecond, 300, 200}, // 200 over the second since the first
		{time.Second, 10, 0},               // counters went back: a restart
	} {
		c.Advance(tt.after)
		r.Record(status(contract.Orders, "o", c.Now(), tt.processed))
		if got := r.Fleet().Services[0].Rates.Processed; got != tt.want {
			t.Fatalf("step %d: rate %v, want %v", i, got, tt.want)
		}
	}
}

// The feed is untrusted: what is too big, malformed or names no service is
// dropped, and the rest is read, on a real server.
func TestFollowReadsTheFeedAndDropsWhatIsNotAStatus(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	changed := make(chan struct{}, 16)
	r, err := statusfeed.Follow(nc, statusfeed.Options{OnChange: func() { changed <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	good, _ := json.Marshal(status(contract.Inventory, "i", time.Now(), 1))
	unknown, _ := json.Marshal(status("billing", "x", time.Now(), 1))
	huge := `{"service":"inventory","instance":"big","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, data := range [][]byte{[]byte("{not json"), unknown, []byte(huge), good} {
		if err := nc.Publish(contract.StatusSubject(contract.Inventory, "i"), data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the good status was not recorded")
	}
	if live := r.Latest(""); len(live) != 1 || live[0].Instance != "i" {
		t.Fatalf("recorded %+v; want the one good status", live)
	}
}
