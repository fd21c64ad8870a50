// Package endpoint is the control plane's service endpoint: the NATS micro
// service every sagascope service instance serves (Serve), answering the
// control API of contract (fault injection, load control, status). Its
// callers are demo/control's Client, the `fault` and `load` commands and the
// dashboard; this package is the side they never link.
//
// The control bucket is the single source of truth. Endpoints only write it;
// every instance watches it (demo/fault) and applies what concerns it, so a
// request answered by any one instance reaches all of them. Where each fault
// kind then takes effect is listed in demo/fault's package doc. The shared
// endpoints listen on the same subjects in the same queue group in every
// service, so each request is answered exactly once whichever services run.
package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fault"
)

// QueueGroup is the queue group of every control endpoint in every service.
// Sharing it across services (not only across instances of one service) is
// what makes exactly one instance answer a shared request.
const QueueGroup = "sagascope"

// Metadata keys of the micro service, as `nats micro info` shows them.
const (
	MetaService  = "service"
	MetaInstance = "instance"
	// MetaVersion is the build version as given; the micro version must be
	// SemVer, so a build called "dev" registers as 0.0.0-dev.
	MetaVersion  = "version"
	MetaContract = "contract"
)

// ErrInvalidConfig wraps every reason Serve refuses its Config.
var ErrInvalidConfig = errors.New("invalid control config")

// requestTimeout bounds the bucket work of one request: micro serves an
// endpoint's requests one at a time, so a stuck call would stall it.
const requestTimeout = 5 * time.Second

// Config configures Serve.
type Config struct {
	Service contract.Service
	// Instance is this instance's id, published in the service metadata
	// (micro assigns its own, different id).
	Instance string
	// Version is the build version.
	Version string
	// Control is the control bucket (contract.ControlBucket).
	Control jetstream.KeyValue
	// Status returns this instance's current status for the status
	// endpoint; it is called on the endpoint's goroutine and must be safe
	// for that. nil answers with the identity fields only.
	Status func() contract.Status
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Serve registers the control API of cfg.Service on nc as the micro service
// contract.ServiceName(cfg.Service) and returns once the server routes
// requests to it (on the server nc is connected to). The caller must
// Stop it; closing nc stops it too. Handlers validate every request and
// change nothing when they answer with an error.
func Serve(nc *nats.Conn, cfg Config) (micro.Service, error) {
	switch {
	case nc == nil:
		return nil, fmt.Errorf("serve control API: %w: no connection", ErrInvalidConfig)
	case !cfg.Service.Valid():
		return nil, fmt.Errorf("serve control API: %w: %w", ErrInvalidConfig, &contract.UnknownServiceError{Name: string(cfg.Service)})
	case cfg.Control == nil:
		return nil, fmt.Errorf("serve control API of %s: %w: no control bucket", cfg.Service, ErrInvalidConfig)
	}
	s := &server{cfg: cfg, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        contract.ServiceName(cfg.Service),
		Version:     semver(cfg.Version),
		Description: "sagascope " + string(cfg.Service) + ": fault injection, load control and status",
		QueueGroup:  QueueGroup,
		Metadata: map[string]string{
			MetaService:  string(cfg.Service),
			MetaInstance: cfg.Instance,
			MetaVersion:  cfg.Version,
			MetaContract: strconv.Itoa(contract.Version),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serve control API of %s: %w", cfg.Service, err)
	}
	endpoints := []struct {
		name, subject, request, reply string
		handle                        func(context.Context, []byte) (any, error)
	}{
		{"faults-set", contract.FaultSetSubject, "FaultRequest", "FaultReply", s.setFault},
		{"faults-clear", contract.FaultClearSubject, "ClearRequest", "FaultReply", s.clearFault},
		{"faults-list", contract.FaultListSubject, "{}", "FaultReply", s.listFaults},
		{"faults-reset", contract.FaultResetSubject, "{}", "FaultReply", s.resetFaults},
		{"load-set", contract.LoadSetSubject, "LoadRequest", "LoadReply", s.setLoad},
		{"load-get", contract.LoadGetSubject, "{}", "LoadReply", s.getLoad},
		{"status", contract.StatusQuerySubject(cfg.Service), "{}", "Status", s.status},
	}
	for _, e := range endpoints {
		err := svc.AddEndpoint(e.name, s.handler(e.handle),
			micro.WithEndpointSubject(e.subject),
			micro.WithEndpointMetadata(map[string]string{"request": e.request, "reply": e.reply}))
		if err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("serve control API of %s: add endpoint %s: %w", cfg.Service, e.name, err)
		}
	}
	// Subscribing only queues the SUBs; without a round trip a request sent
	// right after Serve returns can find no responders.
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("serve control API of %s: register endpoints with the server: %w", cfg.Service, err)
	}
	return svc, nil
}

