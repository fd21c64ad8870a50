package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
)

// probeVersion is a schema version no service accepts. Every endpoint
// (demo/control/endpoint) checks the version before anything else and
// answers 400 without touching the control bucket, so the probe can never
// set a fault, even when the server lets it through.
const probeVersion = -1

// ReadOnly reports whether nc's user may not inject faults: whether the
// server refuses its publishes to the fault-set subject or its
// subscription to a reply inbox, as it does for a shared session's
// observer.
//
// It asks the server, not the services. On a short-lived connection with
// nc's options (same servers, login and TLS), so that the expected
// permissions violation never becomes nc's last error, which the dashboard
// shows, it subscribes to an inbox, sends a fault-set request every
// service refuses unread (an unsupported schema version), and flushes. The
// server handles a connection's protocol in order, so once the flush
// returns, a refusal of either has been reported. No answer is awaited;
// whether the demo's services run does not matter, and nothing is
// changed. Without a deadline on ctx, DefaultTimeout applies.
func ReadOnly(ctx context.Context, nc *nats.Conn) (bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("find out whether this connection may inject faults: %w", err)
	}
	if nc.IsClosed() {
		return fail(nats.ErrConnectionClosed)
	}
	probeConn, err := probeOptions(ctx, nc).Connect()
	if err != nil {
		return fail(err)
	}
	defer probeConn.Close()

	probe, err := json.Marshal(contract.EmptyRequest{V: probeVersion})
	if err != nil {
		return fail(err)
	}
	inbox := probeConn.NewInbox()
	if _, err := probeConn.SubscribeSync(inbox); err != nil {
		return fail(err)
	}
	if err := probeConn.PublishRequest(contract.FaultSetSubject, inbox, probe); err != nil {
		return fail(err)
	}
	if err := probeConn.FlushWithContext(ctx); err != nil {
		return fail(err)
	}
	if refused := NewClient(probeConn).refused(nil, contract.FaultSetSubject, inbox); refused != nil {
		if !errors.Is(refused, ErrNotPermitted) {
			return fail(refused)
		}
		return true, nil
	}
	return false, nil
}

// probeOptions are nc's options for a one-off connection: the same servers,
// login, TLS and dialer, but none of nc's callbacks, no reconnecting, and
// asynchronous errors kept quiet (the probe expects one).
func probeOptions(ctx context.Context, nc *nats.Conn) nats.Options {
	o := nc.Opts
	o.Name += " (permissions probe)"
	o.AllowReconnect, o.RetryOnFailedConnect = false, false
	if deadline, ok := ctx.Deadline(); ok {
		o.Timeout = min(o.Timeout, max(time.Until(deadline), time.Millisecond))
	}
	o.ClosedCB, o.DisconnectedCB, o.DisconnectedErrCB, o.ConnectedCB = nil, nil, nil, nil
	o.ReconnectedCB, o.ReconnectErrCB, o.DiscoveredServersCB, o.LameDuckModeHandler = nil, nil, nil, nil
	o.AsyncErrorCB = func(*nats.Conn, *nats.Subscription, error) {}
	return o
}
