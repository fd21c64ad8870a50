package sim

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// slow is a latency fault of d.
func slow(d time.Duration) contract.Fault {
	return contract.Fault{Kind: contract.FaultLatency, Latency: d}
}

// gauge counts the queries running fn now and the most there ever were.
type gauge struct {
	mu      sync.Mutex
	n, most int
}

func (g *gauge) add(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n += d
	g.most = max(g.most, g.n)
}

func (g *gauge) now() int  { g.mu.Lock(); defer g.mu.Unlock(); return g.n }
func (g *gauge) peak() int { g.mu.Lock(); defer g.mu.Unlock(); return g.most }

// queryAll runs n concurrent queries on db, each running fn, and returns
// their errors once all have returned.
func queryAll(ctx context.Context, db *Database, n int, fn func(context.Context) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = db.Query(ctx, fn) })
	}
	wg.Wait()
	return errs
}

// This is the property the demo relies on: a slow database bounds its
// callers' throughput to Conns / latency. It runs on the real clock, so it
// asserts only a lower bound.
func TestDatabaseThroughputIsBoundedByThePool(t *testing.T) {
	tests := []struct {
		name    string
		conns   int
		latency time.Duration
		queries int
	}{
		{"4 connections at 20ms serve 40 queries in no less than 200ms", 4, 20 * time.Millisecond, 40},
		{"8 connections at 10ms serve 40 queries in no less than 50ms", 8, 10 * time.Millisecond, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := NewDatabase(DatabaseConfig{Conns: tt.conns, Faults: faults(slow(tt.latency))})
			start := time.Now()
			for _, err := range queryAll(t.Context(), db, tt.queries, func(context.Context) error { return nil }) {
				checkErr(t, err, nil)
			}
			rounds := time.Duration((tt.queries + tt.conns - 1) / tt.conns)
			if least, got := rounds*(DefaultQueryLatency+tt.latency), time.Since(start); got < least {
				t.Fatalf("%d queries took %v, want at least %v", tt.queries, got, least)
			}
		})
	}
}

func TestDatabaseNeverRunsMoreQueriesThanConnections(t *testing.T) {
	tests := []struct {
		name    string
		conns   int
		queries int
	}{
		{"a pool of 4 runs 4 queries at once and queues the rest", 4, 40},
		{"the default pool runs 8 queries at once", 0, 20},
		{"a pool larger than the load runs everything at once", 16, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := NewDatabase(DatabaseConfig{Conns: tt.conns, QueryLatency: 20 * time.Millisecond})
				_, conns, _ := db.Stats()
				var running gauge
				release := make(chan struct{})
				done := make(chan []error)
				go func() {
					done <- queryAll(t.Context(), db, tt.queries, func(context.Context) error {
						running.add(1)
						defer running.add(-1)
						<-release
						return nil
					})
				}()
				time.Sleep(20 * time.Millisecond)
				synctest.Wait() // every query holds a connection or waits for one

				wantBusy := min(conns, tt.queries)
				inUse, _, waiting := db.Stats()
				if inUse != wantBusy || waiting != tt.queries-wantBusy || running.now() != wantBusy {
					t.Fatalf("Stats() = %d in use, %d waiting, %d running; want %d, %d, %d",
						inUse, waiting, running.now(), wantBusy, tt.queries-wantBusy, wantBusy)
				}
				close(release)
				for _, err := range <-done {
					checkErr(t, err, nil)
				}
				if running.peak() != wantBusy {
					t.Fatalf("peak of %d concurrent queries, want %d", running.peak(), wantBusy)
				}
				if inUse, _, waiting := db.Stats(); inUse != 0 || waiting != 0 {
					t.Fatalf("after all queries: %d in use, %d waiting; want none", inUse, waiting)
				}
			})
		})
	}
}

func TestDatabaseFaults(t *testing.T) {
	ms := time.Millisecond
	errStock := errors.New("caller's own error")
	tests := []struct {
		name    string
		faults  faultSet
		reason  string
		fnErr   error
		want    error
		wantRan bool
		wantDur time.Duration
	}{
		{"with no faults a query runs fn after its latency", nil, "", nil, nil, true, 10 * ms},
		{"fn's error is returned unchanged", nil, "", errStock, errStock, true, 10 * ms},
		{"the latency fault holds the connection longer", faults(slow(200 * ms)), "", nil, nil, true, 210 * ms},
		{"a down database fails after holding the connection", faults(down(), slow(200*ms)), "", nil, ErrUnavailable, false, 210 * ms},
		{"the error fault at probability 1 fails as unavailable", faults(erroring(1)), "", nil, ErrUnavailable, false, 10 * ms},
		{"the error fault at probability 0 never fails", faults(erroring(0)), "", nil, nil, true, 10 * ms},
		{"the reject fault rejects with the reason", faults(rejecting(1)), ReasonOutOfStock, nil, ErrRejected, false, 10 * ms},
		{"the reject fault is left to the caller without a reason", faults(rejecting(1)), "", nil, nil, true, 10 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fs Faults
				if tt.faults != nil {
					fs = tt.faults
				}
				db := NewDatabase(DatabaseConfig{Name: "stock", QueryLatency: 10 * ms, RejectReason: tt.reason, Faults: fs, Rand: always(0.5)})
				ran := false
				start := time.Now()
				err := db.Query(t.Context(), func(context.Context) error { ran = true; return tt.fnErr })
				checkErr(t, err, tt.want)
				if ran != tt.wantRan {
					t.Fatalf("fn ran: %v, want %v", ran, tt.wantRan)
				}
				if got := time.Since(start); got != tt.wantDur {
					t.Fatalf("query took %v, want %v", got, tt.wantDur)
				}
			})
		})
	}
}

func TestDatabaseQueryEndsWithItsContext(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		stop    func(context.Context) (context.Context, context.CancelFunc)
		want    error
		wantDur time.Duration
	}{
		{"a deadline ends the wait for a connection", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 10*ms)
		}, context.DeadlineExceeded, 10 * ms},
		{"a cancel ends the wait for a connection", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(5*ms, cancel)
			return ctx, cancel
		}, context.Canceled, 5 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := NewDatabase(DatabaseConfig{Conns: 1, QueryLatency: time.Second})
				holder := make(chan error)
				go func() { holder <- db.Query(t.Context(), func(context.Context) error { return nil }) }()
				synctest.Wait() // the only connection is taken

				ctx, cancel := tt.stop(t.Context())
				defer cancel()
				start := time.Now()
				ran := false
				err := db.Query(ctx, func(context.Context) error { ran = true; return nil })
				if !errors.Is(err, tt.want) || ran {
					t.Fatalf("Query = %v, fn ran %v; want %v without running fn", err, ran, tt.want)
				}
				if got := time.Since(start); got != tt.wantDur {
					t.Fatalf("waited %v, want %v", got, tt.wantDur)
				}
				if inUse, _, waiting := db.Stats(); inUse != 1 || waiting != 0 {
					t.Fatalf("Stats() = %d in use, %d waiting; want 1, 0", inUse, waiting)
				}
				checkErr(t, <-holder, nil)
			})
		})
	}
}

func TestDatabaseQueryCanceledWhileRunningReleasesItsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := NewDatabase(DatabaseConfig{Conns: 1, QueryLatency: time.Second})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		checkErr(t, db.Query(ctx, func(context.Context) error { return nil }), context.DeadlineExceeded)
		if inUse, _, _ := db.Stats(); inUse != 0 {
			t.Fatalf("%d connections in use after the query ended, want 0", inUse)
		}
	})
}
