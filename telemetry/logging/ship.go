package logging

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/sagascope/sagascope/telemetry/wire"
)

// Publisher sends one core NATS message; *nats.Conn is one.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Defaults for the zero values of ShipOptions.
const (
	DefaultShipRate  = 20 // warn and above, records per second per instance
	DefaultShipBurst = 50
	DefaultInfoRate  = 1 // info sample, records per second per instance
	DefaultInfoBurst = 5
)

// ShipOptions bound what a Shipper publishes. Zero values mean the
// defaults.
type ShipOptions struct {
	// Rate and Burst limit records at warn and above.
	Rate  float64
	Burst int
	// InfoRate and InfoBurst limit the sample of info records; a negative
	// InfoRate ships no info at all. Debug is never shipped.
	InfoRate  float64
	InfoBurst int
}

// shipCore is what the handlers derived from one Shipper share.
type shipCore struct {
	pub      Publisher
	subject  string
	service  string
	instance string
	warn     *rate.Limiter
	info     *rate.Limiter // nil: no info shipped
	dropped  atomic.Uint64
}

// Shipper is a slog.Handler publishing one instance's records as
// wire.LogRecord JSON to its subject over core NATS: warnings and
// errors up to a rate, info at a lower one, and the count of what the
// limits held back in the next record that goes out. Publishing never
// blocks the caller for long and its errors are ignored: shipping logs is
// best effort, stderr has them all. Combine it with the stderr handler
// through Tee. It is safe for concurrent use.
type Shipper struct {
	core   *shipCore
	attrs  []slog.Attr // from WithAttrs, keys already prefixed by groups
	prefix string      // open groups, "a.b."
}

// NewShipper returns a Shipper publishing through pub to subject (the
// instance's wire.LogSubject) for one instance of service.
func NewShipper(pub Publisher, subject, service, instance string, opts ShipOptions) *Shipper {
	if opts.Rate <= 0 {
		opts.Rate = DefaultShipRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultShipBurst
	}
	if opts.InfoRate == 0 {
		opts.InfoRate = DefaultInfoRate
	}
	if opts.InfoBurst <= 0 {
		opts.InfoBurst = DefaultInfoBurst
	}
	c := &shipCore{
		pub: pub, subject: subject, service: service, instance: instance,
		warn: rate.NewLimiter(rate.Limit(opts.Rate), opts.Burst),
	}
	if opts.InfoRate > 0 {
		c.info = rate.NewLimiter(rate.Limit(opts.InfoRate), opts.InfoBurst)
	}
	return &Shipper{core: c}
}

// Dropped is how many records the limits have held back and not yet
// reported in a shipped record.
func (s *Shipper) Dropped() uint64 { return s.core.dropped.Load() }

// Enabled reports whether records at l may be shipped.
func (s *Shipper) Enabled(_ context.Context, l slog.Level) bool {
	if l >= slog.LevelWarn {
		return true
	}
	return l >= slog.LevelInfo && s.core.info != nil
}

// Handle ships r if its level's limit allows, else counts it dropped.
func (s *Shipper) Handle(ctx context.Context, r slog.Record) error {
	c := s.core
	lim := c.warn
	if r.Level < slog.LevelWarn {
		lim = c.info
	}
	if lim == nil || r.Level < slog.LevelInfo {
		return nil
	}
	if !lim.Allow() {
		c.dropped.Add(1)
		return nil
	}
	rec := wire.LogRecord{
		V: wire.LogVersion, Time: r.Time.UTC(), Level: r.Level.String(), Message: r.Message,
		Service: c.service, Instance: c.instance, SagaID: SagaFromContext(ctx),
		Dropped: c.dropped.Swap(0),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.TraceID, rec.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	attrs := map[string]string{}
	for _, a := range s.attrs {
		flatten(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(attrs, s.prefix, a)
		return true
	})
	// Fields of their own, not attributes.
	if v, ok := attrs[SagaIDKey]; ok {
		if rec.SagaID == "" {
			rec.SagaID = v
		}
		delete(attrs, SagaIDKey)
	}
	delete(attrs, "service")
	delete(attrs, "instance")
	if len(attrs) > 0 {
		rec.Attrs = attrs
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil
	}
	_ = c.pub.Publish(c.subject, data)
	return nil
}

// WithAttrs returns a Shipper adding attrs to every record.
func (s *Shipper) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := &Shipper{core: s.core, prefix: s.prefix, attrs: make([]slog.Attr, 0, len(s.attrs)+len(attrs))}
	out.attrs = append(out.attrs, s.attrs...)
	for _, a := range attrs {
		a.Key = s.prefix + a.Key
		out.attrs = append(out.attrs, a)
	}
	return out
}

// WithGroup returns a Shipper qualifying later keys with name.
func (s *Shipper) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	return &Shipper{core: s.core, attrs: s.attrs, prefix: s.prefix + name + "."}
}

// flatten writes a into m as text, groups as dotted keys.
func flatten(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range v.Group() {
			flatten(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = v.String()
}
