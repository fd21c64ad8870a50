// Package control is the calling side of sagascope's fault-injection and
// load control plane: the Client the dashboard, the scenario runner and the
// `fault` and `load` commands use, ReadOnly, which asks the server whether a
// connection may change anything, and those two commands.
//
// The service side, the NATS micro service every instance serves, is
// demo/control/endpoint; only the wire contract (demo/contract) is shared,
// so whatever links this package links no service code.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
)

// DefaultTimeout bounds a Client request whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// ErrNoResponders reports that no instance serves the control API: the demo
// is not running, or runs on another server or account. Errors that match
// it match nats.ErrNoResponders too.
var ErrNoResponders = errors.New("no sagascope service answers")

// ErrNotPermitted reports that the server refused the request because the
// connection's user may not publish the control subject (a read-only user,
// such as a dashboard's) or may not receive replies. Errors that match it
// match nats.ErrPermissionViolation too.
var ErrNotPermitted = errors.New("not permitted")

// RemoteError is an error answer from a control endpoint: Code 400 for a
// request that can never succeed as sent (nothing was changed), 500 for a
// bucket failure on the service's side.
type RemoteError struct {
	Code    int
	Message string
}

func (e *RemoteError) Error() string {
	if e.Code >= 400 && e.Code < 500 {
		return fmt.Sprintf("refused by sagascope (%d): %s", e.Code, e.Message)
	}
	return fmt.Sprintf("sagascope service failed (%d): %s", e.Code, e.Message)
}

// noResponders is ErrNoResponders naming the subject nobody serves.
type noResponders struct{ subject string }

func (e *noResponders) Error() string {
	return "no sagascope service answers on " + e.subject + ": is the demo running?"
}

func (e *noResponders) Is(target error) bool {
	return target == ErrNoResponders || target == nats.ErrNoResponders
}

// Client calls the control API. It is safe for concurrent use; it does not
// own nc.
type Client struct {
	nc *nats.Conn
}

// NewClient returns a client that sends its requests over nc.
func NewClient(nc *nats.Conn) *Client { return &Client{nc: nc} }

// SetFault sets f (replacing the fault of the same service and kind) and
// returns every fault now in force. Set and Expires are the service's to
// fill; a Duration makes the fault revert by itself.
func (c *Client) SetFault(ctx context.Context, f contract.Fault) ([]contract.Fault, error) {
	var r contract.FaultReply
	err := c.request(ctx, "set fault", contract.FaultSetSubject, contract.FaultRequest{V: contract.Version, Fault: f}, &r)
	return r.Faults, err
}

// ClearFault clears the fault of kind on svc, if set, and returns every
// fault still in force.
func (c *Client) ClearFault(ctx context.Context, svc contract.Service, kind contract.FaultKind) ([]contract.Fault, error) {
	var r contract.FaultReply
	err := c.request(ctx, "clear fault", contract.FaultClearSubject, contract.ClearRequest{V: contract.Version, Service: svc, Kind: kind}, &r)
	return r.Faults, err
}

// Faults returns every fault in force, ordered by service then kind.
func (c *Client) Faults(ctx context.Context) ([]contract.Fault, error) {
	var r contract.FaultReply
	err := c.request(ctx, "list faults", contract.FaultListSubject, emptyRequest, &r)
	return r.Faults, err
}

// Reset clears every fault of every service.
func (c *Client) Reset(ctx context.Context) error {
	var r contract.FaultReply
	return c.request(ctx, "reset faults", contract.FaultResetSubject, emptyRequest, &r)
}

// SetLoad changes the load rate and/or places a burst, and returns the new
// setting.
func (c *Client) SetLoad(ctx context.Context, req contract.LoadRequest) (contract.LoadSetting, error) {
	req.V = contract.Version
	var r contract.LoadReply
	err := c.request(ctx, "set load", contract.LoadSetSubject, req, &r)
	return r.Load, err
}

// Load returns the load setting; the zero setting when it was never set.
func (c *Client) Load(ctx context.Context) (contract.LoadSetting, error) {
	var r contract.LoadReply
	err := c.request(ctx, "get load", contract.LoadGetSubject, emptyRequest, &r)
	return r.Load, err
}

