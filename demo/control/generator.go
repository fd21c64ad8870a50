package control

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// GeneratorWait is how long `sagascope load` listens for a load generator
// on the status feed: instances report about twice a second, so three
// reports' worth.
const GeneratorWait = 1500 * time.Millisecond

// NoGenerator is what `sagascope load` prints when no load generator
// reports: the setting is stored, and nothing acts on it.
const NoGenerator = "no load generator reports on this server: every orders process runs with --no-load, or none runs; the setting waits for one"

// LoadGenerator listens on the status feed, for wait at most, for a load
// generator acting on the load setting, which an orders instance that runs
// one reports with its status. It returns the first report at rate want,
// or else the last report heard (a generator yet to read a new setting),
// or nil when none reports: every orders process runs without one, or none
// runs.
func (c *Client) LoadGenerator(ctx context.Context, want float64, wait time.Duration) (*contract.LoadStatus, error) {
	heard := make(chan struct{}, 1)
	r, err := statusfeed.Follow(c.nc, statusfeed.Options{OnChange: func() {
		select {
		case heard <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("look for a load generator: %w", err)
	}
	defer func() { _ = r.Close() }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var last *contract.LoadStatus
	for {
		select {
		case <-heard:
			if l := r.Fleet().Load; l != nil {
				if last = l; l.Rate == want {
					return l, nil
				}
			}
		case <-timer.C:
			return last, nil
		case <-ctx.Done():
			return last, nil // the setting is made; what was heard is the answer
		}
	}
}

// describeGenerator is a load generator's report in one line.
func describeGenerator(l *contract.LoadStatus) string {
	if l == nil {
		return NoGenerator
	}
	return fmt.Sprintf("load generator: effective rate %s orders/s, %d orders placed",
		strconv.FormatFloat(l.Effective, 'g', -1, 64), l.Placed)
}
