package bench

import (
	"errors"
	"flag"
	"fmt"

	"github.com/sagascope/sagascope/demo/contract"
)

// Register adds `sagascope bench`'s flags to fs, writing into o. The
// defaults shown are the zero value's: the full benchmark.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.Var(&o.Phases, "phases", "measurements to make, comma-separated: relay, saturation, tracing, dashboard, latency, demo-latency (default all)")
	fs.DurationVar(&o.Window, "window", defaultWindow, "length of each throughput window")
	fs.DurationVar(&o.Warmup, "warmup", defaultWarmup, "warm-up before every window")
	fs.IntVar(&o.Backlog, "backlog", defaultBacklog, "orders (or relay chains) kept queued at saturation")
	fs.IntVar(&o.Workers, "workers", defaultWorkers, "workers per consumer, in the saga's services and the relay's hops")
	fs.Float64Var(&o.LatencyRate, "rate", defaultLatencyRate, "sagas per second placed while latency is measured")
	fs.DurationVar(&o.LatencyWindow, "latency-window", defaultLatencyWindow, "how long sagas are placed while latency is measured")
	fs.StringVar(&o.DataDir, "data", "", "JetStream store directory (default: a fresh temporary one, removed afterwards)")
}

// ErrOption reports an option Run cannot work with.
var ErrOption = errors.New("bad bench option")

// Validate reports the first option out of range, as one line naming the
// flag. Zero values are fine: they mean the defaults.
func (o Options) Validate() error {
	switch {
	case o.Window < 0 || o.Warmup < 0 || o.LatencyWindow < 0:
		return fmt.Errorf("%w: --window, --warmup and --latency-window must not be negative", ErrOption)
	case o.Backlog < 0 || o.Backlog > 100_000:
		return fmt.Errorf("%w: --backlog %d is not in 1..100000", ErrOption, o.Backlog)
	case o.Workers < 0 || o.Workers > 4096:
		return fmt.Errorf("%w: --workers %d is not in 1..4096", ErrOption, o.Workers)
	case o.LatencyRate < 0 || o.LatencyRate > contract.MaxRate:
		return fmt.Errorf("%w: --rate %g is not in 1..%d", ErrOption, o.LatencyRate, contract.MaxRate)
	}
	return nil
}
