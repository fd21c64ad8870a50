package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/topology"
)

// PrepareCheck names the readiness check a process holds while it waits
// for JetStream, before any instance runs: /readyz answers
// "not ready: prepare: waiting for JetStream: <error>" meanwhile.
const PrepareCheck = "prepare"

// The back-off between attempts to prepare: doubling from the first wait
// up to the cap, each wait jittered so that the processes of a system
// started together do not retry in step. A loopback cluster elects its
// meta leader in 2-4 s, so the first retries come well inside that; the cap
// keeps a process that waits for minutes (a server being deployed) within
// ten seconds of it.
const (
	prepareFirstWait = 250 * time.Millisecond
	prepareMaxWait   = 10 * time.Second
)

// Prepare creates or updates the streams, buckets and consumers, once. A
// permission violation ends it at once, as an error naming it, rather than
// when the refused request times out.
func Prepare(ctx context.Context, cfg Config) error {
	nc, err := cfg.Connect(ctx, "sagascope topology")
	if err != nil {
		return err
	}
	defer nc.Close()
	// The server refuses a request the user may not publish with an -ERR
	// the client reports only to its error handler; the request itself
	// would wait for its timeout, and look like a server not ready.
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	handler := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			refuse(err)
		}
		if handler != nil {
			handler(c, s, err)
		}
	})
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := topology.Ensure(ctx, js, cfg.Topology); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, nats.ErrPermissionViolation) {
			return fmt.Errorf("prepare JetStream resources: this user may not create them: %w", cause)
		}
		return fmt.Errorf("prepare JetStream resources: %w", err)
	}
	return nil
}

// prepareWhenReady runs Prepare until it succeeds, fails for good or ctx
// ends, as a service started beside its server (under Kubernetes or
// compose) must: JetStream may not be up yet, or its cluster still forming.
// Each failed attempt logs a warning with the next wait; until it returns,
// the process's readiness says what it waits for (PrepareCheck) while its
// liveness stays up.
func prepareWhenReady(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	var mu sync.Mutex
	reason := "creating the JetStream resources"
	stop := cfg.Telemetry.WatchReason(PrepareCheck, func() string {
		mu.Lock()
		defer mu.Unlock()
		return reason
	})
	defer stop()
	for attempt := 1; ; attempt++ {
		err := Prepare(ctx, cfg)
		if err == nil || !transient(ctx, err) {
			return err
		}
		wait := backoff(attempt)
		mu.Lock()
		reason = "waiting for JetStream: " + err.Error()
		mu.Unlock()
		log.Warn("waiting for JetStream", "attempt", attempt, "error", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for JetStream after %d attempts: %w (last: %w)", attempt, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// backoff is the wait after the attempt-th failed attempt: the doubled
// wait capped at prepareMaxWait, of which a random half is taken off.
func backoff(attempt int) time.Duration {
	d := prepareMaxWait
	if attempt < 16 { // 250 ms << 15 is past the cap already
		d = min(prepareFirstWait<<(attempt-1), prepareMaxWait)
	}
	return d/2 + rand.N(d/2+1)
}

// transientCodes are the JetStream API errors of a server or cluster on
// its way up: no meta leader yet (temporarily unavailable, not the
// leader), or fewer nodes joined than the streams' replicas need.
var transientCodes = []jetstream.ErrorCode{
	10005, // no suitable peers for placement
	10008, // JetStream system temporarily unavailable
	10009, // JetStream cluster can not handle request
}

// transient reports whether err, from an attempt of Prepare while ctx is
// live, may go away by itself. It decides by the error's identity, never
// its text, and only the errors of a server that is not up yet count:
//   - the attempt's own timeouts (context.DeadlineExceeded from the
//     jetstream package's per-request default, nats.ErrTimeout): a
//     cluster without a meta leader does not answer;
//   - no responders and "JetStream not enabled" (for the account): no
//     JetStream yet, or a clustered node that has not joined the meta
//     group; a server with JetStream off for good looks the same, and
//     waits with its error in the log and on /readyz;
//   - no servers, a closed or reconnecting connection: nodes not up yet
//     (main dials before starting, so a wrong address fails there);
//   - the API errors of transientCodes.
//
// Everything else is permanent and fails at once: a permission violation
// or an authorization error, a configuration the server refuses (replicas
// on a single server, a stream of that name with another configuration).
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var api *jetstream.APIError
	if errors.As(err, &api) && slices.Contains(transientCodes, api.ErrorCode) {
		return true
	}
	for _, t := range []error{
		context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
		nats.ErrNoServers, nats.ErrConnectionClosed, nats.ErrConnectionReconnecting, nats.ErrDisconnected,
	} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