// Status returns the status of one instance of svc (whichever answers
// first).
func (c *Client) Status(ctx context.Context, svc contract.Service) (contract.Status, error) {
	var st contract.Status
	err := c.request(ctx, "status of "+string(svc), contract.StatusQuerySubject(svc), emptyRequest, &st)
	return st, err
}

// emptyRequest is the body of every request without parameters.
var emptyRequest = contract.EmptyRequest{V: contract.Version}

// request sends body to subject and decodes the answer into reply; op names
// the operation in errors.
//
// It does not use nc.Request because a publish or subscribe the server
// refuses is not answered at all: the server drops it and reports an
// asynchronous -ERR, so a plain request would only time out. Here the
// request is followed by a flush; the server answers in order, so once the
// flush returns any -ERR for the publish has been processed and is the
// connection's last error.
func (c *Client) request(ctx context.Context, op, subject string, body, reply any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("%s: subscribe to the reply: %w", op, err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	before := c.nc.LastError()
	if err := c.nc.PublishRequest(subject, inbox, data); err != nil {
		return fmt.Errorf("%s: publish to %s: %w", op, subject, err)
	}
	flushErr := c.nc.FlushWithContext(ctx)
	if err := c.refused(before, subject, inbox); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if flushErr != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: send to %s: %w", op, subject, flushErr)
	}

	msg, err := sub.NextMsgWithContext(ctx)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s: %w", op, &noResponders{subject: subject})
	case errors.Is(err, context.DeadlineExceeded):
		// The -ERR may have come late (a slow link, a busy server).
		if perr := c.refused(before, subject, inbox); perr != nil {
			return fmt.Errorf("%s: %w", op, perr)
		}
		return fmt.Errorf("%s: no answer on %s in time: %w", op, subject, err)
	case err != nil:
		return fmt.Errorf("%s: wait for the answer on %s: %w", op, subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" || msg.Header.Get(micro.ErrorHeader) != "" {
		return fmt.Errorf("%s: %w", op, remoteError(msg))
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		return fmt.Errorf("%s: decode the answer from %s: %w", op, subject, err)
	}
	return nil
}

// refused returns ErrNotPermitted when the connection's last error is a
// permissions violation, new since before, for subject or inbox.
func (c *Client) refused(before error, subject, inbox string) error {
	last := c.nc.LastError()
	// errors.Is first: it guarantees last is a comparable pointer.
	if !errors.Is(last, nats.ErrPermissionViolation) || last == before {
		return nil
	}
	text := last.Error()
	switch {
	case strings.Contains(text, `Publish to "`+subject+`"`):
		switch subject {
		case contract.FaultSetSubject, contract.FaultClearSubject, contract.FaultResetSubject:
			return fmt.Errorf("%w to inject faults: this connection is read-only (%w)", ErrNotPermitted, last)
		case contract.LoadSetSubject:
			return fmt.Errorf("%w to change the load: this connection is read-only (%w)", ErrNotPermitted, last)
		}
		return fmt.Errorf("%w to query %s: this connection's user may not publish it (%w)", ErrNotPermitted, subject, last)
	case strings.Contains(text, `Subscription to "`+inbox+`"`):
		// A shared session gives each user an inbox prefix of its own and
		// refuses the default one.
		return fmt.Errorf("%w to receive answers: this connection's user may not subscribe to its reply inbox %s; set the inbox prefix the server gives it (--inbox-prefix) (%w)", ErrNotPermitted, inbox, last)
	}
	return nil
}

// remoteError reads micro's error headers, falling back on the ErrorReply
// body for a code the header does not carry as a number.
func remoteError(msg *nats.Msg) *RemoteError {
	e := &RemoteError{Message: msg.Header.Get(micro.ErrorHeader)}
	e.Code, _ = strconv.Atoi(msg.Header.Get(micro.ErrorCodeHeader))
	var body contract.ErrorReply
	if json.Unmarshal(msg.Data, &body) == nil {
		if e.Code == 0 {
			e.Code = body.Code
		}
		if e.Message == "" {
			e.Message = body.Error
		}
	}
	if e.Message == "" {
		e.Message = "no description"
	}
	return e
}