// semverRe is the expression semver.org recommends, which micro enforces.
var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// semver turns a build version into one micro accepts: Go's "v1.2.3" loses
// its v, anything else that is not SemVer ("dev", "(devel)") is 0.0.0-dev.
func semver(v string) string {
	v = strings.TrimPrefix(v, "v")
	if semverRe.MatchString(v) {
		return v
	}
	return "0.0.0-dev"
}

type server struct {
	cfg Config
	now func() time.Time
}

// requestError is an answer with a micro error code: 400 for a request that
// can never succeed as sent, 500 for a bucket failure worth retrying.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{code: 400, msg: fmt.Sprintf(format, args...)}
}

func bucketError(op string, err error) error {
	return &requestError{code: 500, msg: fmt.Sprintf("%s: %v", op, err)}
}

// handler adapts an endpoint function to micro: it bounds the request's
// bucket work, answers errors with micro's error headers plus an ErrorReply
// body, and turns a panic into a 500, because no request may take down the
// instance that happened to receive it.
func (s *server) handler(h func(context.Context, []byte) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		reply, err := call(ctx, h, req.Data())
		var data []byte
		if err == nil {
			data, err = json.Marshal(reply)
		}
		if err != nil {
			respondError(req, err)
			return
		}
		// A requester that gave up is not this service's problem; micro
		// counts the failure in the endpoint stats.
		_ = req.Respond(data)
	}
}

func call(ctx context.Context, h func(context.Context, []byte) (any, error), data []byte) (reply any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &requestError{code: 500, msg: fmt.Sprintf("internal error: %v", p)}
		}
	}()
	return h(ctx, data)
}

func respondError(req micro.Request, err error) {
	re := &requestError{code: 500, msg: err.Error()}
	errors.As(err, &re)
	// Headers are one line each.
	msg := strings.Join(strings.Fields(re.msg), " ")
	body, _ := json.Marshal(contract.ErrorReply{Error: msg, Code: re.code})
	_ = req.Error(strconv.Itoa(re.code), msg, body)
}

// decode parses a request body into v and checks its schema version, which
// Unmarshal stores in *version. An empty body or a version of 0 is accepted
// as the current version, for requests written by hand with `nats req`.
// Unknown fields are ignored so older services accept newer clients' extras.
func decode(data []byte, v any, version *int) error {
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, v); err != nil {
			return badRequest("request is not valid JSON: %v", err)
		}
	}
	if *version != 0 && *version != contract.Version {
		return badRequest("schema version %d is not supported: this service speaks version %d", *version, contract.Version)
	}
	return nil
}

// empty decodes the body of endpoints that take no parameters.
func empty(data []byte) error {
	var r contract.EmptyRequest
	return decode(data, &r, &r.V)
}

func (s *server) setFault(ctx context.Context, data []byte) (any, error) {
	var r contract.FaultRequest
	if err := decode(data, &r, &r.V); err != nil {
		return nil, err
	}
	f := r.Fault
	if err := f.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	f.Set = s.now().UTC()
	f.Expires = time.Time{}
	if f.Duration > 0 {
		f.Expires = f.Set.Add(f.Duration)
	}
	value, err := json.Marshal(f)
	if err != nil {
		return nil, bucketError("encode fault", err)
	}
	if _, err := s.cfg.Control.Put(ctx, contract.FaultKey(f.Service, f.Kind), value); err != nil {
		return nil, bucketError(fmt.Sprintf("write fault %s %s", f.Service, f.Kind), err)
	}
	return s.faultReply(ctx)
}

func (s *server) clearFault(ctx context.Context, data []byte) (any, error) {
	var r contract.ClearRequest
	if err := decode(data, &r, &r.V); err != nil {
		return nil, err
	}
	if !r.Service.Valid() {
		return nil, badRequest("%v", &contract.UnknownServiceError{Name: string(r.Service)})
	}
	info, ok := contract.KindInfo(r.Kind)
	if !ok {
		return nil, badRequest("unknown fault kind %q", r.Kind)
	}
	if info.Services != nil && !slices.Contains(info.Services, r.Service) {
		return nil, badRequest("fault %s does not apply to %s", r.Kind, r.Service)
	}
	// Deleting a key that is not set only writes a marker watchers ignore,
	// so clearing is idempotent.
	if err := s.cfg.Control.Delete(ctx, contract.FaultKey(r.Service, r.Kind)); err != nil {
		return nil, bucketError(fmt.Sprintf("clear fault %s %s", r.Service, r.Kind), err)
	}
	return s.faultReply(ctx)
}

func (s *server) listFaults(ctx context.Context, data []byte) (any, error) {
	if err := empty(data); err != nil {
		return nil, err
	}
	return s.faultReply(ctx)
}

func (s *server) resetFaults(ctx context.Context, data []byte) (any, error) {
	if err := empty(data); err != nil {
		return nil, err
	}
	keys, err := s.faultKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := s.cfg.Control.Delete(ctx, k); err != nil {
			return nil, bucketError("clear "+k, err)
		}
	}
	return s.faultReply(ctx)
}

// faultReply answers with the faults in force.
func (s *server) faultReply(ctx context.Context) (any, error) {
	faults, err := s.activeFaults(ctx)
	if err != nil {
		return nil, err
	}
	if faults == nil {
		faults = []contract.Fault{} // "faults": [] reads better than null to jq users
	}
	return contract.FaultReply{V: contract.Version, Faults: faults}, nil
}

// activeFaults reads every fault in force and deletes the expired ones it
// comes across so the bucket does not keep them forever. The delete is
// conditional on the revision read: a fault set again meanwhile must
// survive the sweep. The sweep is best effort; a failed delete is
// retried by the next request.
func (s *server) activeFaults(ctx context.Context) ([]contract.Fault, error) {
	keys, err := s.faultKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []contract.Fault
	for _, k := range keys {
		e, err := s.cfg.Control.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, bucketError("read "+k, err)
		}
		var f contract.Fault
		if json.Unmarshal(e.Value(), &f) != nil {
			continue // not ours to judge: fault.Watch ignores it too
		}
		if !f.Active(now) {
			_ = s.cfg.Control.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
			continue
		}
		out = append(out, f)
	}
	fault.SortFaults(out)
	return out, nil
}

func (s *server) faultKeys(ctx context.Context) ([]string, error) {
	lister, err := s.cfg.Control.ListKeysFiltered(ctx, contract.FaultKeys)
	if err != nil {
		return nil, bucketError("list faults", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		// The lister closes its channel early when ctx ends; a partial
		// list must not pass for the whole one.
		return nil, bucketError("list faults", err)
	}
	return keys, nil
}

func (s *server) status(_ context.Context, data []byte) (any, error) {
	if err := empty(data); err != nil {
		return nil, err
	}
	if s.cfg.Status != nil {
		return s.cfg.Status(), nil
	}
	return contract.Status{
		V:        contract.Version,
		Service:  s.cfg.Service,
		Instance: s.cfg.Instance,
		Version:  s.cfg.Version,
		Time:     s.now().UTC(),
		State:    contract.StateRunning,
	}, nil
}
